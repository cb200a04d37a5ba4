"""The memory profiler's `c` and `both` profiles (issue 14): memory C
code takes from the C library directly (malloc, calloc, realloc,
posix_memalign, anonymous mmap/munmap), seen by patching the loaded
objects' GOTs at enable() (csrc/memgot.c), counted in the c_* columns of
the thread that took it, never twice with Python's allocators; objects
dlopen'ed after enable() covered; every entry put back at disable()."""
import json
import os
import subprocess

import pytest

from conftest import run_target
from helpers.memfiles import by_thread_name, read_profile, read_stack, \
    the_pid_dir

MiB = 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    """Three copies of tests/helpers/memc_lib.c: loaded before enable(),
    after it, after disable()."""
    d = tmp_path_factory.mktemp("memc")
    paths = []
    for name in ("before", "after", "late"):
        path = str(d / ("libmemc_%s.so" % name))
        subprocess.run(["cc", "-O0", "-fPIC", "-shared", "-o", path,
                        os.path.join(HERE, "helpers", "memc_lib.c")],
                       check=True)
        paths.append(path)
    return paths


def _run(tmp_path, libs, profile):
    proc = run_target("mem_c", str(tmp_path), profile, *libs, check=True)
    d = the_pid_dir(tmp_path)
    return d, read_profile(d), json.loads(proc.stdout)


def _near(value, expected, share=0.05):
    return abs(value - expected) <= expected * share


def test_c_memory_counted_in_the_c_columns_of_its_thread(tmp_path, libs):
    d, prof, _ = _run(tmp_path, libs, "both")
    assert prof["process.mem"][0]["profile"] == "both"
    last = by_thread_name(prof)
    cgrab = last["cgrab"]
    # malloc 30 + calloc 2 + 1 realloc'ed to 3 + 1 realloc'ed to 0 +
    # posix_memalign 4 + mmap 8 = 49 MiB; freed: 10 + the realloc'ed 1
    # + the 1 realloc'ed to 0 + munmap 4.
    assert _near(cgrab["c_alloc"], 49 * MiB), cgrab
    assert _near(cgrab["c_free"], 16 * MiB), cgrab
    assert _near(cgrab["c_live"], 33 * MiB), cgrab
    assert cgrab["py_alloc"] < MiB, cgrab
    # A library dlopen'ed after enable() is covered.
    assert _near(last["cdlopen"]["c_alloc"], 12 * MiB), last["cdlopen"]
    # A stdlib C module's library: libsqlite3 holds the database's
    # pages (16 MiB of blobs); the Python objects that carried the blobs
    # in are gone.
    sq = last["csqlite"]
    assert sq["c_live"] > 16 * MiB and sq["py_live"] < MiB, sq
    # What Python's allocators take from the C library is not counted
    # again in the c columns.
    py = last["pyonly"]
    assert _near(py["py_alloc"], 20 * MiB), py
    assert py["c_alloc"] < MiB // 4, py
    for col in ("c_alloc", "c_free"):
        assert prof["process.mem"][1][-1][col] == sum(
            r[col] for r in last.values())


def test_python_profile_counts_no_c_memory(tmp_path, libs):
    _, prof, out = _run(tmp_path, libs, "python")
    last = by_thread_name(prof)
    assert all(r["c_alloc"] == 0 for r in last.values()), last
    assert last["cgrab"]["py_alloc"] < MiB
    assert _near(last["pyonly"]["py_alloc"], 20 * MiB)
    assert out["stats_during"]["got_entries"] == 0
    assert out["during"] == out["libc"]


def test_c_profile_counts_c_memory_only(tmp_path, libs):
    _, prof, _ = _run(tmp_path, libs, "c")
    last = by_thread_name(prof)
    assert all(r["py_alloc"] == 0 for r in last.values()), last
    assert _near(last["cgrab"]["c_alloc"], 49 * MiB)
    # Python's 20 MiB went through Python's allocators (passed through,
    # uncounted), not into the c columns (the thread may have no file:
    # nothing counted).
    if "pyonly" in last:
        assert last["pyonly"]["c_alloc"] < MiB // 4, last["pyonly"]


def test_disable_puts_every_got_entry_back(tmp_path, libs):
    _, _, out = _run(tmp_path, libs, "both")
    during, after = out["stats_during"], out["stats_after"]
    assert during["got_entries"] > 0 and during["got_failed"] == 0
    assert out["during"] != out["libc"]  # the library's GOT: our hook
    # After disable(): libc's malloc again, in the library loaded before
    # enable(), in the one loaded during the profile, and the one loaded
    # after it was never patched; the profile's blocks were freed through
    # them and the program ended cleanly (check=True).
    assert out["after"] == out["libc"]
    assert out["after_dlopen"] == out["libc"]
    assert out["late"] == out["libc"]
    assert after["got_entries"] == 0 and after["got_objects"] == 0


def test_c_allocations_are_attributed_to_the_python_stack(tmp_path, libs):
    d, _, _ = _run(tmp_path, libs, "both")
    _, stacks, live, _ = read_stack(os.path.join(d, "cgrab.stack"))
    live_stacks = {sid for sid, _ in live.values()}
    assert live_stacks
    target = os.path.realpath(os.path.join(HERE, "targets", "mem_c.py"))
    for sid in live_stacks:
        assert any(f.startswith("grab_c_memory (%s:" % target)
                   for f in stacks[sid]), stacks[sid]
