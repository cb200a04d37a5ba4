"""Profiles of programs that fork (issue 12 items 1 and 6): a forked
child never writes its parent's output; its samples are merged into the
parent's profile under a root frame "process <pid>", or written to a
file of its own when it outlives the parent's write. Real forks, real
multiprocessing, real gunicorn with gevent workers.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import TARGETS, child_env, stackwatch_cmd, target_path
from helpers.folded import collapsed
from helpers.watched import Watched

RATE = ("-r", "200")


def by_process(stacks):
    """{pid: {stack without its process frame: count}}; the frames are
    "name (file:line)"; a profile without process roots is {0: ...}."""
    out = {}
    for stack, n in stacks.items():
        frames = stack.split(";")
        pid = 0
        for i, f in enumerate(frames):
            m = re.fullmatch(r"process (\d+)", f)
            if m:
                pid = int(m.group(1))
                frames = frames[:i] + frames[i + 1:]
                break
        rest = ";".join(frames)
        out.setdefault(pid, {})[rest] = out.setdefault(pid, {}).get(
            rest, 0) + n
    return out


def functions(stacks):
    return {f.split(" (")[0] for s in stacks for f in s.split(";")}


def record(tmp_path, *args, out="out.txt", timeout=120):
    """Runs `stackwatch record -o OUT ARGS` with its own TMPDIR (for the
    spool); returns (proc, path of OUT)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    path = tmp_path / out
    proc = subprocess.run(
        stackwatch_cmd("record", *RATE, "-o", str(path), *args),
        capture_output=True, text=True, timeout=timeout,
        env=child_env(TMPDIR=str(tmp)))
    return proc, path


def leftovers(tmp_path):
    return sorted(os.listdir(str(tmp_path / "tmp")))


def notes(stderr):
    return [line for line in stderr.splitlines()
            if line.startswith("[stackwatch]")]


# -- a child that outlives its parent ----------------------------------------

def test_a_child_that_outlives_the_parent_writes_its_own_file(tmp_path):
    proc, out = record(tmp_path, target_path("fork_child_outlives"),
                       out="out.svg")
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split()[0])
    assert "Traceback" not in proc.stderr, proc.stderr
    # The parent's profile: its own work, written once.
    parent_svg = out.read_text()
    assert "parent_work" in parent_svg and "child_work" not in parent_svg
    assert len([n for n in notes(proc.stderr) if "] wrote " in n]) == 1
    # The child's, next to it, said in one line, at a real rate.
    own = tmp_path / ("out.%d.svg" % child)
    line, = [n for n in notes(proc.stderr) if str(own) in n]
    assert "process %d" % child in line
    rate = float(re.search(r"([\d.]+) Hz effective", line).group(1))
    assert 100 <= rate <= 210, line
    child_svg = own.read_text()
    assert "child_work" in child_svg and "parent_work" not in child_svg
    hz = re.search(r"\(([\d.]+) Hz effective\)", child_svg)
    assert hz and float(hz.group(1)) >= 100, child_svg[:2000]
    assert sorted(os.listdir(str(tmp_path))) == sorted(
        ["out.svg", own.name, "tmp"])
    assert leftovers(tmp_path) == []


# -- children that end first: merged -----------------------------------------

@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_a_child_that_ends_first_is_merged_under_its_process(tmp_path, how):
    proc, out = record(tmp_path, target_path("fork_child_first"), how)
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split()[0])
    procs = by_process(collapsed(out))
    assert set(procs) == {proc_pid(procs, child), child}, procs
    parent = proc_pid(procs, child)
    assert "child_work" in functions(procs[child])
    assert "parent_work" not in functions(procs[child])
    assert "parent_work" in functions(procs[parent])
    assert "child_work" not in functions(procs[parent])
    # Rates right: the child sampled ~0.4 s at 200 Hz.
    child_samples = sum(procs[child].values())
    assert child_samples >= 40, procs[child]
    line, = [n for n in notes(proc.stderr) if "samples in" in n]
    assert "2 processes" in line
    total = int(re.search(r"(\d+) samples in", line).group(1))
    assert total == sum(sum(p.values()) for p in procs.values())
    assert "Traceback" not in proc.stderr
    assert sorted(os.listdir(str(tmp_path))) == ["out.txt", "tmp"]
    assert leftovers(tmp_path) == []


def proc_pid(procs, child):
    others = [p for p in procs if p != child]
    assert len(others) == 1, procs
    return others[0]


@pytest.mark.parametrize("how", ["os_exit", "exec"])
def test_a_child_that_execs_or_os_exits_writes_nothing(tmp_path, how):
    proc, out = record(tmp_path, target_path("fork_child_first"), how)
    assert proc.returncode == 0, proc.stderr
    stacks = collapsed(out)
    # One process: the profile is as it always was, no process roots.
    assert not any("process " in s for s in stacks), stacks
    assert "parent_work" in functions(stacks)
    assert sorted(os.listdir(str(tmp_path))) == ["out.txt", "tmp"]
    assert leftovers(tmp_path) == []


def test_a_single_process_profile_has_no_process_root(tmp_path):
    proc, out = record(tmp_path, target_path("record_hot"))
    assert proc.returncode == 0, proc.stderr
    assert not any(s.startswith("process ") for s in collapsed(out))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("end", ["with", "join"])
def test_multiprocessing_pool_workers_are_merged(tmp_path, end):
    proc, out = record(tmp_path, target_path("fork_pool"), end)
    assert proc.returncode == 0, proc.stderr
    workers = {int(p) for p in proc.stdout.split()}
    procs = by_process(collapsed(out))
    with_task = {p for p, st in procs.items()
                 if "pool_task" in functions(st)}
    assert with_task == workers, (procs.keys(), workers)
    assert sum(n for p in workers for s, n in procs[p].items()
               if "pool_task" in s) >= 100  # 16 x 0.1 s at 200 Hz, ~320
    assert "Traceback" not in proc.stderr, proc.stderr
    assert sorted(os.listdir(str(tmp_path))) == ["out.txt", "tmp"]
    assert leftovers(tmp_path) == []


def test_a_corrupt_part_is_skipped_with_one_warning(tmp_path):
    proc, out = record(tmp_path, "--threads",
                       target_path("fork_corrupt_part"))
    assert proc.returncode == 0, proc.stderr
    good = int(proc.stdout.split()[0])
    warned = [n for n in notes(proc.stderr) if "did not read back" in n]
    assert len(warned) == 1 and "12345.part" in warned[0], proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    procs = by_process(collapsed(out))
    assert "child_work" in functions(procs[good])
    assert 12345 not in procs
    # --threads labels kept through the merge.
    assert all(s.startswith("MainThread") for st in procs.values()
               for s in st), procs
    assert leftovers(tmp_path) == []


def test_the_api_in_a_forking_program_merges_and_never_writes_twice(
        tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out.txt"
    proc = subprocess.run(
        [sys.executable, target_path("fork_api"), str(out)],
        capture_output=True, text=True, timeout=60,
        env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split()[0])
    procs = by_process(collapsed(out))
    assert "child_work" in functions(procs[child])
    assert len(procs) == 2 and "parent_work" in functions(
        procs[proc_pid(procs, child)])
    assert sorted(os.listdir(str(tmp_path))) == ["out.txt", "tmp"]
    assert os.listdir(str(tmp)) == []


# -- gunicorn with gevent workers --------------------------------------------

def _load(port, seconds, threads=4):
    """Requests from a few threads for `seconds`; returns the count."""
    done = []
    end = time.monotonic() + seconds

    def go():
        # A connection per request: each worker accepts some.
        n = 0
        while time.monotonic() < end:
            assert get(port, "/").strip().isdigit()
            n += 1
        done.append(n)

    ts = [threading.Thread(target=go) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def run_gunicorn(tmp_path, *extra, pool=False):
    """Records gunicorn (2 gevent workers, the gunicorn_app target) under
    load for 2 s (pool: with requests to /pool too), then SIGTERM to the
    master; returns (returncode, stderr, profile path, worker pids,
    master pid)."""
    pytest.importorskip("gunicorn")
    pytest.importorskip("gevent")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out.txt"
    port = free_port()
    run = Watched(
        stackwatch_cmd("record", *RATE, *extra, "-o", str(out), "-m",
                       "gunicorn", "-k", "gevent", "-w", "2", "-b",
                       "127.0.0.1:%d" % port, "--chdir", TARGETS,
                       "gunicorn_app:app"),
        env=child_env(TMPDIR=str(tmp)))
    child = run.proc
    with run:
        run.wait_for_stderr("Booting worker", 2)
        time.sleep(0.5)
        pools = [threading.Thread(target=get, args=(port, "/pool"))
                 for _ in range(2 if pool else 0)]
        for t in pools:
            t.start()
        assert _load(port, 2.0) > 10
        for t in pools:
            t.join()
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    stderr = run.stderr
    workers = {int(m) for m in
               re.findall(r"Booting worker with pid: (\d+)", stderr)}
    return child.returncode, stderr, out, workers, child.pid


def test_gunicorn_profile_has_the_workers_handlers_and_is_written_once(
        tmp_path):
    status, stderr, out, workers, master = run_gunicorn(tmp_path)
    assert status == 0, stderr
    assert len(workers) == 2, stderr
    procs = by_process(collapsed(out))
    assert set(procs) == workers | {master}, (set(procs), workers, master)
    for pid in workers:
        assert "fib_handler" in functions(procs[pid]), pid
    # The arbiter's frames too (its loop in gunicorn/arbiter.py).
    assert any("gunicorn/arbiter.py:" in s for s in procs[master]), \
        procs[master]
    assert "fib_handler" not in functions(procs[master])
    # Written once, by the master; no file of a worker's.
    assert len(re.findall(r"\[stackwatch\] wrote ", stderr)) == 1, stderr
    assert "wrote its own" not in stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, \
        stderr
    assert sorted(os.listdir(str(tmp_path))) == ["out.txt", "tmp"]
    assert os.listdir(str(tmp_path / "tmp")) == []


def test_gunicorn_workers_threads_are_named_with_threads(tmp_path):
    status, stderr, out, workers, master = run_gunicorn(
        tmp_path, "--threads", pool=True)
    assert status == 0, stderr
    stacks = collapsed(out)
    for pid in workers | {master}:
        mine = [s for s in stacks if ";process %d;" % pid in s]
        assert mine, pid
        labels = {s.split(";")[0] for s in mine}
        assert "MainThread (tid %d)" % pid in labels, labels
        assert not any(l.startswith("Thread 0x") for l in labels), labels
    # gevent's threadpool threads (started with _thread.start_new_thread)
    # by the function at the bottom of their stacks.
    pool = [s.split(";") for s in stacks if "pool_work" in s]
    in_pool = {f[0] for f in pool if "threadpool.py:" in f[2]}
    assert in_pool and all(re.fullmatch(r"\S*run \(tid \d+\)", l)
                           for l in in_pool), pool


def start_gunicorn(tmp_path, **env):
    """gunicorn with 1 gevent worker serving gunicorn_app, not recorded,
    with `env` (STACKWATCH_DUMP=1...); returns (child, port, worker pid,
    stderr lines so far, a list that keeps growing)."""
    pytest.importorskip("gunicorn")
    pytest.importorskip("gevent")
    port = free_port()
    run = Watched(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b",
         "127.0.0.1:%d" % port, "--chdir", TARGETS, "gunicorn_app:app"],
        stdout=subprocess.DEVNULL, env=child_env(TMPDIR=str(tmp_path), **env))
    child, lines = run.proc, run.lines
    deadline = time.monotonic() + 60
    worker = None
    while worker is None and time.monotonic() < deadline:
        assert child.poll() is None, "".join(lines)
        found = re.findall(r"Booting worker with pid: (\d+)", "".join(lines))
        worker = int(found[0]) if found else None
        time.sleep(0.05)
    assert worker, "".join(lines)
    time.sleep(0.5)
    return child, port, worker, lines


def stop_gunicorn(child):
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def dump_threads(pid):
    """[(the dump's thread header line, the functions of its stack)]."""
    proc = subprocess.run(stackwatch_cmd("dump", str(pid)),
                          capture_output=True, text=True, timeout=60,
                          env=child_env())
    assert proc.returncode == 0, proc.stderr
    out = []
    for block in proc.stdout.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("Thread 0x"):
            out.append((lines[0], {l.strip().split(" (")[0]
                                   for l in lines[1:]}))
    return out


def test_a_forked_gunicorn_workers_dump_names_its_threads(tmp_path):
    child, port, worker, lines = start_gunicorn(tmp_path,
                                                STACKWATCH_DUMP="1")
    try:
        req = threading.Thread(target=get, args=(port, "/pool"))
        req.start()
        # Names are refreshed twice a second: wait for the pool thread's.
        threads = wait_for_named(worker, "pool_work")
        req.join()
    finally:
        stop_gunicorn(child)
    main = [h for h, _ in threads if "(tid %d," % worker in h]
    assert main and '"MainThread"' in main[0], threads
    pool = [h for h, functions in threads if "pool_work" in functions]
    assert len(pool) == 1, threads
    assert re.match(r'Thread 0x[0-9a-f]+ "\S*run" \(tid \d+', pool[0]), pool


def wait_for_named(pid, function, timeout=20):
    """The dump of pid once the thread running `function` is named (or
    after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        threads = dump_threads(pid)
        if any('"' in h for h, functions in threads
               if function in functions) or time.monotonic() > deadline:
            return threads
        time.sleep(0.2)


def test_a_forked_gunicorn_workers_watchdog_report_names_main_thread(
        tmp_path):
    child, port, worker, lines = start_gunicorn(
        tmp_path, STACKWATCH_MONITOR="1", STACKWATCH_MAX_BLOCKING_TIME="0.3")
    try:
        assert get(port, "/block") == b"blocked\n"
        time.sleep(0.5)
    finally:
        stop_gunicorn(child)
    text = "".join(lines)
    blocked = [l for l in text.splitlines() if "hub blocked" in l]
    assert blocked, text
    assert 'in thread "MainThread" (tid %d)' % worker in blocked[0], text
