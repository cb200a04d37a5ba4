"""Enables dumps, then forks: the child waits in in_the_child(), the parent
prints "ready", then the child's pid, and waits in in_the_parent().

The test expects each process's dump to show its own function only.
"""
import os
import time

import stackwatch

stackwatch.enable_dump()


def in_the_parent():
    time.sleep(60)


def in_the_child():
    time.sleep(60)


pid = os.fork()
if pid == 0:
    in_the_child()
    os._exit(0)
print("ready", flush=True)
print(pid, flush=True)
in_the_parent()
