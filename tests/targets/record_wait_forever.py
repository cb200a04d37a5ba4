"""Creates the file argv[1], then sleeps in wait_forever() until stopped.

The test sends SIGINT once the file exists; it expects the profile
written, wait_forever in most samples, and an exit by SIGINT.
"""
import sys
import time


def wait_forever():
    while True:
        time.sleep(0.05)


open(sys.argv[1], "w").close()
wait_forever()
