"""Labels greenlets (_greenlets.identify, as every label does) on the
main thread, holding each thread's main greenlet, while threads that used
greenlet end one after another.  greenlet cleans up an ended thread in a
pending call on the main thread, in whatever frame is current; holding
its main greenlet makes that clean-up import gc through that frame's
builtins.  Prints "done"; tests/test_greenlet_names.py expects nothing on
stderr."""

import sys
import threading
import time

import greenlet

from stackwatch import _greenlets

if len(sys.argv) > 1 and sys.argv[1] == "namedtuple":
    # The identity as it was (the test's proof that it would fail).
    from collections import namedtuple
    _greenlets.Identity = namedtuple("Identity",
                                     ["gid", "kind", "name", "function"])

# The ended threads' main greenlets, held by this list alone (as a
# greenlet table holds them while labels are made).
held = []
here = greenlet.getcurrent()


def worker():
    held.append(greenlet.getcurrent())
    time.sleep(0.01)


for _ in range(20):
    t = threading.Thread(target=worker)
    t.start()
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        _greenlets.identify(here, 1)
    t.join()
    del held[:]
print("done")
