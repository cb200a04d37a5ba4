"""Forks while traced by `stackwatch trace`: the child does child_work and
exits normally (its atexit runs), the parent waits, then does
parent_work.  The trace must be the parent's alone, whole."""

import os


def child_work():
    return sum(range(100))


def parent_work():
    return sum(range(100))


def main():
    pid = os.fork()
    if pid == 0:
        child_work()
        raise SystemExit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    parent_work()


main()
