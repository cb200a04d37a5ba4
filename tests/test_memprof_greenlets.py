"""The memory profiler's per-greenlet counters (issue 14, "greenlets under
gevent get their own counters"): real gevent greenlets and a real gevent
WSGI server in child interpreters, the files read strictly."""
import json
import os

import pytest

from conftest import run_cli, run_target
from helpers.memfiles import by_thread_name, greenlet_files, read_profile

pytest.importorskip("gevent")

MiB = 1024 * 1024


def _within(value, expected, share=0.05):
    return abs(value - expected) <= expected * share


def _by_function(profile):
    """{function in the label: (file, headers, rows)} of the greenlet files
    whose label names one ("Greenlet-0 #4 (hog)" -> "hog")."""
    out = {}
    for f, (h, rows) in greenlet_files(profile).items():
        name = h["name"]
        if name.endswith(")") and " #" in name:
            out.setdefault(name[name.rindex("(") + 1:-1], []).append(
                (f, h, rows))
    return out


def _live(row):
    return row["py_live"] + row["c_live"]


def test_each_greenlet_gets_its_own_counters(tmp_path):
    proc = run_target("mem_greenlets", str(tmp_path), "on", check=True)
    pid = json.loads(proc.stdout)["pid"]
    d = os.path.join(str(tmp_path), str(pid))
    prof = read_profile(d)
    g = _by_function(prof)
    (hog_file, hog_h, hog_rows), = g["hog"]
    # The hog keeps 50 MiB (and its list): within 5%.
    assert _within(_live(hog_rows[-1]), 50 * MiB), hog_rows[-1]
    assert hog_h["thread"] == "MainThread"
    assert int(hog_h["greenlet_id"]) > 0
    assert hog_h["name"].startswith("Greenlet-") and " #" in hog_h["name"]
    assert hog_file == hog_h["name"].replace(" ", "_").replace(
        "#", "_").replace("(", "_").replace(")", "_") + ".mem"
    # The churners allocated 24 MiB each and freed it: near zero.
    assert len(g["churn"]) == 2
    for _, _, rows in g["churn"]:
        assert rows[-1]["py_alloc"] >= 24 * MiB, rows[-1]
        assert _live(rows[-1]) < MiB // 4, rows[-1]
    # A thread's file still counts all its greenlets' bytes.
    main = by_thread_name(prof)["MainThread"]
    assert _live(main) >= _live(hog_rows[-1])
    assert main["py_alloc"] >= sum(
        rows[-1]["py_alloc"] for lst in g.values() for _, _, rows in lst)
    # process.mem sums the threads, not the greenlets again.
    last = prof["process.mem"][1][-1]
    assert last["py_alloc"] == sum(
        r["py_alloc"] for r in by_thread_name(prof).values())


def test_a_greenlet_that_ends(tmp_path):
    proc = run_target("mem_greenlets", str(tmp_path), "on", check=True)
    d = os.path.join(str(tmp_path), str(json.loads(proc.stdout)["pid"]))
    prof = read_profile(d)
    assert "leaver" in _by_function(prof), [h.get("name") for h, _ in prof.values()]
    (_, h, rows), = _by_function(prof)["leaver"]
    end = prof["process.mem"][1][-1]["t"]
    # Its file ended when the greenlet was freed, before the profile,
    # holding the 8 MiB it left behind.
    assert h["end"] < end - 0.2, (h["end"], end)
    assert _within(_live(rows[-1]), 8 * MiB), rows[-1]
    # Those 8 MiB went on in the thread's ended-greenlets file, and their
    # free by the main greenlet afterwards was subtracted there.
    eh, erows = prof["MainThread.ended-greenlets.mem"]
    assert eh["name"] == "ended greenlets (MainThread)"
    assert eh["greenlet_id"] == "0" and eh["kind"] == "greenlet"
    assert max(_live(r) for r in erows) >= 7.5 * MiB or \
        erows[0]["py_alloc"] >= 7.5 * MiB, erows
    assert erows[-1]["py_alloc"] >= 8 * MiB, erows[-1]
    assert _live(erows[-1]) < MiB // 4, erows[-1]


def test_greenlets_off_writes_no_greenlet_files(tmp_path):
    proc = run_target("mem_greenlets", str(tmp_path), "off", check=True)
    d = os.path.join(str(tmp_path), str(json.loads(proc.stdout)["pid"]))
    prof = read_profile(d)
    assert not greenlet_files(prof), sorted(prof)
    assert sorted(prof) == ["MainThread.mem", "process.mem"], sorted(prof)
    main = by_thread_name(prof)["MainThread"]
    assert _live(main) >= 50 * MiB


def test_forked_child_counts_its_own_greenlets(tmp_path):
    proc = run_target("mem_greenlets", str(tmp_path), "on", "fork",
                      check=True)
    out = json.loads(proc.stdout)
    parent = read_profile(os.path.join(str(tmp_path), str(out["pid"])))
    child = read_profile(os.path.join(str(tmp_path), str(out["child"])))
    assert child["process.mem"][0]["pid"] == str(out["child"])
    (_, _, krows), = _by_function(child)["kid"]
    assert _within(_live(krows[-1]), 10 * MiB), krows[-1]
    assert "hog" not in _by_function(child)
    # The parent's files are the parent's: no kid, its hog whole.
    assert "kid" not in _by_function(parent)
    (_, _, hrows), = _by_function(parent)["hog"]
    assert _within(_live(hrows[-1]), 50 * MiB), hrows[-1]


def test_gevent_server_shows_the_growing_handler(tmp_path):
    proc = run_target("mem_gevent_server", str(tmp_path), check=True)
    assert "served 72" in proc.stdout
    (d,) = [os.path.join(str(tmp_path), x) for x in os.listdir(str(tmp_path))
            if x.isdigit()]
    prof = read_profile(d)
    handlers = _by_function(prof)["WSGIServer.handle"]
    assert len(handlers) == 3, handlers
    handlers.sort(key=lambda x: -_live(x[2][-1]))
    (_, _, grow), others = handlers[0], handlers[1:]
    # /grow kept 24 MiB; it grew from line to line.
    assert _within(_live(grow[-1]), 24 * MiB, 0.1), grow[-1]
    lives = [_live(r) for r in grow]
    assert lives[len(lives) // 2] < lives[-1] - 4 * MiB, lives
    for _, _, rows in others:
        assert rows[-1]["py_alloc"] >= 20 * MiB, rows[-1]  # /echo's
        assert max(_live(r) for r in rows) < 4 * MiB, rows
    # mem graph, peaks and report show them.
    res = run_cli("mem", "graph", d, "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Processing data for greenlet Greenlet-" in res.stdout
    with open(os.path.join(str(tmp_path), "memg.txt")) as f:
        txt = f.read()
    rows = [ln for ln in txt.splitlines()
            if ln.startswith("greenlet ") and "WSGIServer.handle" in ln]
    assert len(rows) == 3, txt
    finals = sorted(int(r.split()[-6]) for r in rows)
    assert finals[-1] > 20 * MiB and finals[1] < 4 * MiB, txt
    with open(os.path.join(str(tmp_path), "memg.svg")) as f:
        assert "WSGIServer.handle" in f.read()
    res = run_cli("mem", "peaks", d)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("(WSGIServer.handle) (live: python + c)") == 3
    html = str(tmp_path / "report.html")
    res = run_cli("mem", "report", d, "-o", html)
    assert res.returncode == 0, res.stderr
    with open(html) as f:
        assert "WSGIServer.handle" in f.read()


def test_mem_record_greenlets_option(tmp_path):
    out = str(tmp_path / "prof")
    res = run_cli("mem", "record", "-o", out, "--greenlets", "--interval",
                  "0.01", os.path.join(os.path.dirname(__file__), "targets",
                                       "mem_greenlets_cli.py"))
    assert res.returncode == 0, res.stderr
    (d,) = [os.path.join(out, x) for x in os.listdir(out) if x.isdigit()]
    prof = read_profile(d)
    (_, _, rows), = _by_function(prof)["keeper"]
    assert _within(_live(rows[-1]), 20 * MiB), rows[-1]


def test_many_greenlets_stay_bounded(tmp_path):
    proc = run_target("mem_greenlets_many", str(tmp_path), check=True)
    stats = json.loads(proc.stdout)
    # 4000 short greenlets and 300 long ones: slots of ended greenlets
    # whose blocks were freed are reused, so every one was counted.
    assert stats["greenlets"] >= 4300, stats
    assert stats["greenlets_unslotted"] == 0, stats
    assert stats["greenlet_files"] == 256, stats
    (d,) = [os.path.join(str(tmp_path), x) for x in os.listdir(str(tmp_path))
            if x.isdigit()]
    prof = read_profile(d)
    files = greenlet_files(prof)
    assert len(files) == 256 + 1, len(files)  # and the ended greenlets'
    eh, erows = prof["MainThread.ended-greenlets.mem"]
    # What the ended ones allocated (64 KiB each at least), all freed.
    assert erows[-1]["py_alloc"] >= 3000 * 64 * 1024, erows[-1]
    assert _live(erows[-1]) < 64 * 1024, erows[-1]
    # The 300 holders' 64 KiB each are in the thread's live bytes.
    main = by_thread_name(prof)["MainThread"]
    assert main["py_live"] >= 300 * 64 * 1024, main
