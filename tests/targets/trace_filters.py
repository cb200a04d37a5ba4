"""Calls into trace_hot (a sibling module) and recurses: for --exclude,
--include and --max-depth (tests/test_trace.py)."""

import json

import trace_hot


def deep(n):
    if n:
        return deep(n - 1)
    return json.dumps([1])


def main():
    trace_hot.hot_loop(100)
    deep(10)


main()
