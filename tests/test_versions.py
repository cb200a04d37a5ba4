"""The supported CPython range has one source (src/stackwatch/_versions.py);
everything that repeats it is derived from it or checked here."""

import glob
import os
import re
import runpy
import subprocess
import sys

import pytest

import stackwatch
from conftest import child_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V = runpy.run_path(os.path.join(ROOT, "src", "stackwatch", "_versions.py"))


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def test_the_range():
    assert V["MIN"] <= V["MAX"] and V["MIN"][0] == V["MAX"][0] == 3
    assert V["minors"]()[0] == "%d.%d" % V["MIN"]
    assert V["minors"]()[-1] == "%d.%d" % V["MAX"]
    assert V["supported"](V["MIN"] + (0,)) and V["supported"](V["MAX"])
    assert not V["supported"]((3, V["MIN"][1] - 1))
    assert not V["supported"]((3, V["MAX"][1] + 1))
    assert V["supported"](sys.version_info)  # the suite runs on one


def test_package_uses_it():
    assert stackwatch.SUPPORTED == (V["MIN"], V["MAX"])


def test_pyproject_matches():
    text = read("pyproject.toml")
    classifiers = re.findall(r'"Programming Language :: Python :: (3\.\d+)"',
                             text)
    assert classifiers == V["minors"](), classifiers
    assert re.search(r'requires-python = ">=%d\.%d"' % V["MIN"], text)


def test_makefile_pythons_match():
    """Every supported version is tested by make test: from pyenv
    (PYTHONS) or in the Debian root (PYTHONS_ROOT, which also holds the
    versions beyond the range: those get only the refusal check, and
    extending the range needs no edit of the Makefile)."""
    text = read("Makefile")
    host = re.search(r"^PYTHONS \?= (.*)$", text, re.M)
    root = re.search(r"^PYTHONS_ROOT \?= (.*)$", text, re.M)
    assert host and root
    host, root = host.group(1).split(), root.group(1).split()
    assert not set(host) & set(root)
    assert host + [v for v in root if v in V["minors"]()] == V["minors"](), (
        host, root)


def test_setup_and_layout_take_it_from_the_source():
    setup = read("setup.py")
    assert "_versions.py" in setup and "SW_MIN_MINOR" in setup
    assert not re.search(r"\(3, *\d+\)", setup)
    layout = read("csrc", "compat", "layout.c")
    assert "PY_MINOR_VERSION < SW_MIN_MINOR" in layout
    assert "PY_MINOR_VERSION > SW_MAX_MINOR" in layout
    assert not re.search(r"#error.*3\.\d", layout)


def command_lines(python):
    """The stackwatch command run by python: the installed script (the
    one pip wrote next to the interpreter running the suite) and -m."""
    script = os.path.join(os.path.dirname(sys.executable), "stackwatch")
    assert os.path.exists(script), "stackwatch is not installed here"
    return [[python, script, "--version"],
            [python, "-m", "stackwatch", "--version"]]


def assert_refused_in_one_line(cmd, env, says):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 1, (cmd, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == ["stackwatch: error: " + says], (
        cmd, proc.stderr)


def test_the_command_refuses_where_stackwatch_cannot_run_in_one_line():
    env = child_env(STACKWATCH_READ_METHOD="mmap")
    err = subprocess.run([sys.executable, "-c", "import stackwatch"],
                         capture_output=True, text=True, env=env).stderr
    says = err.strip().splitlines()[-1]
    assert says.startswith("RuntimeError: stackwatch cannot run on CPython")
    for cmd in command_lines(sys.executable):
        assert_refused_in_one_line(cmd, env, says[len("RuntimeError: "):])


def test_the_command_refuses_an_unsupported_python_in_one_line():
    """With the package's sources on the path of a CPython older than
    the range (pyenv's, when there is one: the Debian root has none)."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    older = "%d.%d" % (V["MIN"][0], V["MIN"][1] - 1)
    found = sorted(glob.glob(os.path.join(root, "versions", older + ".*",
                                          "bin", "python" + older)))
    if not found:
        pytest.skip("CPython %s (outside the range) is not installed"
                    % older)
    full = subprocess.run([found[-1], "-c", "import sys; print(sys.version"
                           ".split()[0])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = child_env(PYTHONPATH=os.path.join(ROOT, "src"))
    says = ("stackwatch supports CPython %d.%d to %d.%d; this is CPython %s"
            % (V["MIN"] + V["MAX"] + (full,)))
    for cmd in command_lines(found[-1]):
        assert_refused_in_one_line(cmd, env, says)


def test_a_free_threaded_build_is_refused_in_one_line():
    """No free-threaded CPython is packaged here: the check is made to
    look at a build that says it is one (sys.abiflags with "t", as
    python3.14t has), before the package is imported."""
    code = ("import sys; sys.abiflags += 't'\n"
            "try:\n"
            "    import stackwatch\n"
            "except RuntimeError as e:\n"
            "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=child_env())
    version = sys.version.split()[0]
    assert proc.stdout.splitlines() == [
        "stackwatch supports CPython's GIL build only, not the "
        "free-threaded cpython %st" % version], (proc.stdout, proc.stderr)
    assert "stackwatch._native" not in proc.stderr
