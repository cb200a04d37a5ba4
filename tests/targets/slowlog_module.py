"""Run as a module (`stackwatch run -m slowlog_module x`): prints __name__
and sys.argv, then sleeps 0.5 s in work(), with a local marker.

The test expects python -m's argv (argv[0] is this file), and the
snapshot to show work at the sleep line with marker = 'in-slowmod'.
"""
import sys
import time


def work():
    marker = "in-slowmod"  # shown in the snapshot
    assert marker
    time.sleep(0.5)  # slowmod-sleep


print(__name__, sys.argv)
work()
