"""Greenlet states in run info: a greenlet is "running" only when it is
the current greenlet of its thread; one spawned (spawn, spawn_later) but
not yet switched to is "not started", with what it will run and when."""

import json
import re

import pytest

from conftest import run_cli, run_target

pytest.importorskip("gevent")


@pytest.fixture(scope="module")
def gl_state():
    proc = run_target("gl_state", check=True)
    return json.loads(proc.stdout)


def test_each_state(gl_state):
    states = {k: v["state"] for k, v in gl_state["states"].items()}
    assert states == {"later": "not started", "soon": "not started",
                      "idle": "not started", "waiting": "suspended",
                      "finished": "dead", "plain": "not started",
                      "main": "running"}


def test_how_a_scheduled_greenlet_starts(gl_state):
    s = gl_state["states"]
    assert s["later"]["start"] == "timer"
    assert 29 <= s["later"]["starts_in"] <= 30, s["later"]
    assert s["soon"]["start"] == "callback"
    assert s["soon"]["starts_in"] is None
    assert s["idle"]["start"] is None  # never scheduled


def test_text_says_not_started_and_only_main_runs(gl_state):
    text = gl_state["formatted"]
    assert re.search(r"\+-- Greenlet-\d+ #\d+: not started \(minimal_ident "
                     r"\d+, starts in (29|30)\.\d s, runs later_job\)\n",
                     text), text
    assert re.search(r"\+-- Greenlet-\d+ #\d+: not started \(minimal_ident "
                     r"\d+, starts at the hub's next loop iteration, runs "
                     r"soon_job\)\n", text), text
    assert re.search(r"\+-- Greenlet-\d+ #\d+: not started \(minimal_ident "
                     r"\d+, runs idle_job\)\n", text), text
    running = re.findall(r"\+-- (.*): running", text)
    assert running == ["main greenlet #%s of thread MainThread"
                       % re.search(r"main greenlet #(\d+)", text).group(1)]
    assert text.count("Running: its thread's stack above") == 1


def test_dump_of_an_idle_gevent_server(target):
    t = target(name="gl_idle_server")
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # The hub runs; the main greenlet waits in serve_forever; the
    # greenlet of spawn_later(30, ...) has not started.
    assert re.search(r"\+-- Hub #\d+: running", out), out
    main = re.search(r"\+-- main greenlet #\d+ of thread MainThread: "
                     r"suspended\n(.*\n)*?.*in (BaseServer\.)?serve_forever\n",
                     out)
    assert main, out
    later = re.search(r"\+-- Greenlet-\d+ #\d+: not started \(minimal_ident "
                      r"\d+, starts in (\d+\.\d) s, runs later_job\)", out)
    assert later, out
    assert 20 < float(later.group(1)) <= 30, out
    assert not re.search(r"Greenlet-\d+ #\d+: running", out), out
    assert t.alive()
