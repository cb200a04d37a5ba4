"""The on-demand engine (csrc/ondemand.c) driven through its _test_ hooks
while the program records its own profile at another rate. Prints one
JSON document for tests/test_ondemand.py."""
import json
import sys
import threading
import time

import stackwatch
from stackwatch import _forks, _native

stop = False


def od_hot_function():  # tag: od-hot
    n = 0
    while not stop:
        n += 1
    return n


worker = threading.Thread(target=od_hot_function, name="od-worker")
worker.start()
own_rate = float(sys.argv[1]) if len(sys.argv) > 1 else 50
od_rate = float(sys.argv[2]) if len(sys.argv) > 2 else 200
out = {}
with stackwatch.Profiler(rate=own_rate) as p:
    time.sleep(0.3)
    t0 = time.monotonic()
    _native._test_ondemand_start(1.0, od_rate, 0)
    try:
        _native._test_ondemand_start(1.0, od_rate, 0)
        out["second"] = None
    except RuntimeError as e:
        out["second"] = str(e)
    text = _native._test_ondemand_finish(True, 1.0)
    out["od_elapsed"] = time.monotonic() - t0
    time.sleep(0.3)
    # Once finished, the slot is free again: a short one stopped early.
    _native._test_ondemand_start(5.0, od_rate, 0)
    time.sleep(0.2)
    early = _native._test_ondemand_finish(False, 0.0)
stop = True
worker.join()
st = p.stats()
out["own"] = {k: st[k] for k in ("samples", "passes", "effective_rate",
                                  "duration_seconds", "sampling_seconds")}
out["own_functions"] = sorted({s.frames[-1].name for s in p.samples()})
head, _, body = text.partition("\n")
doc = json.loads(body)
out["magic"] = head
out["od_stats"] = doc["stats"]
out["od_threads"] = sorted({r[4] or "" for r in doc["rows"]})
out["od_leaves"] = sorted({doc["frames"][r[7][-1]][0] for r in doc["rows"]})
out["early"] = json.loads(early.partition("\n")[2])["stats"]
with open(sys.argv[3], "w") as f:
    f.write(text)
print(json.dumps(out))
