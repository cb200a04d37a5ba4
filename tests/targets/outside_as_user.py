"""Another user, for the outside reader's permission tests; started as
root (our interpreter lives under /root, unreadable to others), it
imports what it needs, then switches to uid/gid argv[1]:

- `outside_as_user.py UID [nodump]`: a program that did not enable
  stackwatch, dumpable again after the switch (as a process started by
  that user is; with "nodump", left not dumpable, as a process that
  changed user is), prints "ready" and sleeps in sleeping();
- `outside_as_user.py UID dump PID`: the `stackwatch dump` CLI as that
  user; exits with its status.
"""
import ctypes
import gettext
import os
import sys
import time

# What the CLI imports only when used, imported while we can.
import argparse, errno, json, random, shutil, socket, struct  # noqa: E401,F401

uid = int(sys.argv[1])
if sys.argv[2:3] == ["dump"]:
    from stackwatch import _outside, cli  # noqa: F401

    gettext.gettext("x")  # argparse's lazy imports, done while we can
    cli.build_parser()  # and what building the parser imports
    os.setgid(uid)
    os.setuid(uid)
    sys.exit(cli.main(sys.argv[2:]))

PR_SET_DUMPABLE = 4
libc = ctypes.CDLL(None, use_errno=True)
os.setgid(uid)
os.setuid(uid)
if sys.argv[2:3] != ["nodump"]:
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def sleeping():
    while True:
        time.sleep(0.05)  # as-user-sleep


print("ready", flush=True)
sleeping()
