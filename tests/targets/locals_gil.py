"""Local variables of every simple type, in a frame whose thread holds
the GIL in one long C call (a catastrophic regex, seconds per match), for
`dump --locals` without the GIL. Runs on any CPython 3.9-3.15, with or
without stackwatch (STACKWATCH_DUMP=1 enables it: the in-process path;
without, the CLI reads it from outside). Prints "ready <pid>" just before
it starts holding the GIL.
"""
import os
import re


class Widget:
    pass


def hold(n, name, password):
    data = b"\x00ab'c"
    items = [1, 2, 3]
    pair = (1, "x")
    mapping = {"a": 1, "b": 2}
    members = {1, 2, 3, 4}
    ratio = 0.25
    flag = True
    nothing = None
    negative = -12345678901
    huge = 7 ** 40
    widget = Widget()
    long_text = "x" * 300
    api_token = "hunter2"
    session_count = 3
    my_custom = "hidden when STACKWATCH_REDACT names custom"
    print("ready %d" % os.getpid(), flush=True)
    while True:
        re.match(r"(a*)*b", "a" * 26)  # hold-gil


hold(22, "h\u00e9llo\n", "pw")
