"""`stackwatch top`: to a pipe, and on a terminal (curses, driven in tmux
with send-keys and read with capture-pane)."""
import os
import re
import shlex
import subprocess
import time
import uuid

import pytest
from conftest import child_env, run_cli, stackwatch_cmd, target_cmd

from test_ondemand import running  # noqa: F401 (fixture)

HEADER = re.compile(r"^stackwatch top - update (\d+)( \[paused\])? - "
                    r"pid (\d+): ")


def snapshots(text):
    """[(update number, [its lines])] of top's plain output."""
    out = []
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            out.append((int(m.group(1)), [line]))
        elif out:
            out[-1][1].append(line)
    return out


def test_top_to_a_pipe(running):
    t = running("loop")
    proc = run_cli("top", "-d", "3", "-n", "5", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    snaps = snapshots(proc.stdout)
    assert len(snaps) >= 2, proc.stdout
    # The hot function by the second refresh, with its shares.
    first = [lines for n, lines in snaps if n <= 2]
    assert any("od_spin (ondemand_target.py)" in line
               for lines in first for line in lines), proc.stdout
    row = next(line for line in snaps[-1][1] if "od_spin" in line)
    own, total, gil, cpu = map(float, row.split()[:4])
    assert 0 < own <= total <= 100 and gil > 50
    assert "OWN%  TOTAL%   GIL%   CPU%  FUNCTION" in snaps[-1][1][3]
    assert re.search(r"rate 100 Hz \([\d.]+ effective\)  dropped 0",
                     snaps[-1][1][1])
    assert t.alive()


def test_top_of_a_script_to_a_pipe(tmp_path):
    proc = subprocess.run(
        stackwatch_cmd("top", "-d", "2.5", target_cmd("ondemand_target")[-1],
                       "exit", "30"),
        capture_output=True, text=True, timeout=60, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert "od_spin (ondemand_target.py)" in proc.stdout, proc.stdout


def test_top_of_a_module_to_a_pipe():
    targets = os.path.dirname(target_cmd("ondemand_target")[-1])
    proc = run_cli("top", "-d", "2.5", "-m", "ondemand_target", "exit", "30",
                   cwd=targets)
    assert proc.returncode == 0, proc.stderr
    assert "od_spin (ondemand_target.py)" in proc.stdout, proc.stdout
    assert "-m ondemand_target exit 30" in proc.stdout.splitlines()[0]


def test_top_refuses_a_dead_pid():
    dead = subprocess.Popen(["true"])
    dead.wait()
    proc = run_cli("top", str(dead.pid))
    assert proc.returncode == 1
    assert proc.stderr == "stackwatch top: error: no such process: %d\n" \
        % dead.pid


# ---- on a terminal, in tmux ---------------------------------------------

class Tmux:
    def __init__(self, tmp_path, command):
        self.sock = "sw-top-%s" % uuid.uuid4().hex[:8]
        script = tmp_path / "run.sh"
        env = child_env()
        exports = "".join("export %s=%s\n" % (k, shlex.quote(v))
                          for k, v in env.items()
                          if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)
                          and k not in ("COLUMNS", "LINES", "TMUX"))
        script.write_text(exports + "unset COLUMNS LINES\nexport TERM=xterm\n"
                          "stty -a > %s\n"
                          "%s\necho TOP-EXITED $?\nstty -a > %s\nsleep 60\n"
                          % (tmp_path / "stty-before",
                             " ".join(shlex.quote(c) for c in command),
                             tmp_path / "stty-after"))
        self.tmux("new-session", "-d", "-s", "top", "-x", "150", "-y", "40",
                  "sh %s" % script)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"]
                              + list(args), capture_output=True, text=True,
                              timeout=30, check=True).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def wait(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("screen:\n" + text)
            time.sleep(0.1)

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"],
                       capture_output=True, timeout=30)


def update_of(text):
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            return int(m.group(1))
    return None


@pytest.mark.skipif(not os.path.exists("/usr/bin/tmux"),
                    reason="needs tmux")
def test_top_in_a_terminal(running, tmp_path):
    t = running("loop")
    tm = Tmux(tmp_path, stackwatch_cmd("top", str(t.pid)))
    try:
        # The hot function shows by the second refresh.
        text = tm.wait(lambda s: "od_spin (ondemand_target.py)" in s)
        assert update_of(text) <= 2, text
        assert "sort: own" in text and "view: all threads" in text
        assert "q quit" in text
        # Sorting by total: the thread's outer frames come first.
        tm.keys("t")
        text = tm.wait(lambda s: "sort: total" in s)
        rows = [line for line in text.splitlines()
                if re.match(r"^\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s", line)]
        totals = [float(r.split()[1]) for r in rows]
        assert totals == sorted(totals, reverse=True), text
        # One thread at a time, then the next.
        tm.keys("n")
        text = tm.wait(lambda s: "view: thread " in s)
        first = re.search(r"view: thread (.*?) \((\d)/(\d)\)", text)
        assert first and first.group(3) == "2", text
        tm.keys("n")
        text = tm.wait(lambda s: re.search(
            r"view: thread (.*?) \(2/2\)", s))
        second = re.search(r"view: thread (.*?) \(2/2\)", text).group(1)
        assert second != first.group(1)
        # od_spin runs in the main thread only.
        shown = [n for n in (first.group(1), second) if n == "MainThread"]
        assert shown, text
        tm.keys("a")
        tm.wait(lambda s: "view: all threads" in s)
        # Paused: the view stays (the updates that arrive are not shown)
        # until p again.
        tm.keys("p")
        text = tm.wait(lambda s: "[paused]" in s)
        frozen = update_of(text)
        time.sleep(2.5)
        assert update_of(tm.screen()) == frozen
        tm.keys("p")
        tm.wait(lambda s: "[paused]" not in s and update_of(s) > frozen)
        # q: top ends and the terminal is as it was.
        tm.keys("q")
        text = tm.wait(lambda s: "TOP-EXITED" in s)
        assert "TOP-EXITED 0" in text
        assert "OWN%" not in text  # the normal screen is back
        before = (tmp_path / "stty-before").read_text()
        tm.wait(lambda s: (tmp_path / "stty-after").exists()
                and (tmp_path / "stty-after").read_text() != "")
        assert (tmp_path / "stty-after").read_text() == before
    finally:
        tm.close()
    assert t.alive()


def test_the_greenlets_view_splits_functions_by_greenlet_group():
    from stackwatch import _top

    def row(gid, glabel, gtext, frames, count):
        return (1, 1, 0x10, 5, "MainThread", gid, glabel, frames, count,
                count * 10**7, count * 10**7, count, gtext)

    handle = (("run", "/x/hub.py", 1), ("handle", "/x/app.py", 5))
    idle = (("run", "/x/hub.py", 1), ("wait", "/x/hub.py", 9))
    w = _top.Window(10)
    w.add({}, [row(1, "Greenlet-1", "greenlets running handle (x2)", handle,
                   3),
               row(2, "Greenlet-2", "greenlets running handle (x2)", handle,
                   2),
               row(3, "Hub", "greenlet Hub", idle, 5)])
    samples, rows = w.table("greenlets", None)
    assert samples == 10
    by_name = {r[0]: r for r in rows}
    grouped = by_name["handle (/x/app.py)  [greenlets running handle (x2)]"]
    assert grouped[1:3] == (5, 5)
    assert by_name["wait (/x/hub.py)  [greenlet Hub]"][1] == 5
    # All threads: one row per function.
    samples, rows = w.table("all", None)
    assert {r[0]: r[2] for r in rows}["run (/x/hub.py)"] == 10
