"""Raises ValueError("boom") from inner(), called by outer().

The test expects `stackwatch record` to print the traceback as plain
python does, exit 1, and still write the profile.
"""


def inner():
    raise ValueError("boom")


def outer():
    inner()


outer()
