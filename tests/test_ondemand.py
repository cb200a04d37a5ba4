"""On-demand profiles: the engine (csrc/ondemand.c, a second sampler
instance) and `stackwatch record --pid`."""
import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import (STUCK_PATH, child_env, line_of, run_cli, run_target,
                      stackwatch_cmd, target_cmd, wait_for)
from helpers.folded import collapsed

from stackwatch import _forks


def test_engine_profiles_while_the_program_records_its_own(tmp_path):
    out = tmp_path / "part"
    proc = run_target("ondemand_engine", "50", "200", str(out), check=True)
    res = json.loads(proc.stdout)
    # The on-demand profile: its own session, at its own rate, in the part
    # format the fork merge reads back.
    assert res["magic"] == _forks.MAGIC
    part = _forks.read_part(str(out))
    assert part is not None and part[1], proc.stderr
    assert "od_hot_function" in res["od_leaves"]
    assert "od-worker" in res["od_threads"]
    od = res["od_stats"]
    assert od["rate"] == 200 and od["early"] is False
    assert od["samples"] > 0 and od["passes"] > 0
    assert od["effective_rate"] > 0
    # At most one at a time: the second request is told so.
    assert res["second"] is not None and "busy" in res["second"]
    # One stopped early says so.
    assert res["early"]["early"] is True
    # The program's own profile is undisturbed: its passes are its own
    # sampler's (a session fed by both samplers would have 50 + 200 a
    # second), and it holds the same hot function.
    own = res["own"]
    assert own["passes"] <= 50 * own["sampling_seconds"] * 1.2 + 2, own
    assert own["effective_rate"] <= 50 * 1.2, own
    assert "od_hot_function" in res["own_functions"]


# ---- stackwatch record --pid ------------------------------------------------

class Running:
    """tests/targets/ondemand_target.py started with stdin a pipe (closing
    it ends the loop and "own" modes)."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            target_cmd("ondemand_target", *args), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env or child_env())
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", (line, self.proc.stderr.read())
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def end(self, timeout=30):
        """Closes stdin; returns (status, stdout, stderr)."""
        self.ended = True
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def close(self):
        if self.alive():
            self.proc.kill()
        if not getattr(self, "ended", False):
            self.proc.communicate(timeout=10)


@pytest.fixture
def running():
    made = []

    def make(*args, **kw):
        r = Running(*args, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def functions(path):
    """Every function named in a collapsed file's stacks."""
    return {frame.split(" (")[0] for stack in collapsed(path)
            for frame in stack.split(";")}


def leaves(path):
    return {stack.rsplit(";", 1)[-1].split(" (")[0]
            for stack in collapsed(path)}


def traces(pid):
    """What a process holds that record --pid could leave behind: its
    threads, its open files and sockets."""
    tasks = sorted(os.listdir("/proc/%d/task" % pid))
    fds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            fds[fd] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return len(tasks), fds


def runtime_files(uid=None):
    d = "/tmp/stackwatch-%d" % os.getuid()
    return sorted(n for n in os.listdir(d) if n.startswith("req-"))


def left_behind(before):
    """Request sockets (req-PID-NONCE.sock) made since `before` whose
    requester has exited: what a request that cleaned up leaves none of.
    (Another suite running at the same time, make test's second job,
    may have requests of its own open meanwhile.)"""
    return [n for n in runtime_files() if n not in before and
            not os.path.exists("/proc/%s" % n.split("-")[1])]


def test_record_pid_of_a_pure_python_loop(running, tmp_path):
    t = running("loop")
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "od_spin" in leaves(out)
    stacks = collapsed(out)
    line = line_of("ondemand_target", "od-spin")
    assert any(re.search(r"od_spin \(ondemand_target.py:(%d|%d)\)$"
                         % (line - 1, line), s) for s in stacks), stacks
    assert "samples of process %d in" % t.pid in proc.stderr
    assert "wrote collapsed to %s" % out in proc.stderr
    assert t.alive()


def test_record_pid_leaves_nothing_behind(running, tmp_path):
    t = running("loop")
    # A first request starts what stays anyway (the dump thread...).
    assert run_cli("record", "--pid", str(t.pid), "-d", "1", "-o",
                   str(tmp_path / "a.txt")).returncode == 0
    time.sleep(0.3)
    before = traces(t.pid)
    files = runtime_files()
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o",
                   str(tmp_path / "b.txt"))
    assert proc.returncode == 0, proc.stderr
    # The profile's threads (sampler, server) end with it, its socket is
    # closed, and no request socket stays in the runtime directory.
    wait_for(lambda: traces(t.pid) == before, timeout=5)
    assert left_behind(files) == []
    assert "od_spin" in leaves(tmp_path / "b.txt")
    assert t.alive()
    status, _, err = t.end()
    assert status == 0, err


def test_record_pid_while_a_thread_holds_the_gil(running, tmp_path):
    t = running("stuck")
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o", str(out),
                   "--threads")
    assert proc.returncode == 0, proc.stderr
    stacks = collapsed(out)
    stuck = line_of(STUCK_PATH, "stuck-call")
    assert any("stuck_in_c (stuck.py:%d)" % stuck in s for s in stacks), \
        stacks
    # Thread names as last seen by the target (no GIL needed).
    assert any(s.startswith("spinner") and "od_spin" in s for s in stacks), \
        stacks
    assert t.alive()


def test_the_targets_own_profile_is_undisturbed(running, tmp_path):
    t = running("own", "50")
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1.5", "-r", "200",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "od_spin" in leaves(out)
    status, stdout, err = t.end()
    assert status == 0, err
    own = json.loads(stdout)
    # Its own sampler's passes only: 50 a second, not 50 + 200.
    assert own["passes"] <= 50 * own["sampling_seconds"] * 1.2 + 2, own
    assert own["effective_rate"] <= 50 * 1.2, own
    assert "od_spin" in own["functions"]
    # record --pid's profile is at its own rate.
    m = re.search(r"(\d+) samples of process \d+ in ([\d.]+) s \(([\d.]+) "
                  r"Hz effective", proc.stderr)
    assert m and float(m.group(3)) > 60, proc.stderr


def test_two_record_pid_at_once(running, tmp_path):
    t = running("loop")
    first = subprocess.Popen(
        stackwatch_cmd("record", "--pid", str(t.pid), "-d", "3", "-o",
                       str(tmp_path / "1.txt")),
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        time.sleep(1.0)
        second = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o",
                         str(tmp_path / "2.txt"))
        _, err1 = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert second.stderr.startswith(
        "stackwatch record: error: process %d: busy: another on-demand "
        "profile is being taken" % t.pid), second.stderr
    assert len(second.stderr.splitlines()) == 1
    assert not (tmp_path / "2.txt").exists()
    assert "od_spin" in leaves(tmp_path / "1.txt")
    # Once the first is done, the next one is served.
    third = run_cli("record", "--pid", str(t.pid), "-d", "0.5", "-o",
                    str(tmp_path / "3.txt"))
    assert third.returncode == 0, third.stderr


def test_ctrl_c_stops_early_and_writes(running, tmp_path):
    t = running("loop")
    out = tmp_path / "p.txt"
    cli = subprocess.Popen(
        stackwatch_cmd("record", "--pid", str(t.pid), "-o", str(out)),
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        time.sleep(1.5)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    assert "stopped early, as asked" in err
    assert "od_spin" in leaves(out)
    assert t.alive()


def test_target_exits_mid_profile(running, tmp_path):
    t = running("exit", "3")
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "20", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "process %d exited" % t.pid in proc.stderr
    assert "what was sampled until then is written" in proc.stderr
    assert "od_spin" in functions(out)


def test_record_pid_of_a_dead_pid(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    proc = run_cli("record", "--pid", str(dead.pid), "-d", "1", "-o",
                   str(tmp_path / "p.txt"))
    assert proc.returncode == 1
    assert proc.stderr == ("stackwatch record: error: no such process: %d\n"
                           % dead.pid)
    assert not (tmp_path / "p.txt").exists()


def test_record_pid_not_enabled(target, tmp_path):
    # Read from outside instead (tests/test_record_pid_outside.py; there
    # too: when the system does not permit it).
    t = target(name="dump_sleeper", name_args=["plain"])
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o",
                   str(tmp_path / "p.txt"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(
        "[stackwatch] process %d did not enable stackwatch: reading it "
        "from outside" % t.pid), proc.stderr
    assert "waiting_here" in functions(tmp_path / "p.txt")
    assert t.alive()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become nobody")
def test_record_pid_of_another_users_process(running, tmp_path):
    t = running("loop")
    proc = run_target("record_pid_as_nobody", str(t.pid))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        "stackwatch record: error: permission denied"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert t.alive()


def test_record_pid_refuses_a_target_too(tmp_path):
    proc = run_cli("record", "--pid", "1", "x.py")
    assert proc.returncode == 2
    assert proc.stderr == ("stackwatch record: error: --pid cannot be "
                           "combined with a target\n")


def test_record_pid_of_a_gevent_server_under_load(tmp_path):
    pytest.importorskip("gevent")
    # Dumps enabled and the watchdog on, as a gunicorn gevent worker runs
    # (the watchdog tracks greenlets once gevent imports greenlet).
    env = child_env(STACKWATCH_DUMP="1", STACKWATCH_MONITOR="1",
                    STACKWATCH_MAX_BLOCKING_TIME="5")
    server = subprocess.Popen(target_cmd("fg_gevent_server", "6"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    client = None
    try:
        port = server.stdout.readline().strip()
        assert port.isdigit(), (port, server.stderr.read())
        client = subprocess.Popen(target_cmd("fg_load_client", port, "20"),
                                  stdout=subprocess.PIPE, text=True,
                                  env=child_env())
        time.sleep(0.5)
        out = tmp_path / "p.json"
        proc = run_cli("record", "--pid", str(server.pid), "-d", "2",
                       "--greenlets", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert server.poll() is None  # still serving
        client.communicate(timeout=60)
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    doc = json.loads(out.read_text())
    names = [p["name"] for p in doc["profiles"]]
    group = [n for n in names
             if re.match(r"^greenlets running WSGIServer\.handle \(x\d+\)$",
                         n)]
    assert group, names
    frames = [f["name"] for f in doc["shared"]["frames"]]
    assert "handle_request" in frames and "fib" in frames, frames


def test_target_killed_mid_profile(running, tmp_path):
    t = running("loop")
    out = tmp_path / "p.txt"
    cli = subprocess.Popen(
        stackwatch_cmd("record", "--pid", str(t.pid), "-d", "30", "-o",
                       str(out)),
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        # The target sends its profile so far every 2 s from its start:
        # kill it after the second one is due.
        line = cli.stderr.readline()
        assert "is sampling itself" in line, line
        time.sleep(4.5)
        t.proc.kill()
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    assert "process %d ended abruptly (killed?)" % t.pid in err
    assert "od_spin" in leaves(out)


def test_a_second_ctrl_c_gives_up_on_a_target_that_does_not_answer(
        running, tmp_path):
    t = running("loop")
    out = tmp_path / "p.txt"
    cli = subprocess.Popen(
        stackwatch_cmd("record", "--pid", str(t.pid), "-o", str(out)),
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert "is sampling itself" in cli.stderr.readline()
        os.kill(t.pid, signal.SIGSTOP)  # it cannot answer now
        cli.send_signal(signal.SIGINT)
        time.sleep(0.5)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=30)
    finally:
        os.kill(t.pid, signal.SIGCONT)
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 1
    assert err == ("stackwatch record: error: interrupted while waiting for "
                   "process %d's profile: nothing written\n" % t.pid)
    assert not out.exists()
    # The target goes on, and serves the next one.
    time.sleep(0.3)
    assert t.alive()
    again = run_cli("record", "--pid", str(t.pid), "-d", "0.5", "-o",
                    str(out))
    assert again.returncode == 0, again.stderr


def test_record_pid_of_a_process_that_forks_meanwhile(running, tmp_path):
    t = running("fork")
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1.5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    # The parent's own stacks (forking, waiting); the children's are not
    # its (each forked child has no on-demand profile).
    assert {"<module>", "wait_stdin"} <= functions(out)
    assert "od_spin" not in functions(out)
    # Its children (forked while it served the profile) ran and ended
    # well, and it serves the next request.
    again = run_cli("record", "--pid", str(t.pid), "-d", "0.5", "-o",
                    str(tmp_path / "q.txt"))
    assert again.returncode == 0, again.stderr
    status, stdout, err = t.end()
    assert status == 0, err
    statuses = json.loads(stdout)["statuses"]
    assert statuses and statuses == [0] * len(statuses)
