"""A module copied twice as util.py, into two directories on sys.path, by
test_paths.py (with paths_twins.py): both read "util.py" when shortened.
"""
import time


def wait(seconds):
    time.sleep(seconds)  # wait-line
