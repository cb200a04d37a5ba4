"""Prints (JSON) safe_repr of a four-level list with the default limits,
of a dict with a bytes b"Authorization" key, and of a flat list at depth
1.

The test expects the default depth of three levels, the bytes key's
value redacted, and a flat list shown whole.
"""
import json

from stackwatch import runinfo

print(json.dumps([
    runinfo.safe_repr([[[["bottom"]]]]),
    runinfo.safe_repr({b"Authorization": b"Bearer " + b"xyz"}),
    runinfo.safe_repr([1, 2, 3], runinfo.Limits(depth=1))]))
