"""A program that never heard of stackwatch, for the outside reader's
tests: it runs on any CPython 3.9-3.15 (the test starts it with pyenv's,
or the Debian root's), prints "ready <pid>" (its own pid: under
tools/pyroot.sh the child the test started is a shell) from its main
loop, which is:

- its main thread sleeps in a loop in work() (mode "sleep"), or holds the
  GIL in one long regex match in hog() (mode "gil");
- a thread named "worker" waits in worker_loop();
- a thread answers each line on stdin with "alive <count>": the test
  checks that the program still runs, and ran on, after it was read.
"""
import os
import re
import sys
import threading
import time

count = 0


def worker_loop(stop):  # def-worker-loop
    while not stop.is_set():
        stop.wait(0.05)  # worker-wait


def work():  # def-work
    global count
    print("ready %d" % os.getpid(), flush=True)
    while True:
        count += 1  # main-count
        time.sleep(0.002)  # main-sleep


def hog():
    global count
    print("ready %d" % os.getpid(), flush=True)
    while True:
        count += 1
        re.match(r"(a*)*b", "a" * 22)  # main-gil


def answer():
    for _ in sys.stdin:
        print("alive %d" % count, flush=True)


stop = threading.Event()
threading.Thread(target=worker_loop, args=(stop,), name="worker",
                 daemon=True).start()
threading.Thread(target=answer, daemon=True).start()
if sys.argv[1:] == ["gil"]:
    hog()
else:
    work()  # main-call
