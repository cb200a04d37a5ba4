"""Whole process trees: `stackwatch record -- COMMAND` and `record
--subprocesses`. Every Python process of the command samples itself
(started through the installed .pth hook) and the CLI writes one profile
with a root frame `pid <pid> <title>` per process, or one file per
process. Real gunicorn with gevent workers, a real multiprocessing pool,
a real shell script.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import TARGETS, child_env, stackwatch_cmd, target_path
from helpers.watched import Watched
from test_fork_profiles import _load, collapsed, free_port, functions, \
    get

RATE = ("-r", "200")


def tree_env(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    # The command's `python` is this interpreter (stackwatch installed).
    path = os.path.dirname(sys.executable) + os.pathsep + \
        os.environ.get("PATH", "")
    return child_env(TMPDIR=str(tmp), PATH=path)


def by_pid(stacks, at=0):
    """{pid: {stack without its process frame: count}}; {title by pid}.
    at: the process frame's place (1 with --threads or --greenlets: the
    group comes first; the frames after it are the process's)."""
    out, titles = {}, {}
    for stack, n in stacks.items():
        frames = stack.split(";")
        m = re.fullmatch(r"pid (\d+)(?: (.*))?", frames[at])
        assert m, stack
        pid = int(m.group(1))
        titles[pid] = m.group(2) or ""
        rest = ";".join(frames[at + 1:])
        out.setdefault(pid, {})[rest] = out.setdefault(pid, {}).get(
            rest, 0) + n
    return out, titles


def record(tmp_path, *args, timeout=120):
    out = tmp_path / "out.txt"
    proc = subprocess.run(
        stackwatch_cmd("record", *RATE, "-o", str(out), *args),
        capture_output=True, text=True, timeout=timeout,
        env=tree_env(tmp_path), cwd=str(tmp_path))
    return proc, out


def assert_clean(tmp_path, stderr, tracebacks=False):
    """No error of ours, no spool left behind. tracebacks: the command
    prints its own (gunicorn's gevent workers on a process group's
    SIGINT, as on a terminal's Ctrl-C without stackwatch): none of them
    in stackwatch's code."""
    if tracebacks:
        # (gevent's threading shutdown prints "Exception ignored" on 3.13
        # for the worker's second quit signal: not ours.)
        assert "/stackwatch/" not in stderr, stderr
    else:
        assert "Traceback" not in stderr, stderr
        assert "Exception ignored" not in stderr, stderr
    assert os.listdir(str(tmp_path / "tmp")) == [], "spool left behind"


def test_shell_script_running_python_twice(tmp_path):
    proc, out = record(tmp_path, "--", "sh", os.path.join(TARGETS, "tree_twice.sh"))
    assert proc.returncode == 0, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2, proc.stdout
    procs, titles = by_pid(collapsed(out))
    assert set(procs) == set(pids), (procs.keys(), pids)
    for pid in pids:
        assert "step_work" in functions(procs[pid]), pid
        assert titles[pid].endswith("tree_step.py 0.5"), titles[pid]
        assert titles[pid].startswith("python"), titles[pid]
    assert "2 processes" in proc.stderr, proc.stderr
    assert_clean(tmp_path, proc.stderr)


def test_per_process_writes_one_file_per_process(tmp_path):
    proc, out = record(tmp_path, "--per-process", "--", "sh",
                       os.path.join(TARGETS, "tree_twice.sh"))
    assert proc.returncode == 0, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert not out.exists()
    for pid in pids:
        own = tmp_path / ("out.%d.txt" % pid)
        procs, _ = by_pid(collapsed(own))
        assert set(procs) == {pid}
        assert "step_work" in functions(procs[pid])
    assert_clean(tmp_path, proc.stderr)


def pool_run(tmp_path, target, method):
    """Records a pool target that prints its 4 workers' pids, then its
    own: (the CLI's process, workers, parent, samples by pid), every
    worker and the parent in the profile."""
    proc, out = record(tmp_path, "--subprocesses", target_path(target),
                       *([method] if method != "default" else []))
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    workers = {int(p) for p in first.split()}
    parent = int(second)
    assert len(workers) == 4, proc.stdout
    procs, _ = by_pid(collapsed(out))
    assert workers | {parent} <= set(procs), (sorted(procs), workers, parent)
    # The default start method is forkserver from 3.14 on (Linux): its
    # server and the resource tracker are Python processes too.
    for pid in set(procs) - workers - {parent}:
        assert any("forkserver" in s or "resource_tracker" in s
                   for s in procs[pid]), (pid, procs[pid])
    if method == "fork":
        assert len(procs) == 5, (sorted(procs), workers)
    out.unlink()
    return proc, workers, parent, procs


@pytest.mark.parametrize("method", ["fork", "default"])
def test_pool_of_4_gives_5_processes(tmp_path, method):
    proc, workers, parent, procs = pool_run(tmp_path, "tree_pool.py", method)
    for pid in workers:
        assert "tree_task" in functions(procs[pid]), pid
    assert "tree_task" not in functions(procs[parent])
    assert_clean(tmp_path, proc.stderr)


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_pool_ended_by_terminate_keeps_every_worker(tmp_path, method):
    # Pool.__exit__ (terminate()) sends each worker its sentinel, then
    # SIGTERM: the workers are ending by themselves (their final flush)
    # when it comes. Three runs in a row: it used to lose some workers
    # in nearly every run.
    for run in range(3):
        proc, workers, _, procs = pool_run(tmp_path,
                                           "tree_pool_terminate.py", method)
        for pid in workers:
            assert "pool_terminate_task" in functions(procs[pid]), (run, pid)
        assert_clean(tmp_path, proc.stderr)


def test_child_that_execs_bin_true_breaks_nothing(tmp_path):
    proc, out = record(tmp_path, "--subprocesses",
                       target_path("tree_exec_true.py"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    procs, _ = by_pid(collapsed(out))
    # The forked child that exec'd /bin/true sampled little or nothing;
    # the script's own process has both sides of the exec.
    (me,) = [p for p, s in procs.items() if "before_exec" in functions(s)]
    assert "after_exec" in functions(procs[me])
    assert_clean(tmp_path, proc.stderr)


def test_command_not_found_is_one_line(tmp_path):
    proc, out = record(tmp_path, "--", "no-such-command-here")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "no-such-command-here" in proc.stderr
    assert not out.exists()
    assert_clean(tmp_path, proc.stderr)


def test_a_script_after_the_dashes_gets_a_hint(tmp_path):
    # py-spy's "-- python app.py" without the python: "--" runs a
    # command, and app.py (not executable, not on PATH) is none.
    (tmp_path / "app.py").write_text(
        "import time\ntime.sleep(0.3)\nprint('hi')\n")
    proc, out = record(tmp_path, "--", "app.py")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "cannot run app.py" in proc.stderr
    assert '"-- python app.py"' in proc.stderr, proc.stderr
    assert not out.exists()
    # Without "--" the same script runs, sampled in this interpreter.
    proc, out = record(tmp_path, "app.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n"
    assert "1 thread)" in proc.stderr, proc.stderr


def _start(tmp_path, *args):
    out = tmp_path / "out.txt"
    run = Watched(stackwatch_cmd("record", *RATE, "-o", str(out), *args),
                  env=tree_env(tmp_path), cwd=str(tmp_path))
    return run, run.proc, out


def test_ctrl_c_stops_the_tree_and_writes_the_profile(tmp_path):
    run, child, out = _start(
        tmp_path, "--", sys.executable, target_path("tree_forever.py"))
    with run:
        ready = [child.stdout.readline() for _ in range(2)]
        assert all(r.startswith("ready") for r in ready), ready
        pids = {int(r.split()[1]) for r in ready}
        time.sleep(1.5)  # past a flush
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    stderr = run.stderr
    assert child.returncode == 130, stderr
    procs, _ = by_pid(collapsed(out))
    assert set(procs) == pids, (set(procs), pids)
    for pid in pids:
        assert "spin_forever" in functions(procs[pid])
        # Both ran to their end (KeyboardInterrupt), not killed.
        assert not any(os.path.exists("/proc/%d" % p) for p in pids)
    assert_clean(tmp_path, stderr)


def _block_each_worker(port):
    """Two /block requests (the handler keeps its worker's hub busy 1 s),
    the second 0.3 s after the first: the first one's worker cannot
    accept it then, so each worker gets one."""
    got = []
    first = threading.Thread(target=lambda: got.append(get(port, "/block")))
    first.start()
    time.sleep(0.3)
    got.append(get(port, "/block"))
    first.join()
    assert got == [b"blocked\n"] * 2, got


def run_gunicorn_tree(tmp_path, worker, *options, block=False, **env):
    """record [options] -- gunicorn -k WORKER -w 2 (the gunicorn_app
    target) under a local load for 3 s (block: then a stall in each
    worker's handler, _block_each_worker), then Ctrl-C (SIGINT) to the
    CLI; returns ({stack: count}, workers, master, stderr)."""
    pytest.importorskip("gunicorn")
    if worker == "gevent":
        pytest.importorskip("gevent")
    port = free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    out = tmp_path / "out.txt"
    run = Watched(
        stackwatch_cmd("record", *RATE, "-o", str(out), *options, "--",
                       gunicorn, "-k", worker, "-w", "2", "-b",
                       "127.0.0.1:%d" % port, "--chdir", TARGETS,
                       "gunicorn_app:app"),
        env=dict(tree_env(tmp_path), **env), cwd=str(tmp_path))
    child = run.proc
    with run:
        # (60 s: a worker that hangs as it boots fails here.)
        run.wait_for_stderr("Booting worker", 2)
        time.sleep(0.5)
        assert _load(port, 3.0) > 10
        if block:
            _block_each_worker(port)
            time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    stderr = run.stderr
    workers = {int(m) for m in
               re.findall(r"Booting worker with pid: (\d+)", stderr)}
    assert len(workers) == 2, stderr
    master = int(re.search(r"Listening at: \S+ \((\d+)\)", stderr).group(1))
    assert child.returncode == 130, stderr
    assert_clean(tmp_path, stderr, tracebacks=True)
    stacks = collapsed(out)
    return stacks, workers, master, stderr


@pytest.mark.parametrize("worker", ["gevent", "sync"])
def test_gunicorn_master_and_both_workers(tmp_path, worker):
    stacks, workers, master, stderr = run_gunicorn_tree(tmp_path, worker)
    procs, titles = by_pid(stacks)
    assert set(procs) == workers | {master}, (set(procs), workers, master)
    for pid in workers:
        assert "fib_handler" in functions(procs[pid]), pid
    assert "fib_handler" not in functions(procs[master])
    assert any("gunicorn/arbiter.py:" in s for s in procs[master])
    assert all("gunicorn" in titles[p] for p in procs), titles


def test_gunicorn_gevent_workers_with_the_watchdog_on(tmp_path):
    # STACKWATCH_MONITOR=1 starts the watchdog in every process before
    # its tree profiler; --greenlets then imports greenlet for the
    # profiler, whose import hook (the watchdog's) used to deadlock on
    # _greenlets' lock before any worker booted.
    stacks, workers, master, stderr = run_gunicorn_tree(
        tmp_path, "gevent", "--greenlets", block=True,
        STACKWATCH_MONITOR="1", STACKWATCH_MAX_BLOCKING_TIME="0.3")
    procs, titles = by_pid(stacks, at=1)
    assert set(procs) == workers | {master}, (set(procs), workers, master)
    for pid in workers:
        assert "fib_handler" in functions(procs[pid]), pid
        assert "gunicorn" in titles[pid], titles[pid]
    assert "fib_handler" not in functions(procs[master])
    # The stall each worker's handler made is reported by that worker's
    # watchdog, naming its main thread (tid = the worker's pid).
    blocked = [l for l in stderr.splitlines() if "hub blocked" in l]
    reported = {int(m) for l in blocked
                for m in re.findall(r"\(tid (\d+)\)", l)}
    assert reported == workers, (reported, workers, stderr)
    assert "block_hub" in functions(
        {s: n for p in workers for s, n in procs[p].items()})
    # Our threads that a worker's monkey-patching found running (the
    # watchdog's) end without threading's KeyError at the worker's exit.
    # (On 3.13 gevent's own threading shutdown reports the worker's
    # SystemExit as "Exception ignored": not ours.)
    assert "KeyError" not in stderr and "in _delete" not in stderr, stderr


def test_celery_prefork_master_and_both_pool_workers(tmp_path):
    # celery's worker with 2 prefork (billiard: forked) pool workers, its
    # broker a directory (no broker service); tasks sent by a client;
    # `dump --tree` of the master while it runs, then Ctrl-C.
    pytest.importorskip("celery")
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    pidfile = tmp_path / "celery.pid"
    env = dict(tree_env(tmp_path), CELERY_PROJ_DIR=str(tmp_path / "celery"),
               PYTHONPATH=TARGETS)
    out = tmp_path / "out.txt"
    run = Watched(
        stackwatch_cmd("record", *RATE, "-o", str(out), "--", celery,
                       "-A", "celery_proj", "worker", "--pool", "prefork",
                       "-c", "2", "--pidfile", str(pidfile), "-l", "info",
                       "--without-heartbeat", "--without-gossip",
                       "--without-mingle"),
        env=env, cwd=str(tmp_path))
    child = run.proc
    with run:
        run.wait_for_stderr(" ready.")
        client = subprocess.run(
            [sys.executable, target_path("celery_client.py")],
            capture_output=True, text=True, timeout=120,
            env=dict(child_env(), CELERY_PROJ_DIR=str(tmp_path / "celery"),
                     PYTHONPATH=TARGETS))
        assert client.returncode == 0, client.stderr
        workers = {int(p) for p in client.stdout.split()}
        master = int(pidfile.read_text())
        dump = subprocess.run(
            stackwatch_cmd("dump", "--tree", str(master)),
            capture_output=True, text=True, timeout=60, env=child_env())
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    stderr = run.stderr
    assert len(workers) == 2, (workers, stderr)
    assert child.returncode == 130, stderr
    assert_clean(tmp_path, stderr, tracebacks=True)
    procs, titles = by_pid(collapsed(out))
    assert set(procs) >= workers | {master}, (sorted(procs), workers,
                                              master)
    for pid in workers:
        assert "celery_task_work" in functions(procs[pid]), pid
        assert "celery" in titles[pid], titles[pid]
    assert "celery_task_work" not in functions(procs[master])
    assert any("celery/worker/" in s for s in procs[master])
    assert dump.returncode == 0, dump.stderr
    headers = re.findall(r"^== pid (\d+) (.*) ==$", dump.stdout, re.M)
    assert {int(p) for p, _ in headers} >= workers | {master}, dump.stdout
    assert "0 passed over" in dump.stderr, dump.stderr


def test_sigterm_ends_a_process_stuck_holding_the_gil(tmp_path):
    # SIGTERM during a C call that holds the GIL for good: the last part
    # cannot be written (it needs the GIL), and the process must still
    # end, as SIGTERM's default action would end it, keeping the parts
    # it handed over before.
    run, child, out = _start(
        tmp_path, "--", sys.executable, target_path("tree_term_gil.py"))
    pid = None
    with run:
        try:
            ready = child.stdout.readline().split()
            assert ready[:1] == ["ready"], (ready, run.stderr)
            pid = int(ready[1])
            time.sleep(0.5)  # in the C call
            os.kill(pid, signal.SIGTERM)
            child.wait(timeout=30)
        finally:
            if child.poll() is None and pid is not None:
                os.kill(pid, signal.SIGKILL)  # stuck: it must not stay
    stderr = run.stderr
    assert child.returncode == 128 + signal.SIGTERM, (child.returncode,
                                                       stderr)
    procs, _ = by_pid(collapsed(out))
    assert "spin_before" in functions(procs[pid]), procs
    assert_clean(tmp_path, stderr)


def test_killed_child_loses_at_most_its_last_second(tmp_path):
    run, child, out = _start(
        tmp_path, "--", sys.executable, target_path("tree_killed.py"))
    with run:
        victim = int(child.stdout.readline())
        time.sleep(2.5)
        os.kill(victim, signal.SIGKILL)
        assert child.stdout.readline().strip() == "parent done"
        child.wait(timeout=60)
    stderr = run.stderr
    assert child.returncode == 0, stderr
    procs, _ = by_pid(collapsed(out))
    assert victim in procs, (sorted(procs), victim)
    doomed = sum(n for s, n in procs[victim].items() if "doomed_work" in s)
    # 2.5 s at 200 Hz is ~500 samples; a part every second keeps all but
    # the last second's (loosely: a loaded machine samples less).
    assert doomed >= 150, doomed
    assert_clean(tmp_path, stderr)


def test_dump_tree_dumps_every_enabled_process_of_the_tree(tmp_path):
    run, child, out = _start(
        tmp_path, "--", sys.executable, target_path("tree_forever.py"))
    with run:
        ready = [child.stdout.readline() for _ in range(2)]
        assert all(r.startswith("ready") for r in ready), ready
        pids = [int(r.split()[1]) for r in ready]
        # From the CLI down: the CLI itself is not enabled, both Python
        # processes under it are.
        dump = subprocess.run(
            stackwatch_cmd("dump", "--tree", str(child.pid)),
            capture_output=True, text=True, timeout=60, env=child_env())
        as_json = subprocess.run(
            stackwatch_cmd("dump", "--tree", "--json", str(pids[0])),
            capture_output=True, text=True, timeout=60, env=child_env())
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    assert dump.returncode == 0, dump.stderr
    headers = re.findall(r"^== pid (\d+) (.*) ==$", dump.stdout, re.M)
    assert sorted(int(p) for p, _ in headers) == sorted(pids), dump.stdout
    for part in dump.stdout.split("== pid ")[1:]:
        assert "spin_forever" in part, part
    assert "2 processes dumped; 1 passed over" in dump.stderr, dump.stderr
    assert as_json.returncode == 0, as_json.stderr
    import json

    got = json.loads(as_json.stdout)
    assert sorted(d["pid"] for d in got) == sorted(pids)
    assert all("tree_forever.py" in d["title"] for d in got)


def test_dump_tree_with_nothing_enabled_is_one_line(tmp_path):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        dump = subprocess.run(
            stackwatch_cmd("dump", "--tree", str(proc.pid)),
            capture_output=True, text=True, timeout=60, env=child_env())
    finally:
        proc.kill()
        proc.wait()
    assert dump.returncode == 1, dump.stderr
    assert dump.stderr.count("\n") == 1, dump.stderr
    assert "no process of the tree" in dump.stderr
    assert dump.stdout == ""

