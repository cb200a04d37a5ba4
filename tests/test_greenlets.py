"""Samples are attributed to the greenlet that runs, with real greenlet and
gevent; the greenlet trace hook chains the function it replaces."""

import json

import pytest

from conftest import run_target

pytest.importorskip("greenlet")


def check_attribution(ratio, truth, details):
    """The profile's heavy:light ratio matches the work really done (each
    worker timed its own spinning with its thread's CPU clock), which is
    about 1:3 but not exactly: the same spinning takes more or less CPU
    time as caches are shared with a suite on the other CPU (measured from
    2.12, CI on 3.12, to 3.58). The bounds only make sure the two workers
    differ clearly; the check is the profile against the measured work."""
    true_ratio = truth["heavy"] / truth["light"]
    assert 1.5 < true_ratio < 4.0, details
    assert abs(ratio / true_ratio - 1) < 0.2, (ratio, true_ratio, details)


def test_two_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    proc = run_target("greenlets_ratio")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    counts = out["profile"]
    light = [v for k, v in counts.items() if k and "(light)" in k]
    heavy = [v for k, v in counts.items() if k and "(heavy)" in k]
    assert len(light) == 1 and len(heavy) == 1, counts
    check_attribution(heavy[0] / light[0], out["truth"], out)


def test_gevent_greenlets_doing_1_to_3_work_are_attributed_1_to_3():
    pytest.importorskip("gevent")

    def attempt():
        proc = run_target("greenlets_gevent_ratio")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        # Most of the light worker's CPU time is seen (it spins ~0.2 s in
        # all).
        assert out["light"] > 0.7 * out["truth"]["light"], out
        check_attribution(out["heavy"] / out["light"], out["truth"], out)

    # A pass's CPU time goes to the greenlet running at the pass: when
    # the sampler thread waits tens of ms for a CPU (a loaded machine:
    # CI runs two suites at once on 2 CPUs), the time of both workers'
    # turns in that wait goes to one of them.  A wrong attribution fails
    # every attempt; a starved sampler, seldom twice in a row.
    for tries_left in (2, 1, 0):
        try:
            attempt()
            return
        except AssertionError:
            if not tries_left:
                raise


def test_split_by_greenlet_in_collapsed_output():
    proc = run_target("greenlets_collapsed")
    assert proc.returncode == 0, proc.stderr
    firsts = {line.split(";")[0] for line in proc.stdout.splitlines()
              if line.strip()}
    assert any(f.startswith("greenlet ") and "(one)" in f for f in firsts), \
        firsts
    assert any(f.startswith("greenlet main greenlet") for f in firsts), firsts


def test_previous_trace_function_is_chained_and_restored():
    proc = run_target("greenlets_settrace")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_greenlets_in_threads_started_after_tracking_began():
    proc = run_target("greenlets_in_thread")
    assert proc.returncode == 0, proc.stderr
    labels = json.loads(proc.stdout)
    assert any(l.endswith("work)") for l in labels), labels


def test_hooks_left_in_other_threads_stop_tracking_after_the_profile():
    proc = run_target("greenlets_after_stop")
    assert proc.returncode == 0, proc.stderr
    before, after = map(int, proc.stdout.split())
    assert before >= 5
    assert after == before  # no id, no weakref for greenlets after stop
