"""Shared helpers: child interpreters, the CLI, small waits.

Everything that can crash, hang, fork, signal or exit runs in a child
interpreter (this same Python, with the installed stackwatch), and the
tests assert on its exit status and output.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import List, Optional

import pytest

# A shell starts background jobs with SIGINT ignored (`make test &`,
# nohup), and an ignored signal stays ignored across exec: every child
# would then ignore the Ctrl-C the tests send it. The children start
# with SIGINT's default action, as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)  # tests/helpers
#: The children's programs: real scripts, one per scenario, each saying
#: in its docstring what it does and what the test expects of it.
TARGETS = os.path.join(HERE, "targets")
#: Modules the targets share (a stuck workload, the watchdog children's
#: prelude...); on the children's PYTHONPATH (child_env()).
HELPERS = os.path.join(HERE, "helpers")


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
    env["PYTHONPATH"] = os.pathsep.join(
        [HELPERS] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update(extra)
    return env


def target_path(name: str) -> str:
    """The path of tests/targets/<name> (".py" added when missing)."""
    if not name.endswith(".py"):
        name += ".py"
    path = os.path.join(TARGETS, name)
    assert os.path.isfile(path), path
    return path


def target_cmd(name: str, *args: str) -> List[str]:
    """The command line that runs target `name` with `args` in a child
    interpreter (this Python, faulthandler on)."""
    return [sys.executable, "-X", "faulthandler", target_path(name)] + [
        str(a) for a in args]


def run_target(name: str, *args: str, timeout: float = 120,
               env: Optional[dict] = None, cwd: Optional[str] = None,
               check: bool = False, input: Optional[str] = None
               ) -> subprocess.CompletedProcess:
    """Runs target `name` with `args` in a child interpreter; returns the
    result with text stdout and stderr (as run_py() does)."""
    proc = subprocess.run(
        target_cmd(name, *args), capture_output=True, text=True,
        timeout=timeout, env=env or child_env(), cwd=cwd, input=input)
    if check and proc.returncode != 0:
        raise AssertionError("child %s failed (%d):\n%s\n%s"
                             % (name, proc.returncode, proc.stdout,
                                proc.stderr))
    return proc


def copy_target(name: str, directory, as_name: Optional[str] = None) -> str:
    """Copies target `name` into `directory` (as `as_name`, by default
    under its own name) and returns the copy's path: for tests whose
    target must sit in a directory of its own (next to a sibling module,
    in the directory a command is started from)."""
    src = target_path(name)
    dest = os.path.join(str(directory), as_name or os.path.basename(src))
    shutil.copyfile(src, dest)
    return dest


def _lines(name_or_path: str) -> List[str]:
    path = (name_or_path if os.path.isabs(name_or_path)
            else target_path(name_or_path))
    with open(path) as f:
        return f.read().splitlines()


def line_of(name_or_path: str, tag: str) -> int:
    """The number of the one line of a target (name or path) that ends
    with the comment `# <tag>`."""
    hits = [i for i, line in enumerate(_lines(name_or_path), 1)
            if line.rstrip().endswith("# " + tag)]
    assert len(hits) == 1, (name_or_path, tag, hits)
    return hits[0]


def line_with(name_or_path: str, text: str) -> int:
    """The number of the one line of a target (name or path) that
    contains `text`."""
    hits = [i for i, line in enumerate(_lines(name_or_path), 1)
            if text in line]
    assert len(hits) == 1, (name_or_path, text, hits)
    return hits[0]


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

#: tests/helpers/stuck.py: stuck_in_c() holds the GIL in the regex engine
#: for as long as it runs (2**40 steps).
STUCK_PATH = os.path.join(HELPERS, "stuck.py")


class Target:
    """A child Python process that prints "ready" when it may be asked."""

    def __init__(self, code=None, env=None, args=None, preexec_fn=None,
                 name=None, name_args=()):
        if name is not None:
            cmd = target_cmd(name, *name_args)
        else:
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
    """target(code, env=..., args=...) or target(name="x", name_args=[...])
    -> a started Target (tests/targets/x.py when named); all are closed
    after the test."""
    made = []

    def make(code=None, **kw):
        t = Target(code, **kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.close()
