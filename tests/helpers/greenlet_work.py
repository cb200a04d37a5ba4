"""Measured greenlet work for the greenlet targets: spin UNIT-sized
amounts of pure-Python work, timed with the thread's CPU clock, so that a
test can compare the profile's attribution with the work really done.

- UNIT: a spin() count worth ~6 ms of this thread's CPU time;
- ROUNDS: how many rounds each worker does;
- work(who, n): spins n and adds the CPU time taken to TRUTH[who];
- by_greenlet(p): a profile's CPU seconds per greenlet (main thread).
"""

import time

from spin import spin


def calibrate(seconds):
    # Thread CPU time: a busy machine that preempts us does not shrink it.
    n = 10000
    while True:
        t = time.thread_time()
        spin(n)
        if time.thread_time() - t > seconds:
            return n
        n *= 2


UNIT = calibrate(0.006)
ROUNDS = 60
TRUTH = {}  # measured thread CPU seconds of each worker's spinning


def work(who, n):
    t = time.thread_time()
    spin(n)
    TRUTH[who] = TRUTH.get(who, 0.0) + time.thread_time() - t


def by_greenlet(p):
    # CPU seconds per greenlet: on a busy machine, wall-clock samples
    # follow the scheduler's luck; CPU time follows the work.
    cpu = {}
    for s in p.samples():
        if s.thread == "MainThread":
            cpu[s.greenlet] = cpu.get(s.greenlet, 0) + s.cpu
    return cpu
