"""hold() keeps huge, long, deep and many-item locals and a value whose
repr is long; prints (JSON) its run-info text, a frame limited to three
locals, and safe_repr of each kind of value under default and small
Limits.

The test expects every value cut where the limits say, with what was cut
named and counted, and the text kept short.
"""
import json

import stackwatch
from stackwatch import runinfo


class LongRepr:
    def __repr__(self):
        return "R" * 1000


def hold():
    big_text = "a" * 10_000_000
    big_blob = b"b" * 10_000_000
    numbers = list(range(1000))
    deep = [[[[["bottom"]]]]]
    long_repr = LongRepr()
    text = stackwatch.format_run_info(locals=True)
    L = runinfo.Limits()
    few = stackwatch.RunTree(locals=True, limits=runinfo.Limits(locals=3))
    return {
        "text": text,
        "few": few.find("MainThread").stack[0].locals,
        "str": runinfo.safe_repr(big_text, L),
        "bytes": runinfo.safe_repr(big_blob, L),
        "bytearray": runinfo.safe_repr(bytearray(300), L),
        "list": runinfo.safe_repr(numbers, L),
        "dict": runinfo.safe_repr({i: i for i in range(30)}, L),
        "deep": [runinfo.safe_repr(deep, runinfo.Limits(depth=d))
                 for d in (2, 3, 4, 10)],
        "repr": runinfo.safe_repr(long_repr, L),
        "length16": runinfo.safe_repr("x" * 300, runinfo.Limits(length=1)),
        "items2": runinfo.safe_repr(tuple(range(5)), runinfo.Limits(items=2)),
        "small": [runinfo.safe_repr(v, L) for v in
                  ((1,), [], {}, {1}, frozenset({2}), "s", b"b", None)],
        "defaults": [L.length, L.items, L.depth, L.locals],
    }


print(json.dumps(hold()))
