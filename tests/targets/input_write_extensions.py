"""Child of tests/test_input_rules.py: Profiler.write() with output names
of every kind, in directory argv[1]. Prints one JSON object: for each
case, the format written or the ValueError's message, and the files the
directory then holds.

The test expects a known extension to choose the format, a name without
extension to be svg, an unknown extension (x.pdf) to be refused with
nothing written unless format= names the format.
"""
import json
import os
import sys

import stackwatch

out = sys.argv[1]
p = stackwatch.Profiler(rate=200)
with p:
    sum(range(100000))
result = {}
for name, fmt in [("x.pdf", None), ("x.PNG", None), ("x.svg.bak", None),
                  ("x.JSON", None), ("x.folded", None), ("noext", None),
                  ("forced.pdf", "collapsed")]:
    key = name if fmt is None else "%s as %s" % (name, fmt)
    try:
        result[key] = p.write(os.path.join(out, name), fmt)
    except ValueError as e:
        result[key] = "ValueError: %s" % e
result["files"] = sorted(os.listdir(out))
with open(os.path.join(out, "noext"), "rb") as f:
    result["noext starts"] = f.read(200).decode("utf-8", "replace")
print(json.dumps(result))
