"""C functions and builtins as slices (`stackwatch trace --c-calls`):
sorted() calling a Python key function, a builtin that raises, a method
of a builtin type, a function of a C module.  tests/test_trace.py
expects exactly these slices under main."""

import time


def key(x):
    return -x


def main():
    sorted([3, 1, 2], key=key)
    try:
        int("x")
    except ValueError:
        pass
    items = []
    items.append(1)
    time.sleep(0)


main()
