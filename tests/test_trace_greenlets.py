"""stackwatch trace --greenlets: one track per greenlet, calls kept open
across switches, gevent greenlets named (issue 15)."""

import json
import re
import sys

import pytest

from conftest import child_env, run_cli, run_target, target_path
from helpers.trace_check import all_slices, load, thread_names, tracks

pytest.importorskip("greenlet")


def _by_name(doc):
    roots = tracks(doc)  # balanced and monotonic per track
    return {name: roots.get(tid, []) for tid, name in
            thread_names(doc).items()}


def test_two_greenlets_switching_get_a_track_each(tmp_path):
    out = str(tmp_path / "g.json")
    proc = run_cli("trace", "--greenlets", "-o", out,
                   target_path("trace_greenlets"))
    assert proc.returncode == 0, proc.stderr
    tracks_ = _by_name(load(out))
    ping = [n for n in tracks_ if "(ping_loop)" in n]
    pong = [n for n in tracks_ if "(pong_loop)" in n]
    assert len(ping) == 1 and len(pong) == 1, list(tracks_)
    ping_slices = all_slices(tracks_[ping[0]])
    pong_slices = all_slices(tracks_[pong[0]])
    # One ping_loop call, open across all 1,000 switches, holding its
    # 1,000 work_a calls; nothing of pong's on ping's track.
    loops = [s for s in ping_slices if s.name == "ping_loop"]
    assert len(loops) == 1
    assert [c.name for c in loops[0].children].count("work_a") == 1000
    assert not {"work_b", "pong_loop"} & {s.name for s in ping_slices}
    loops = [s for s in pong_slices if s.name == "pong_loop"]
    assert len(loops) == 1
    assert [c.name for c in loops[0].children].count("work_b") == 1000
    assert not {"work_a", "ping_loop"} & {s.name for s in pong_slices}
    # Busy time matches the work each did (as the target measured it
    # from inside: a slice also holds the call and the tracer's records).
    truth = json.loads(proc.stdout)
    for slices, name in ((ping_slices, "work_a"), (pong_slices, "work_b")):
        busy = sum(s.end - s.start for s in slices if s.name == name) / 1e6
        # (Loose at the top: a thread preempted between its clock and its
        # return lengthens the slice only; the work of the other greenlet
        # would double it.)
        assert truth[name] <= busy < truth[name] * 1.5 + 0.02, (
            name, busy, truth)
    # The main greenlet keeps the thread's track, with main on it.
    main = [n for n in tracks_ if n.startswith("MainThread")]
    assert len(main) == 1 and "main greenlet" in main[0], list(tracks_)
    assert "main" in {s.name for s in all_slices(tracks_[main[0]])}


def test_without_greenlets_everything_is_on_the_thread(tmp_path):
    out = str(tmp_path / "g.json")
    proc = run_cli("trace", "-o", out, target_path("trace_greenlets"))
    assert proc.returncode == 0, proc.stderr
    assert list(_by_name(load(out))) == ["MainThread"]


def test_gevent_server_handlers_land_on_their_greenlets_tracks(tmp_path):
    pytest.importorskip("gevent")
    out = str(tmp_path / "g.json")
    proc = run_cli("trace", "--greenlets", "-o", out,
                   target_path("trace_gevent_server"))
    assert proc.returncode == 0, proc.stderr
    tracks_ = _by_name(load(out))
    handlers = [n for n in tracks_ if n.endswith("(handle)")]
    assert len(handlers) == 3, list(tracks_)
    for name in handlers:
        assert name.startswith("Greenlet-"), name
        slices = all_slices(tracks_[name])
        top = [s for s in slices if s.name == "handle"]
        assert len(top) == 1, (name, [s.name for s in slices])
        assert "answer" in {c.name for c in top[0].children}
        assert "client" not in {s.name for s in slices}
    clients = [n for n in tracks_ if n.endswith("(client)")]
    assert len(clients) == 3, list(tracks_)
    elsewhere = [s.name for n, roots in tracks_.items()
                 if n not in handlers for s in all_slices(roots)]
    assert "handle" not in elsewhere and "answer" not in elsewhere


@pytest.mark.parametrize("how", ["cli", "api"])
def test_track_names_under_gevent_monkey_patching(tmp_path, how):
    """Under patch_all(), threading answers for the current greenlet (a
    dummy thread, "Dummy-1") and a patched main thread's ident is its
    main greenlet's: a thread's track is still named after the OS thread
    (MainThread; a gevent threadpool worker, which threading does not
    know, by what it runs), greenlets as the sampler labels them, and the
    program's threading.enumerate() gains no dummy thread. "cli": the
    tracer starts before the program patches; "api": after."""
    pytest.importorskip("gevent")
    out = str(tmp_path / "g.json")
    env = child_env(GEVENT_RESOLVER="thread")  # connects use the pool
    if how == "cli":
        proc = run_cli("trace", "--greenlets", "-o", out,
                       target_path("trace_gevent_patched"), env=env)
    else:
        proc = run_target("trace_gevent_patched", "api", out, env=env)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [n for n in seen["threads"] if n.startswith("Dummy")], seen
    doc = load(out)
    names = thread_names(doc)
    tracks(doc)  # balanced and monotonic per track
    assert not [n for n in names.values() if "Dummy" in n], names
    assert re.fullmatch(r"MainThread: main greenlet #\d+",
                        names.get(seen["tid"], "")), names
    greenlet_tids = 1000000000
    labels = sorted(n for t, n in names.items() if t > greenlet_tids)
    assert len([n for n in labels
                if re.fullmatch(r"Hub #\d+ \(Hub\.run\)", n)]) == 1, labels
    for what, count in (("ticker", 3), ("client", 4), ("handle", 4)):
        got = [n for n in labels
               if re.fullmatch(r"Greenlet-\d+ #\d+ \(%s\)" % what, n)]
        assert len(got) == count, (what, labels)
    # gevent's threadpool resolved the connects: its workers' threads
    # (which threading does not know) are named by what they run, the
    # function at the bottom of their stack (3.12+: the thread's main
    # greenlet's, which switches to the worker greenlet at once; before,
    # the profile function is set in them later, inside the worker
    # greenlet), and each worker greenlet is labelled. Before 3.11 code
    # objects have no qualified name: the function is just "run".
    pool = {t: n for t, n in names.items()
            if t < greenlet_tids and t != seen["tid"]}
    assert pool, names
    owner = r"_WorkerGreenlet\." if sys.version_info >= (3, 11) else ""
    for name in pool.values():
        assert re.match(owner + r"(_begin|run): ", name), names
    workers = [n for n in names.values()
               if re.search(r"_WorkerGreenlet #\d+ ", n)]
    assert len(workers) == len(pool), names
    for name in workers:
        assert name.endswith(" (_WorkerGreenlet.run)"), name
