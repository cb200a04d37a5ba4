"""Tracing across fork(): `stackwatch trace` follows forked children
(os.fork, multiprocessing's fork, gunicorn's workers): each traces itself
from the fork on and its events join the parent's trace as a process of
its own, on the parent's time line; a child that has not ended when the
parent writes is counted, and the trace stays whole.  A Tracer used
without follow_fork leaves its children untraced."""

import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import CHILD_TMP, TARGETS, child_env, run_cli, \
    stackwatch_cmd, target_path
from helpers.trace_check import all_slices, load, overlaps, \
    process_names, tracks


def _names_by_pid(doc):
    """{pid: set of the slice names of its tracks}, after checking every
    process's tracks balance and nest."""
    out = {}
    for pid in process_names(doc):
        out[pid] = {s.name for r in tracks(doc, pid).values()
                    for s in all_slices(r)}
    return out


def _spools():
    return set(glob.glob(os.path.join(CHILD_TMP, "stackwatch-trace-*")))


def _traced(tmp_path, mode, out="t.json.gz"):
    path = str(tmp_path / out)
    before = _spools()
    proc = run_cli("trace", "-o", path, target_path("trace_forks"), mode)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("done"), proc.stdout
    assert overlaps(path) == []
    # The spool of the children's parts is gone with the trace written.
    assert _spools() - before == set()
    return load(path), proc


def test_multiprocessing_pool_workers_are_processes_of_the_trace(tmp_path):
    doc, proc = _traced(tmp_path, "pool")
    names = _names_by_pid(doc)
    root = doc["traceEvents"][0]["pid"]
    assert len(names) == 3, process_names(doc)  # the parent, 2 workers
    workers = [pid for pid in names if pid != root]
    assert all("square" in names[pid] for pid in workers), names
    assert "square" not in names[root] and "parent_work" in names[root]
    assert "and 2 forked processes" in proc.stderr, proc.stderr
    assert "had not ended" not in proc.stderr
    # One time line: a worker's events come after the parent started
    # and before it wrote.
    ts = {pid: [e["ts"] for e in doc["traceEvents"]
                if e["pid"] == pid and "ts" in e] for pid in names}
    last = max(ts[root])
    for pid in workers:
        assert 0 < min(ts[pid]) and max(ts[pid]) < last, (pid, ts[pid][:3])


def test_a_killed_child_is_counted_and_the_trace_stays_whole(tmp_path):
    doc, proc = _traced(tmp_path, "killed", out="t.json")
    names = _names_by_pid(doc)
    assert len(names) == 2, process_names(doc)  # the parent, one child
    assert sum("child_work" in n for n in names.values()) == 1
    assert "and 1 forked process;" in proc.stderr or \
        "and 1 forked process\n" in proc.stderr, proc.stderr
    assert "warning: 1 forked process had not ended" in proc.stderr


def test_a_grandchild_joins_the_same_trace(tmp_path):
    doc, proc = _traced(tmp_path, "nested")
    names = _names_by_pid(doc)
    assert len(names) == 3, process_names(doc)
    assert sum("child_work" in n for n in names.values()) == 1
    assert sum("grandchild_work" in n for n in names.values()) == 1
    assert "and 2 forked processes" in proc.stderr, proc.stderr


def test_a_tracer_without_follow_fork_leaves_children_untraced(tmp_path):
    out = str(tmp_path / "api.json")
    before = _spools()
    proc = subprocess.run(
        [sys.executable, target_path("trace_forks"), "api", out],
        capture_output=True, text=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert proc.stderr == "", proc.stderr  # the child's exit is quiet
    doc = load(out)
    names = _names_by_pid(doc)
    assert list(names) == [doc["traceEvents"][0]["pid"]]
    (only,) = names.values()
    assert "parent_work" in only and "child_work" not in only
    assert _spools() - before == set()


def test_gunicorn_gevent_workers_on_their_greenlets_tracks(tmp_path):
    pytest.importorskip("gunicorn")
    pytest.importorskip("gevent")
    from test_fork_profiles import _load, free_port

    port = free_port()
    path = str(tmp_path / "g.json.gz")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    before = _spools()
    proc = subprocess.Popen(
        stackwatch_cmd("trace", "--greenlets", "--buffer", "16MiB", "-o",
                       path, gunicorn, "-k", "gevent", "-w", "2", "-b",
                       "127.0.0.1:%d" % port, "--chdir", TARGETS,
                       "gunicorn_app:app"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(), cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 60
        while True:  # (the workers boot traced: give them time)
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        time.sleep(1.0)
        assert _load(port, 2.0) >= 10
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    assert "and 2 forked processes" in err, err
    assert overlaps(path) == []
    doc = load(path)
    names = _names_by_pid(doc)
    root = doc["traceEvents"][0]["pid"]
    workers = [pid for pid in names if pid != root]
    assert len(workers) == 2, process_names(doc)
    assert "fib_handler" not in names[root]
    assert any("fib_handler" in names[pid] for pid in workers), names
    assert _spools() - before == set()
