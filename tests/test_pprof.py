"""pprof output (issue 16): `record -f pprof` and Profiler.write(...,
"pprof") write gzip-compressed profile.proto that `go tool pprof` (the
real consumer) reads, with totals equal to the samples taken."""

import gzip
import json
import os
import re
import subprocess

import pytest

from conftest import line_of, run_cli, run_target, target_path
from helpers.gopprof import needs_go, pprof
from test_outside import program  # noqa: F401 (fixture)

pytestmark = needs_go


def total(top):
    m = re.search(r"accounting for ([\d.]+)(\w*), 100% of ([\d.]+)(\w*) "
                  r"total", top)
    assert m, top
    return m.group(3), m.group(4)


def test_go_tool_pprof_reads_the_api_profile(tmp_path):
    out = tmp_path / "p.pb.gz"
    proc = run_target("pprof_profile", str(out), check=True)
    want = json.loads(proc.stdout)
    assert want["samples"] == want["stats_samples"] > 50
    data = out.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    gzip.decompress(data)  # a valid gzip stream, CRC and length checked
    top = pprof(tmp_path, "-sample_index=samples", "-top", str(out))
    assert total(top) == (str(want["samples"]), "")
    assert "pprof_burn" in top and "pprof_nap" in top and "<module>" in top
    raw = pprof(tmp_path, "-raw", str(out))
    assert "PeriodType: wall nanoseconds" in raw
    assert "samples/count wall/nanoseconds[dflt]" in raw
    # The wall time too, to the nanosecond.
    walls = sum(int(m.group(1)) for m in
                re.finditer(r"^\s+\d+\s+(\d+):", raw, re.M))
    assert abs(walls - want["wall_ns"]) <= want["samples"], (walls, want)
    # Each location is a line of the program, its function and file.
    burn = line_of("pprof_profile", "pprof-burn")
    assert "pprof_burn %s:%d" % (target_path("pprof_profile"), burn) in raw
    tags = pprof(tmp_path, "-sample_index=samples", "-tags", str(out))
    assert "pprof-sleeper" in tags and "MainThread" in tags


def test_record_f_pprof(tmp_path):
    out = tmp_path / "hot.pprof"
    proc = run_cli("record", "-r", "200", "-o", str(out),
                   target_path("record_hot"))
    assert proc.returncode == 0, proc.stderr
    assert "wrote a pprof profile to %s" % out in proc.stderr
    top = pprof(tmp_path, "-top", str(out))
    assert re.search(r"^\s*[1-9][\d.]*m?s\s.*\sburn_cpu$", top, re.M), top
    # -f names it whatever the extension.
    out2 = tmp_path / "hot.bin"
    proc = run_cli("record", "-f", "pprof", "-o", str(out2),
                   target_path("record_hot"))
    assert proc.returncode == 0, proc.stderr
    assert "burn_cpu" in pprof(tmp_path, "-top", str(out2))


def test_an_empty_profile_is_still_read(tmp_path):
    out = tmp_path / "empty.pprof"
    run_target("pprof_empty", str(out), check=True)
    gzip.decompress(out.read_bytes())
    raw = pprof(tmp_path, "-raw", str(out))
    assert "samples/count wall/nanoseconds[dflt]" in raw


def _check_rolling_files(tmp_path, directory, most):
    names = sorted(os.listdir(directory))
    assert 1 <= len(names) <= most, names
    for name in names:
        assert re.fullmatch(r"stackwatch-\d+-\d{8}T\d{6}Z-\d{4}\.pb\.gz",
                            name), names  # no temporary file left
        top = pprof(tmp_path, "-top", os.path.join(directory, name))
        assert "pprof_cont_work" in top, top
    return names


def test_continuous_writes_rolling_files(tmp_path):
    out = tmp_path / "profiles"
    out.mkdir()
    proc = run_target("pprof_continuous", str(out), check=True)
    assert proc.stdout == "done\n"
    names = _check_rolling_files(tmp_path, str(out), 2)
    # Three periods or more were written, the oldest removed.
    seqs = [int(n.split("-")[-1].split(".")[0]) for n in names]
    assert max(seqs) >= 2 and 0 not in seqs, names


def test_stackwatch_pprof_dir_starts_it(tmp_path):
    from conftest import child_env, target_cmd

    out = tmp_path / "profiles"
    out.mkdir()
    proc = subprocess.run(
        target_cmd("pprof_continuous", "env", "1.5"), capture_output=True,
        text=True, timeout=120, env=child_env(STACKWATCH_PPROF_DIR=str(out)))
    assert proc.returncode == 0, proc.stderr
    _check_rolling_files(tmp_path, str(out), 60)


def test_continuous_refuses_bad_settings(tmp_path):
    from conftest import run_py

    proc = run_py("""
        import stackwatch
        for kw in ({"directory": "/nonexistent/x"},
                   {"directory": %r, "every": 0},
                   {"directory": %r, "keep": 0},
                   {"directory": %r, "rate": 5000}):
            try:
                stackwatch.continuous(**kw)
            except ValueError as e:
                print("refused:", e)
    """ % ((str(tmp_path),) * 3))
    assert proc.stdout.count("refused:") == 4, proc.stdout + proc.stderr


@pytest.mark.parametrize("tasks", ["--tasks", "--tasks=each"])
def test_task_labels_with_tasks(tmp_path, tasks):
    out = tmp_path / "tasks.pprof"
    proc = run_cli("record", "-r", "200", tasks, "-o", str(out),
                   target_path("tasks_nested"), "gather")
    assert proc.returncode == 0, proc.stderr
    tags = pprof(tmp_path, "-sample_index=samples", "-tags", str(out))
    task_part = tags.split("task:", 1)[1].split("thread:", 1)[0]
    # The running task of each sample: by its coroutine (asyncio named
    # the tasks, so they are grouped), or with --tasks=each by its name
    # and coroutine.
    for name in ("a", "b", "c"):
        label = r"Task-\d+: %s" % name if tasks.endswith("each") else name
        assert re.search(r"%%\): %s$" % label, task_part, re.M), tags


def functions_of(raw):
    """{(name, file, start line): [line, ...]} of the locations that
    `go tool pprof -raw` lists ("N: 0x0 M=1 NAME FILE:LINE s=START")."""
    funcs = {}
    for m in re.finditer(r"^\s+\d+: 0x0 M=1 (\S+) (\S+):(\d+)(?: s=(\d+))?",
                         raw.split("\nLocations\n", 1)[1], re.M):
        key = (m.group(1), m.group(2), int(m.group(4) or 0))
        funcs.setdefault(key, []).append(int(m.group(3)))
    return funcs


def check_start_lines(raw, path):
    """Every function of the pprof_start_lines target (at `path`) has its
    `def` line as its start line, and the two functions named `twin`
    stay two."""
    funcs = {k: v for k, v in functions_of(raw).items() if k[1] == path}
    starts = {}
    for (name, _, start) in funcs:
        starts.setdefault(name.rsplit(".", 1)[-1], set()).add(start)
    want = {"spin_method": {line_of(path, "def-spin-method")},
            "twin": {line_of(path, "def-twin-first"),
                     line_of(path, "def-twin-second")},
            "main": {line_of(path, "def-main")},
            "<module>": {1}}
    assert starts == want, funcs
    # The method's sampled lines are below its def, and each location is
    # in the function it names.
    loop = line_of(path, "spin-method-loop")
    assert any(loop in lines for (name, _, _), lines in funcs.items()
               if name.endswith("spin_method")), funcs
    for (name, _, start), lines in funcs.items():
        assert all(line >= start for line in lines), funcs


def test_functions_have_their_def_lines(tmp_path):
    out = tmp_path / "start.pb.gz"
    run_target("pprof_start_lines", str(out), check=True)
    check_start_lines(pprof(tmp_path, "-raw", str(out)),
                      target_path("pprof_start_lines"))


@pytest.mark.parametrize("lines", [[], ["--function"], ["--nolineno"]])
def test_record_writes_def_lines_whatever_the_line_mode(tmp_path, lines):
    out = tmp_path / "start.pprof"
    proc = run_cli("record", "-r", "200", *lines, "-o", str(out),
                   target_path("pprof_start_lines"))
    assert proc.returncode == 0, proc.stderr
    raw = pprof(tmp_path, "-raw", str(out))
    path = target_path("pprof_start_lines")
    if not lines:
        check_start_lines(raw, path)
    else:
        # One location per function, at its start line (--function) or
        # with no line (--nolineno), and still its start line.
        for (name, file, start), at in functions_of(raw).items():
            if file == path and name != "<module>":
                assert start > 1 and set(at) == (
                    {start} if lines == ["--function"] else {0}), raw


def test_forked_childs_functions_keep_their_def_lines(tmp_path):
    # The child's samples come back through the fork part format and the
    # merge: the first lines go with them.
    out = tmp_path / "fork.pprof"
    proc = run_cli("record", "-r", "200", "-o", str(out),
                   target_path("pprof_start_lines"), "--fork")
    assert proc.returncode == 0, proc.stderr
    raw = pprof(tmp_path, "-raw", str(out))
    assert len(set(re.findall(r" M=1 process (\d+) ", raw))) == 2, raw
    check_start_lines(raw, target_path("pprof_start_lines"))


def test_record_pid_keeps_def_lines(tmp_path):
    # An enabled target's on-demand profile, handed over in the part
    # format, and a target read from outside.
    from test_ondemand import Running

    t = Running("loop")
    try:
        for how in ([], ["--outside"]):
            out = tmp_path / ("pid%s.pprof" % len(how))
            proc = run_cli("record", "--pid", str(t.pid), "-d", "1", *how,
                           "-o", str(out))
            assert proc.returncode == 0, proc.stderr
            raw = pprof(tmp_path, "-raw", str(out))
            path = target_path("ondemand_target")
            assert re.search(r" od_spin %s:\d+ s=%d\b" % (
                re.escape(path), line_of(path, "def-od-spin")), raw), raw
    finally:
        t.close()


def test_waiting_tasks_frames_have_def_lines(tmp_path):
    # --tasks all: the frames of waiting tasks are named by the GIL side,
    # their first lines with them.
    out = tmp_path / "waiting.pprof"
    proc = run_cli("record", "-r", "200", "--tasks", "all", "-o", str(out),
                   target_path("tasks_nested"), "gather")
    assert proc.returncode == 0, proc.stderr
    funcs = {k: v for k, v in functions_of(pprof(tmp_path, "-raw", str(out)))
             .items() if k[1] == target_path("tasks_nested")}
    assert funcs and all(0 < start <= min(lines)
                         for (_, _, start), lines in funcs.items()), funcs


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11", "3.12", "3.13",
                                     "3.14", "3.15"])
def test_start_lines_of_every_version_read_from_outside(program, tmp_path,
                                                         version):
    # Each version's code objects, their co_firstlineno read without the
    # GIL by the outside reader (its layout table: csrc/compat/layouts.c).
    p = program(version)
    out = tmp_path / "outside.pprof"
    proc = run_cli("record", "--pid", str(p.pid), "--outside", "-d", "1",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    raw = pprof(tmp_path, "-raw", str(out))
    path = target_path("outside_target")
    for name, tag, at in (("work", "def-work", "main-sleep"),
                          ("worker_loop", "def-worker-loop", "worker-wait")):
        assert " %s %s:%d s=%d" % (name, path, line_of(path, at),
                                   line_of(path, tag)) in raw, raw
