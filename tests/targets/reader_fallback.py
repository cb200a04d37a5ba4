"""Run with STACKWATCH_READ_METHOD=pipe: checks (asserts) that the reader
uses the pipe, then reads its own stack from f() and prints the innermost
function's name.

The test expects "f".
"""
from stackwatch import _native


assert _native.info()["read_method"] == "pipe"


def f():
    return _native._test_read_own_stack()


print(f()[0][0])
