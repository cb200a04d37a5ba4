"""The pure-C unit tests (tests/c/test_*.c), each test in its own process.

Each file is compiled with the warning flags of the extension (and the
CFLAGS of the environment: CI adds -Werror) against the sources it needs;
every test it lists runs in its own process, so a crash fails one test.
"""

import glob
import os
import shlex
import subprocess
import tempfile

import pytest

from conftest import ROOT

#: The extension's warning flags: tools/cflags.txt, one flag a line, is
#: their one list (setup.py reads it too).
with open(os.path.join(ROOT, "tools", "cflags.txt")) as _f:
    WARNINGS = [line.strip() for line in _f
                if line.strip() and not line.lstrip().startswith("#")]

FLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O1", "-g"] + WARNINGS

#: The sources each test file is built with.
SOURCES = {
    "test_writers.c": ["csrc/stacks.c", "csrc/buf.c", "csrc/stackfmt.c",
                       "csrc/writers/*.c"],
    "test_stackfmt.c": ["csrc/stackfmt.c", "csrc/buf.c"],
    # (No SW_HAVE_ZLIB here: the stored-block build.)
    "test_gzip.c": ["csrc/writers/gzip.c"],
    "test_memview.c": ["csrc/memfile.c", "csrc/buf.c",
                       "csrc/writers/memchart.c"],
    "test_http.c": ["csrc/http.c", "csrc/metrics.c", "csrc/buf.c"],
    "test_watchdog.c": ["csrc/wd_timing.c", "csrc/wd_report.c",
                        "csrc/procmem.c", "csrc/stackfmt.c", "csrc/buf.c"],
    "test_core.c": ["csrc/stacks.c", "csrc/buf.c",
                    "csrc/compat/linetable.c", "csrc/compat/vmread.c"],
    "test_reader_fuzz.c": ["csrc/compat/reader.c", "csrc/compat/vmread.c",
                           "csrc/compat/linetable.c"],
    "test_tasks.c": ["csrc/tasks.c", "csrc/stacks.c", "csrc/compat/reader.c",
                     "csrc/compat/vmread.c", "csrc/compat/linetable.c"],
}

_BUILD = tempfile.mkdtemp(prefix="stackwatch-ctests-")


def _build(name):
    srcs = [os.path.join(ROOT, "tests", "c", name)]
    for pattern in SOURCES[name]:
        srcs += sorted(glob.glob(os.path.join(ROOT, pattern)))
    exe = os.path.join(_BUILD, name[:-2])
    cmd = (["gcc"] + FLAGS + shlex.split(os.environ.get("CFLAGS", ""))
           + ["-I" + os.path.join(ROOT, "csrc"),
              "-I" + os.path.join(ROOT, "tests", "c")]
           + srcs + ["-o", exe, "-pthread"])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return exe, proc


def _cases():
    cases = []
    for name in sorted(SOURCES):
        exe, proc = _build(name)
        if proc.returncode != 0:
            cases.append(pytest.param(name, None, proc.stderr,
                                      id="%s-build" % name))
            continue
        for test in subprocess.run([exe], capture_output=True, text=True,
                                   check=True).stdout.split():
            cases.append(pytest.param(name, exe, test,
                                      id="%s-%s" % (name[:-2], test)))
    return cases


@pytest.mark.parametrize("name, exe, test", _cases())
def test_c(name, exe, test):
    if exe is None:
        pytest.fail("%s does not build:\n%s" % (name, test))
    proc = subprocess.run([exe, test], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_every_c_test_file_is_built():
    found = {os.path.basename(p)
             for p in glob.glob(os.path.join(ROOT, "tests", "c", "test_*.c"))}
    assert found == set(SOURCES)
