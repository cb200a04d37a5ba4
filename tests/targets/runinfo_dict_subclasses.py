"""Prints (JSON) the safe_repr of an OrderedDict, a defaultdict and a
dict subclass, each with one secret-looking key.

The test expects each key shown and its value <redacted>.
"""
import collections
import json

from stackwatch import runinfo


class Headers(dict):
    pass


print(json.dumps([
    runinfo.safe_repr(collections.OrderedDict(password="hunter" + "2")),
    runinfo.safe_repr(collections.defaultdict(int, cookie="c0" + "0k")),
    runinfo.safe_repr(Headers(token="t0" + "k3n"))]))
