"""The tracer's clock (issue 15): records stamped with the CPU's time
stamp counter where the kernel keeps CLOCK_MONOTONIC on it, else with
clock_gettime (STACKWATCH_TRACE_CLOCK=monotonic forces that), and
either way written as the same monotonic microseconds."""

import json
import platform

import pytest

from conftest import child_env, run_py
from helpers.trace_check import all_slices, load, tracks

CODE = """
import json, sys, time
import stackwatch

def napping():
    time.sleep(0.2)

def spinning():
    end = time.monotonic() + 0.1
    while time.monotonic() < end:
        pass

def quick():
    return 1

tracer = stackwatch.Tracer(buffer="64MiB")
before = time.monotonic_ns()
tracer.start()
for _ in range(5000):  # 10,000 events: three chunks, three anchors
    quick()
napping()
spinning()
st = tracer.stop()
after = time.monotonic_ns()
tracer.write(sys.argv[1])
print(json.dumps({"clock": st["clock"], "outside_us": (after - before) / 1e3,
                  "events": st["events"]}))
"""


def _tsc_expected():
    try:
        with open("/sys/devices/system/clocksource/clocksource0/"
                  "current_clocksource") as f:
            source = f.read().strip()
    except OSError:
        return False
    return source == "tsc" and platform.machine() in ("x86_64", "AMD64")


@pytest.mark.parametrize("forced", [False, True],
                         ids=["default", "monotonic"])
def test_slices_last_what_they_did_on_either_clock(tmp_path, forced):
    path = str(tmp_path / "out.json")
    env = child_env(**({"STACKWATCH_TRACE_CLOCK": "monotonic"}
                       if forced else {}))
    if not forced:
        env.pop("STACKWATCH_TRACE_CLOCK", None)
    proc = run_py(CODE, path, env=env)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.splitlines()[-1])
    want = "tsc" if not forced and _tsc_expected() else "monotonic"
    assert res["clock"] == want
    assert res["events"] == 2 * 5002  # quick x5000, napping, spinning
    doc = load(path)  # tracks(): balanced, never back in time per track
    slices = [s for roots in tracks(doc).values()
              for s in all_slices(roots)]
    by_name = {}
    for s in slices:
        by_name.setdefault(s.name, []).append(s)
    assert len(by_name["quick"]) == 5000
    nap, = by_name["napping"]
    spin, = by_name["spinning"]
    # ts in microseconds.  sleep(0.2) and the spin last at least that
    # long on any clock (1 ms for the rounding of a TSC line); together
    # they fit in the monotonic time measured around the whole session.
    assert nap.end - nap.start >= 199_000
    assert spin.end - spin.start >= 99_000
    assert spin.start >= nap.end
    assert (nap.end - nap.start) + (spin.end - spin.start) \
        <= res["outside_us"] + 1_000
    first = min(s.start for s in slices)
    last = max(s.end for s in slices)
    assert last - first <= res["outside_us"] + 1_000
