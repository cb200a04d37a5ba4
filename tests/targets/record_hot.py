"""Spends its time in one function of its own, burn_cpu (0.5 s), then
prints "target done".

The tests expect burn_cpu to hold most samples of the profile.
"""
import time


def burn_cpu(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


burn_cpu(0.5)
print("target done")
