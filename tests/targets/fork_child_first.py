"""Forks a child that ends before its parent, in the way argv[1] says:
"exit" (returns from the script: exit status 0), "os_exit"
(os._exit(0), no atexit), "exec" (execs /bin/true) or "sigterm" (killed
by SIGTERM from the parent). The child works in child_work() for 0.4 s
first; the parent waits for it, then works in parent_work() for 0.4 s.
Prints the child's pid.

The test expects one profile at -o's path: with "exit" and "sigterm"
the child's samples merged under a root frame "process <pid>" of its
own; with "os_exit" and "exec" the parent's only. Never a file of the
child's, never a spool left behind.
"""
import os
import signal
import sys
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def child_work():
    busy(0.4)


def parent_work():
    busy(0.4)


how = sys.argv[1]
pid = os.fork()
if pid == 0:
    child_work()
    if how == "os_exit":
        os._exit(0)
    if how == "exec":
        os.execv("/bin/true", ["true"])
    if how == "sigterm":
        while True:
            busy(0.05)
    sys.exit(0)
print(pid, flush=True)
if how == "sigterm":
    time.sleep(0.6)
    os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print(status, flush=True)
parent_work()
