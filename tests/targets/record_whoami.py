"""Prints what python set up for it (argv, __name__, __file__,
sys.path[0]) as JSON on stdout.

The tests expect `stackwatch record` to set up the same as plain python.
"""
import json
import sys

print(json.dumps({"argv": sys.argv, "name": __name__,
                  "file": __file__, "path0": sys.path[0]}))
