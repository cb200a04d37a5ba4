"""Serves the HTTP endpoint (locals on when argv[1] == "locals"), starts
two greenlets waiting in park_here (one holding a local named api_token),
prints "ready ADDRESS" and waits in the main greenlet, then -- on "stuck"
read from stdin -- gets stuck in a C call holding the GIL
(helpers/stuck.py).

The tests expect /runinfo to show the greenlet tree (park_here) while
the GIL is free, the local redacted with locals on and absent without,
and, once stuck, to answer within its bound with the stacks and the note
that the GIL was not had.
"""
import sys
import threading

import greenlet

import stackwatch
from stuck import stuck_in_c

server = stackwatch.serve("127.0.0.1:0", locals=sys.argv[1:] == ["locals"],
                          gil_wait=0.5, quiet=True)
main = greenlet.getcurrent()


def park_here(n):
    api_token = "hunter2-secret"  # noqa: F841
    main.switch()  # park


workers = [greenlet.greenlet(park_here) for _ in range(2)]
for i, g in enumerate(workers):
    g.switch(i)
go = threading.Event()


def read_stdin():
    for line in sys.stdin:
        if line.strip() == "stuck":
            go.set()


threading.Thread(target=read_stdin, daemon=True).start()
print("ready", server.address, flush=True)
go.wait()
stuck_in_c()
