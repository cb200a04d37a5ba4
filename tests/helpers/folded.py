"""Collapsed (folded stacks) profiles as the tests read them:
`collapsed(source)` is {stack: count}, summed over repeated stacks,
from a file (a str or Path naming one) or from the text itself (str or
bytes); every line must be "STACK COUNT"."""

import os


def collapsed(source):
    if isinstance(source, bytes):
        text = source.decode()
    elif isinstance(source, os.PathLike) or (
            isinstance(source, str) and "\n" not in source
            and os.path.isfile(source)):
        with open(source) as f:
            text = f.read()
    else:
        text = source
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        assert stack and count.isdigit(), "not a collapsed line: %r" % line
        out[stack] = out.get(stack, 0) + int(count)
    return out
