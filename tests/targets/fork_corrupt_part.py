"""Forks two children while recording. The first finds the parent's
spool (stackwatch-forks-<ppid>-* in $TMPDIR) and puts a truncated part
in it (a part's first line, then half a JSON document), then exits with
os._exit; the second works in child_work() for 0.3 s and ends normally.
The parent waits for both and works in parent_work() for 0.3 s. Prints
the good child's pid.

The test expects one warning line about the bad part, no traceback,
exit status 0, and the good child merged.
"""
import glob
import os
import sys
import tempfile
import time


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def child_work():
    busy(0.3)


def parent_work():
    busy(0.3)


bad = os.fork()
if bad == 0:
    spools = glob.glob(os.path.join(tempfile.gettempdir(),
                                    "stackwatch-forks-%d-*" % os.getppid()))
    with open(os.path.join(spools[0], "12345.part"), "w") as f:
        f.write('stackwatch-fork-part 1\n{"pid": 12345, "stats": {"sam')
    os._exit(0)
os.waitpid(bad, 0)
good = os.fork()
if good == 0:
    child_work()
    sys.exit(0)
print(good, flush=True)
os.waitpid(good, 0)
parent_work()
