"""Prints what python set up for it (argv, __name__, __file__,
sys.path[0]) as JSON, then imports the module `sibling` from its own
directory (the test writes it there) and prints sibling.VALUE.

The test expects the arguments passed on, __main__, and the sibling
imported whatever the current directory.
"""
import json
import sys

print(json.dumps({"argv": sys.argv, "name": __name__,
                  "file": __file__, "path0": sys.path[0]}))

import sibling  # noqa: E402  (found next to this file, after the print)

print(sibling.VALUE)
