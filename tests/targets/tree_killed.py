"""Starts a child Python process (itself with "child") that spins in
doomed_work() until killed; prints the child's pid once it runs, then
waits for it to end (test_tree.py kills it with SIGKILL after 2.5 s)
and prints "parent done".

test_tree.py expects the killed child's doomed_work in the profile with
at least its first second and a half of samples: a killed process loses
at most its last second.
"""
import subprocess
import sys
import time


def doomed_work():
    while True:
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass


if __name__ == "__main__":
    if sys.argv[1:] == ["child"]:
        print("child running", flush=True)
        doomed_work()
    child = subprocess.Popen([sys.executable, __file__, "child"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "child running"
    print(child.pid, flush=True)
    child.wait()
    print("parent done", flush=True)
