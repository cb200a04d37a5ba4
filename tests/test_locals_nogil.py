"""`stackwatch dump --locals` while the target holds the GIL in a C call:
every frame's locals of simple types read natively (None, bool, int,
float, str, bytes; the lengths of list, tuple, dict, set), the rest as
`<type at 0x...>`, secret-looking names redacted by _saferepr's rules --
in a process that enabled stackwatch (its dump thread, when the GIL side
cannot answer) and in one read from outside, on several CPythons."""

import json
import os
import re
import select
import subprocess
import sys

import pytest

from conftest import child_env, line_of, run_cli, target_path
from test_outside import PYROOT, ROOT_VERSIONS, pyenv_python, root_usable

TARGET = target_path("locals_gil")

#: What each local of hold() must read as (the function's own locals, in
#: its code's order).
EXPECTED = [
    "n = 22",
    "name = 'h\u00e9llo\\n'",
    "password = <redacted>",
    "data = b\"\\x00ab'c\"",
    "items = <list of 3 items>",
    "pair = <tuple of 2 items>",
    "mapping = <dict of 2 items>",
    "members = <set of 4 items>",
    "ratio = 0.25",
    "flag = True",
    "nothing = None",
    "negative = -12345678901",
    re.compile(r"huge = <int at 0x[0-9a-f]+>"),
    re.compile(r"widget = <Widget at 0x[0-9a-f]+>"),
    "long_text = '%s'... <cut: str of 300 characters>" % ("x" * 240),
    "api_token = <redacted>",
    # A number cannot hold a secret: shown under a secret-looking name.
    "session_count = 3",
    "my_custom = <redacted>",
]


class Holder:
    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("ready "), (line, self.proc.stderr.read())
        self.pid = int(line.split()[1])

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def holder():
    made = []

    def make(cmd, env):
        h = Holder(cmd, env)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def hold_block(text):
    """The lines under hold()'s frame line, up to the next frame."""
    lines = text.splitlines()
    tag = ":%d)" % line_of(TARGET, "hold-gil")
    for i, line in enumerate(lines):
        if line.startswith("    hold (") and line.endswith(tag):
            out = []
            for rest in lines[i + 1:]:
                if not rest.startswith("        "):
                    break
                out.append(rest[8:])
            return out
    raise AssertionError("no hold() frame in:\n" + text)


def check_locals(block):
    assert len(block) == len(EXPECTED), "\n".join(block)
    for got, want in zip(block, EXPECTED):
        if isinstance(want, str):
            assert got == want
        else:
            assert want.fullmatch(got), got


def dump_until_held(pid, env, *args):
    """Dumps until one is read while hold() is in the regex (not between
    two matches, or still printing "ready")."""
    for _ in range(10):
        proc = run_cli("dump", "--locals", *args, str(pid), timeout=60,
                       env=env)
        assert proc.returncode == 0, proc.stderr
        if ("holds the GIL" in proc.stdout and
                ":%d)" % line_of(TARGET, "hold-gil") in proc.stdout):
            return proc
    raise AssertionError(proc.stdout)


def test_in_process_locals_without_the_gil(holder):
    # Enabled at start; the GIL side is given 0.2 s, which the regex never
    # leaves it: the dump thread's native read is what shows.
    env = child_env(STACKWATCH_DUMP="1", STACKWATCH_DUMP_GIL_WAIT="0.2",
                    STACKWATCH_REDACT="custom")
    h = holder([sys.executable, TARGET], env)
    proc = dump_until_held(h.pid, child_env())
    assert "[stackwatch] answered by stackwatch inside process" in proc.stderr
    assert "Note: the GIL was not released within 0.2 s" in proc.stdout
    assert "locals of simple types only" in proc.stdout
    check_locals(hold_block(proc.stdout))
    assert h.alive()


def test_in_process_locals_in_json(holder):
    env = child_env(STACKWATCH_DUMP="1", STACKWATCH_DUMP_GIL_WAIT="0.2",
                    STACKWATCH_REDACT="custom")
    h = holder([sys.executable, TARGET], env)
    for _ in range(10):
        proc = run_cli("dump", "--locals", "--json", str(h.pid), timeout=60)
        doc = json.loads(proc.stdout)
        frames = [f for t in doc["stacks"]["threads"] for f in t["frames"]
                  if f["name"] == "hold"]
        if not doc["gil_answered"] and frames:
            break
    assert frames, proc.stdout
    loc = frames[0]["locals"]
    assert loc["n"] == "22" and loc["api_token"] == "<redacted>"
    assert loc["items"] == "<list of 3 items>"
    assert loc["my_custom"] == "<redacted>"


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11", "3.12", "3.13",
                                     "3.14", "3.15"])
def test_outside_locals_without_the_gil(holder, version):
    # Not enabled: read from outside; the CLI's own STACKWATCH_REDACT adds
    # to the patterns.
    if version in ROOT_VERSIONS:
        why = root_usable(version)
        if why:
            pytest.skip(why)
        cmd = [PYROOT, "run", version, "python" + version, TARGET]
    else:
        python = pyenv_python(version)
        if python is None:
            pytest.skip("CPython %s is not installed" % version)
        cmd = [python, TARGET]
    h = holder(cmd, child_env())
    proc = dump_until_held(h.pid, child_env(STACKWATCH_REDACT="custom"))
    assert "read from outside with process_vm_readv" in proc.stderr
    check_locals(hold_block(proc.stdout))
    assert h.alive()
