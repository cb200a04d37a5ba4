"""Samples are attributed to the greenlet that runs, with real greenlet and
gevent; the greenlet trace hook chains the function it replaces."""

import json

import pytest

from conftest import run_py

pytest.importorskip("greenlet")

SPIN = r"""
import json, time
import stackwatch

def spin(n):
    x = 0
    while x < n:
        x += 1

def calibrate(seconds):
    # Thread CPU time: a busy machine that preempts us does not shrink it.
    n = 10000
    while True:
        t = time.thread_time()
        spin(n)
        if time.thread_time() - t > seconds:
            return n
        n *= 2

UNIT = calibrate(0.006)
ROUNDS = 60
TRUTH = {}  # measured thread CPU seconds of each worker's spinning

def work(who, n):
    t = time.thread_time()
    spin(n)
    TRUTH[who] = TRUTH.get(who, 0.0) + time.thread_time() - t

def by_greenlet(p):
    # CPU seconds per greenlet: on a busy machine, wall-clock samples
    # follow the scheduler's luck; CPU time follows the work.
    cpu = {}
    for s in p.samples():
        if s.thread == "MainThread":
            cpu[s.greenlet] = cpu.get(s.greenlet, 0) + s.cpu
    return cpu
"""


def check_attribution(ratio, truth, details):
    """The profile's heavy:light ratio matches the work really done (each
    worker timed its own spinning with its thread's CPU clock), which is
    about 1:3."""
    true_ratio = truth["heavy"] / truth["light"]
    assert 2.5 < true_ratio < 3.5, details
    assert abs(ratio / true_ratio - 1) < 0.2, (ratio, true_ratio, details)


def test_two_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    proc = run_py(SPIN + r"""
import greenlet

def light():
    for _ in range(ROUNDS):
        work("light", UNIT)
        heavy_g.switch()

def heavy():
    for _ in range(ROUNDS):
        work("heavy", 3 * UNIT)
        light_g.switch()

light_g = greenlet.greenlet(light)
heavy_g = greenlet.greenlet(heavy)
p = stackwatch.Profiler(rate=1000, mode="cpu", greenlets=True)
with p:
    light_g.switch()
print(json.dumps({"profile": by_greenlet(p), "truth": TRUTH}))
""")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    counts = out["profile"]
    light = [v for k, v in counts.items() if k and "(light)" in k]
    heavy = [v for k, v in counts.items() if k and "(heavy)" in k]
    assert len(light) == 1 and len(heavy) == 1, counts
    check_attribution(heavy[0] / light[0], out["truth"], out)


def test_gevent_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    pytest.importorskip("gevent")
    proc = run_py(SPIN + r"""
import gevent

def worker(weight):
    for _ in range(ROUNDS):
        work(weight, weight * UNIT)
        gevent.sleep(0)

p = stackwatch.Profiler(rate=1000, mode="cpu", greenlets=True)
with p:
    a = gevent.spawn(worker, 1)
    b = gevent.spawn(worker, 3)
    gevent.joinall([a, b])
counts = by_greenlet(p)
print(json.dumps({"light": counts.get("%s (worker)" % a.name, 0),
                  "heavy": counts.get("%s (worker)" % b.name, 0),
                  "all": counts,
                  "truth": {"light": TRUTH[1], "heavy": TRUTH[3]}}))
""")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # Most of the light worker's CPU time is seen (it spins ~0.2 s in all).
    assert out["light"] > 0.7 * out["truth"]["light"], out
    check_attribution(out["heavy"] / out["light"], out["truth"], out)


def test_split_by_greenlet_in_collapsed_output():
    proc = run_py(SPIN + r"""
import greenlet

def one():
    spin(50 * UNIT)

g = greenlet.greenlet(one)
p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    g.switch()
    spin(50 * UNIT)
print(p.render("collapsed").decode())
""")
    assert proc.returncode == 0, proc.stderr
    firsts = {line.split(";")[0] for line in proc.stdout.splitlines()
              if line.strip()}
    assert any(f.startswith("greenlet ") and "(one)" in f for f in firsts), \
        firsts
    assert any(f.startswith("greenlet main greenlet") for f in firsts), firsts


def test_previous_trace_function_is_chained_and_restored():
    proc = run_py(r"""
import greenlet, stackwatch
seen = []
def mine(event, args):
    seen.append(event)
greenlet.settrace(mine)
def child():
    main.switch()
main = greenlet.getcurrent()
p = stackwatch.Profiler(greenlets=True)
p.start()
g = greenlet.greenlet(child)
g.switch()
p.stop()
assert seen.count("switch") >= 2, seen
assert greenlet.gettrace() is mine, greenlet.gettrace()
print("ok")
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_greenlets_in_threads_started_after_tracking_began():
    proc = run_py(SPIN + r"""
import threading, greenlet

def in_thread():
    def work():
        spin(100 * UNIT)
    greenlet.greenlet(work).switch()

p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    t = threading.Thread(target=in_thread, name="gthread")
    t.start()
    t.join()
labels = {s.greenlet for s in p.samples() if s.thread == "gthread"}
print(json.dumps(sorted(l or "" for l in labels)))
""")
    assert proc.returncode == 0, proc.stderr
    labels = json.loads(proc.stdout)
    assert any(l.endswith("work)") for l in labels), labels


def test_hooks_left_in_other_threads_stop_tracking_after_the_profile():
    proc = run_py(r"""
import threading, greenlet, stackwatch
from stackwatch import _native

def spawn_many(n):
    for _ in range(n):
        greenlet.greenlet(lambda: None).switch()

p = stackwatch.Profiler(greenlets=True)
p.start()
go, done = threading.Event(), threading.Event()
def other():  # tracked: started while tracking was on
    spawn_many(5)
    go.wait()
    spawn_many(500)
    done.set()
t = threading.Thread(target=other)
t.start()
p.stop()
before = len(_native.greenlet_table())
go.set(); done.wait(); t.join()
after = len(_native.greenlet_table())
print(before, after)
""")
    assert proc.returncode == 0, proc.stderr
    before, after = map(int, proc.stdout.split())
    assert before >= 5
    assert after == before  # no id, no weakref for greenlets after stop
