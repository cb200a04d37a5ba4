"""A module for trace_filters.py to call into: tests/test_trace.py
excludes it by name and checks that none of its functions appear."""


def hot_leaf(n):
    return n + 1


def hot_loop(n):
    total = 0
    for i in range(n):
        total += hot_leaf(i)
    return total
