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
    n = 10000
    while True:
        t = time.perf_counter()
        spin(n)
        if time.perf_counter() - t > seconds:
            return n
        n *= 2

UNIT = calibrate(0.002)
ROUNDS = 200

def by_greenlet(p):
    counts = {}
    for s in p.samples():
        if s.thread == "MainThread":
            counts[s.greenlet] = counts.get(s.greenlet, 0) + s.count
    return counts
"""


def test_two_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    proc = run_py(SPIN + r"""
import greenlet

def light():
    for _ in range(ROUNDS):
        spin(UNIT)
        heavy_g.switch()

def heavy():
    for _ in range(ROUNDS):
        spin(3 * UNIT)
        light_g.switch()

light_g = greenlet.greenlet(light)
heavy_g = greenlet.greenlet(heavy)
p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    light_g.switch()
print(json.dumps(by_greenlet(p)))
""")
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    light = [v for k, v in counts.items() if k and "(light)" in k]
    heavy = [v for k, v in counts.items() if k and "(heavy)" in k]
    assert len(light) == 1 and len(heavy) == 1, counts
    ratio = heavy[0] / light[0]
    assert 2.4 < ratio < 3.75, counts


def test_gevent_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    pytest.importorskip("gevent")
    proc = run_py(SPIN + r"""
import gevent

def worker(weight):
    for _ in range(ROUNDS):
        spin(weight * UNIT)
        gevent.sleep(0)

p = stackwatch.Profiler(rate=500, greenlets=True)
with p:
    a = gevent.spawn(worker, 1)
    b = gevent.spawn(worker, 3)
    gevent.joinall([a, b])
counts = by_greenlet(p)
print(json.dumps({"light": counts.get("%s (worker)" % a.name, 0),
                  "heavy": counts.get("%s (worker)" % b.name, 0),
                  "all": counts}))
""")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["light"] > 50, out
    ratio = out["heavy"] / out["light"]
    assert 2.4 < ratio < 3.75, out


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
