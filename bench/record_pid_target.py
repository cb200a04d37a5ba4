"""The program bench/record_pid.py measures: a pure-Python loop (calls
and arithmetic, as bench/workloads/calls.py) in the main thread, plus two
idle threads. Prints "ready", then every 100 ms "<monotonic s> <loops>"
(cumulative), until stdin closes."""
import sys
import threading
import time

stop = threading.Event()


def leaf(x):
    return x * 3 + 1


def middle(x):
    return leaf(x) + leaf(x + 1)


def work():
    n = 0
    for i in range(2000):
        n += middle(i)
    return n


def idle():
    stop.wait()


def watch_stdin():
    sys.stdin.read()
    stop.set()


for _ in range(2):
    threading.Thread(target=idle, daemon=True).start()
threading.Thread(target=watch_stdin, daemon=True).start()
print("ready", flush=True)
loops = 0
next_print = time.monotonic()
while not stop.is_set():
    work()
    loops += 1
    now = time.monotonic()
    if now >= next_print:
        print("%.6f %d" % (now, loops), flush=True)
        next_print = now + 0.1
