"""Child of tests/test_input_rules.py, run under `stackwatch record`:
four threads call a 30-deep recursion over and over for 1.5 s, so their
stacks change all the time while the sampler reads them (some reads are
torn and left out of the profile).

The test expects the record summary to say how many stacks were left
out, and why, in words.
"""
import threading
import time


def deep(n):
    return deep(n - 1) if n else sum(range(200))


def churn(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        deep(30)


threads = [threading.Thread(target=churn, args=(1.5,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
