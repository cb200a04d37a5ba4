"""A server-like program for `stackwatch record`: prints "ready" and waits
60 s in serve_forever().

The test expects `stackwatch dump` of the recorded process to name
serve_forever at the line of the wait.
"""
import time


def serve_forever():
    print("ready", flush=True)
    time.sleep(60)  # serve-forever


serve_forever()
