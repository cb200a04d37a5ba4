"""Busy in before_exec() for 0.5 s, starts a subprocess that runs
/bin/true, then a forked child that execs /bin/true (neither is Python:
both are passed over), then busy in after_exec() for 0.5 s; prints
done.

test_tree.py expects the profile to have both functions and the run to
end normally.
"""
import os
import subprocess
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def before_exec():
    busy(0.5)


def after_exec():
    busy(0.5)


if __name__ == "__main__":
    before_exec()
    subprocess.run(["/bin/true"], check=True)
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["/bin/true"])
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    after_exec()
    print("done", flush=True)
