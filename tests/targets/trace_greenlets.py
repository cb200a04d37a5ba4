"""Two greenlets switching 1,000 times each, for `stackwatch trace
--greenlets`: ping does work_a (spins ~20us) and pong work_b (~60us)
between switches, each inside one long call (ping_loop / pong_loop) that
stays open across every switch.  tests/test_trace_greenlets.py expects a
track each, nesting, and busy times that match the work: each work call
measures itself, and the totals are printed as JSON at the end."""

import json
import time

import greenlet


def spin(us):
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


TRUTH = {"work_a": 0.0, "work_b": 0.0}


def work_a():
    t = time.perf_counter()
    spin(20)
    TRUTH["work_a"] += time.perf_counter() - t


def work_b():
    t = time.perf_counter()
    spin(60)
    TRUTH["work_b"] += time.perf_counter() - t


N = 1000


def ping_loop():
    for _ in range(N):
        work_a()
        pong.switch()


def pong_loop():
    for _ in range(N):
        work_b()
        ping.switch()


ping = greenlet.greenlet(ping_loop)
pong = greenlet.greenlet(pong_loop)


def main():
    ping.switch()
    pong.switch()  # pong's last round ends its loop


main()
print(json.dumps(TRUTH))
