"""Shared helpers: child interpreters, the CLI, small waits.

Everything that can crash, hang, fork, signal or exit runs in a child
interpreter (this same Python, with the installed stackwatch), and the
tests assert on its exit status and output.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)  # tests/helpers


#: The children's temporary directory (`stackwatch run` leaves its
#: slow-script logs there); removed at the end of the session.
# The suite runs under AddressSanitizer (make asan preloads its runtime,
# and every child inherits it).
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
CHILD_TMP = tempfile.mkdtemp(prefix="stackwatch-tests-")


@pytest.fixture(scope="session", autouse=True)
def _child_tmp():
    yield
    shutil.rmtree(CHILD_TMP, ignore_errors=True)


def child_env(**extra: str) -> dict:
    env = dict(os.environ)
    for name in ("STACKWATCH_DUMP", "STACKWATCH_MONITOR",
                 "STACKWATCH_MAX_BLOCKING_TIME", "STACKWATCH_MAX_MEMORY_USAGE",
                 "STACKWATCH_MEMORY_MONITOR_PERIOD", "STACKWATCH_INTERVAL",
                 "STACKWATCH_REDACT", "STACKWATCH_DUMP_GIL_WAIT"):
        env.pop(name, None)
    env["PYTHONFAULTHANDLER"] = "1"
    env["TMPDIR"] = CHILD_TMP
    env.update(extra)
    return env


def run_py(code: str, *args: str, timeout: float = 120, env: Optional[dict]
           = None, cwd: Optional[str] = None, check: bool = False
           ) -> subprocess.CompletedProcess:
    """Runs `code` (dedented) in a child interpreter; returns the result
    with text stdout and stderr."""
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)]
        + list(args), capture_output=True, text=True, timeout=timeout,
        env=env or child_env(), cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError("child failed (%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def stackwatch_cmd(*args: str) -> List[str]:
    return [sys.executable, "-m", "stackwatch"] + list(args)


def run_cli(*args: str, timeout: float = 120, env: Optional[dict] = None,
            cwd: Optional[str] = None, input: Optional[str] = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run(stackwatch_cmd(*args), capture_output=True,
                          text=True, timeout=timeout, env=env or child_env(),
                          cwd=cwd, input=input)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Polls predicate() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % (predicate,))
        time.sleep(interval)


def write_script(tmp_path, name: str, code: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


@pytest.fixture
def script(tmp_path):
    """script(code, name="target.py") -> path of a script file."""
    def make(code: str, name: str = "target.py") -> str:
        return write_script(tmp_path, name, code)
    return make


# ---- long-running targets -------------------------------------------------

# Holds the GIL in the regex engine for as long as it runs (2**40 steps).
STUCK = r"""
import re
def stuck_in_c():
    re.match(r"(a+)+$", "a" * 40 + "b")
"""


class Target:
    """A child Python process that prints "ready" when it may be asked."""

    def __init__(self, code, env=None, args=None, preexec_fn=None):
        cmd = args or [sys.executable, "-c", textwrap.dedent(code)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env or child_env(), preexec_fn=preexec_fn)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", (line, self.proc.stderr.read()
                                         if self.proc.poll() is not None
                                         else "")
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def target():
    made = []

    def make(code, **kw):
        t = Target(code, **kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.close()
