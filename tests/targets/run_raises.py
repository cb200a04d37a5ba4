"""Raises KeyError('boom') from f().

The test expects `stackwatch run` to exit 1 with python's own traceback.
"""


def f():
    raise KeyError('boom')  # raise-boom


f()
