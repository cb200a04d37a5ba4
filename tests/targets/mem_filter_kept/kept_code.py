"""Code under the filter's prefix (tests/targets/mem_filter.py)."""


def allocate(mib):
    return [bytes(4096) for _ in range(mib * 256)]


def call(fn, *args):
    return fn(*args)
