"""Loads two modules from two files named util.py (copies of
paths_util.py): `util` next to this script (sys.path[0]) and the one given
as argv[1] (in a directory on PYTHONPATH), then waits in each.

The test expects a profile to keep the two apart: labels of files whose
short paths are the same text keep their full paths.
"""
import importlib.util
import sys

import util

spec = importlib.util.spec_from_file_location("util_twin", sys.argv[1])
twin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twin)

for _ in range(3):
    util.wait(0.1)
    twin.wait(0.1)
