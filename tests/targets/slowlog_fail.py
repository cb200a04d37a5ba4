"""Sleeps 0.4 s then raises KeyError("missing-key") from fail().

The test expects `stackwatch run` to exit with status 1 and the script's
own traceback (fail at the raise line), without stackwatch's frames.
"""
import time


def fail():
    time.sleep(0.4)
    raise KeyError("missing-key")  # raise-missing-key


fail()
