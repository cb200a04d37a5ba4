"""`stackwatch record`: runs a script or module exactly as ``python`` would,
then writes the profile where and how it was asked to; bad input is
refused before the target runs.

Every test runs `python -m stackwatch record ...` (or the console script)
as a child process on a target under tests/targets/ (record_*.py) and,
where "as python would" is the claim, runs the same target with plain
python and compares the two.
"""

import datetime
import importlib.metadata
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import (HELPERS, TARGETS, child_env, copy_target, line_of,
                      run_cli, stackwatch_cmd, target_path, wait_for)
from helpers.folded import collapsed

RATE = ("-r", "200")

#: Spends its time in one function of its own, burn_cpu.
HOT = target_path("record_hot")


def python(*args, cwd=None, timeout=60, **kw):
    """Runs plain python (no stackwatch) the way a user would."""
    return subprocess.run([sys.executable] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=child_env(),
                          cwd=cwd, **kw)


def record(*args, cwd=None, timeout=60, **kw):
    """Runs `python -m stackwatch record ARGS`; extra keywords go to
    subprocess.run (e.g. preexec_fn, stdout)."""
    if not kw:
        return run_cli("record", *args, cwd=cwd, timeout=timeout)
    kw.setdefault("stderr", subprocess.PIPE)
    if "stdout" not in kw:
        kw["stdout"] = subprocess.PIPE
    return subprocess.run(stackwatch_cmd("record", *args), text=True,
                          timeout=timeout, env=child_env(), cwd=cwd, **kw)


def without_notes(stderr):
    """stderr without stackwatch's own "[stackwatch] ..." notes: what the
    target (and python on its behalf) printed, plus any error line."""
    return "".join(line for line in stderr.splitlines(True)
                   if not line.startswith("[stackwatch]"))


def leaf_share(stacks, function):
    """Share of samples whose innermost frame is `function`."""
    total = sum(stacks.values())
    hits = sum(n for s, n in stacks.items()
               if s.split(";")[-1].split(" (")[0] == function)
    return hits / total if total else 0.0


def profile_after_output(text, output="target done\n"):
    """The collapsed profile that follows the target's own output."""
    assert text.startswith(output), text
    assert len(text) > len(output), "no profile after the target's output"
    return text[len(output):]


def reset_sigint():
    # A child started from a shell job may inherit SIGINT ignored; python
    # only installs its KeyboardInterrupt handler when SIGINT is default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- the target runs as python would run it ----------------------------------

def test_script_gets_argv_name_and_its_own_directory_on_sys_path(tmp_path):
    """Arguments after the script (even option-like ones, even ones that
    are record options) go to the script; __name__ is __main__; sys.path[0]
    is the script's directory, so a sibling module imports, whatever the
    current directory."""
    (tmp_path / "sibling.py").write_text("VALUE = 'from sibling'\n")
    path = copy_target("record_whoami_sibling", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["-x", "--flag", "-o", "out", "-m", "mod", "--", "value"]
    proc = record("-o", os.devnull, path, *args, cwd=str(elsewhere))
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    seen = json.loads(first)
    assert seen["argv"] == [path] + args
    assert seen["name"] == "__main__"
    assert seen["path0"] == str(tmp_path)
    assert second == "from sibling"
    assert not (elsewhere / "out").exists()


def test_script_run_by_relative_path_sees_what_plain_python_sets(
        tmp_path):
    """`record target.py a -b` from the script's directory: sys.argv,
    __name__, __file__ and sys.path[0] are what `python target.py a -b`
    gives (python 3.9+ makes __file__ of the main script absolute)."""
    copy_target("record_whoami", tmp_path, "target.py")
    want = python("target.py", "a", "-b", cwd=str(tmp_path))
    assert want.returncode == 0, want.stderr
    got = record("-o", os.devnull, "target.py", "a", "-b", cwd=str(tmp_path))
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == json.loads(want.stdout)


@pytest.mark.parametrize("code, status, message", [
    ("print('ok')", 0, ""),
    ("import sys; sys.exit(3)", 3, ""),
    ("import sys; sys.exit(None)", 0, ""),
    ("import sys; sys.exit('bye now')", 1, "bye now\n"),
], ids=["normal", "exit-3", "exit-none", "exit-message"])
def test_exit_status_is_the_targets(script, code, status, message):
    """The exit status (and a SystemExit message on stderr) are those of
    plain python."""
    path = script(code + "\n")
    want = python(path)
    got = record("-o", os.devnull, path)
    assert (want.returncode, want.stderr) == (status, message)
    assert got.returncode == status, got.stderr
    assert without_notes(got.stderr) == message
    assert got.stdout == want.stdout


def test_uncaught_exception_is_printed_as_python_prints_it():
    """An uncaught exception: the same traceback text as `python script.py`
    (no stackwatch frames), status 1, and the profile is still written."""
    path = target_path("record_raises")
    want = python(path)
    assert want.returncode == 1
    got = record("-o", os.devnull, path)
    assert got.returncode == 1
    assert without_notes(got.stderr) == want.stderr
    assert "wrote a flame graph" in got.stderr


def test_syntax_error_is_reported_as_python_reports_it(script):
    path = script("def broken(:\n    pass\n")
    want = python(path)
    assert want.returncode == 1 and "SyntaxError" in want.stderr
    got = record("-o", os.devnull, path)
    assert got.returncode == 1
    assert without_notes(got.stderr) == want.stderr


def test_module_target_runs_as_python_m(tmp_path):
    """`record -m pkg.mod args` = `python -m pkg.mod args`, the module
    found from the current directory: argv[0] is the module's file,
    __name__ is __main__, option-like arguments go to the module."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    copy_target("record_whoami", pkg, "mod.py")
    args = ["a", "-x", "--flag", "-o", "out"]
    want = python("-m", "pkg.mod", *args, cwd=str(tmp_path))
    assert want.returncode == 0, want.stderr
    got = record("-o", os.devnull, "-m", "pkg.mod", *args, cwd=str(tmp_path))
    assert got.returncode == 0, got.stderr
    seen = json.loads(got.stdout)
    assert seen == json.loads(want.stdout)
    assert seen["argv"] == [str(pkg / "mod.py")] + args
    assert seen["name"] == "__main__"


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "-m"])
def test_class_defined_in_main_is_picklable(as_module):
    target = ["-m", "record_pickler"] if as_module else ["record_pickler.py"]
    got = record("-o", os.devnull, *target, cwd=TARGETS)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "__main__ Point 7\n"


# -- where and how the profile is written -------------------------------------

def test_default_output_is_an_svg_named_after_target_and_date(tmp_path):
    copy_target("record_hot", tmp_path, "target.py")
    before = datetime.datetime.now().replace(microsecond=0)
    proc = record(*RATE, "target.py", cwd=str(tmp_path))
    after = datetime.datetime.now()
    assert proc.returncode == 0, proc.stderr
    made = sorted(set(os.listdir(tmp_path)) - {"target.py"})
    assert len(made) == 1, made
    m = re.fullmatch(r"stackwatch-target-(\d{8}-\d{6})\.svg", made[0])
    assert m, made
    when = datetime.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
    assert before <= when <= after
    data = (tmp_path / made[0]).read_text()
    assert "<svg" in data and "burn_cpu" in data


def check_svg(data):
    assert data.lstrip().startswith("<?xml") and "<svg" in data
    assert "burn_cpu" in data


def check_speedscope(data):
    doc = json.loads(data)
    assert "speedscope" in doc["$schema"]
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "burn_cpu" in names


def check_collapsed(data):
    assert leaf_share(collapsed(data), "burn_cpu") > 0.5


@pytest.mark.parametrize("name, check", [
    ("out.svg", check_svg),
    ("out.json", check_speedscope),
    ("out.txt", check_collapsed),
])
def test_format_follows_the_output_extension(tmp_path, name, check):
    path = HOT
    out = tmp_path / name
    proc = record(*RATE, "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    check(out.read_text())


@pytest.mark.parametrize("fmt, check", [
    ("collapsed", check_collapsed),
    ("speedscope", check_speedscope),
])
def test_format_option_wins_over_the_extension(tmp_path, fmt, check):
    path = HOT
    out = tmp_path / "out.svg"
    proc = record(*RATE, "-f", fmt, "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    check(out.read_text())


def test_output_dash_puts_the_profile_on_stdout(tmp_path):
    copy_target("record_hot", tmp_path, "target.py")
    proc = record(*RATE, "-f", "collapsed", "-o", "-", "target.py",
                  cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "target done"  # the target's own output first
    check_collapsed("\n".join(lines[1:]))
    assert sorted(os.listdir(tmp_path)) == ["target.py"]


def test_dev_null_is_written_in_place():
    path = HOT
    proc = record(*RATE, "-o", "/dev/null", path)
    assert proc.returncode == 0, proc.stderr
    assert "to /dev/null" in proc.stderr
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert not [n for n in os.listdir("/dev") if n.startswith(".null.")]


def test_fifo_is_written_in_place_and_the_reader_gets_the_profile(
        tmp_path):
    path = HOT
    fifo = tmp_path / "profile.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; sys.stdout.write(open(sys.argv[1]).read())", str(fifo)],
        stdout=subprocess.PIPE, text=True)
    try:
        proc = record(*RATE, "-f", "collapsed", "-o", str(fifo), path)
        data, _ = reader.communicate(timeout=20)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    check_collapsed(data)
    assert sorted(os.listdir(tmp_path)) == ["profile.fifo"]


def test_dev_stdout_is_written_in_place_when_stdout_is_a_pipe():
    path = HOT
    proc = record(*RATE, "-f", "collapsed", "-o", "/dev/stdout", path)
    assert proc.returncode == 0, proc.stderr
    check_collapsed(profile_after_output(proc.stdout))
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(
        os.lstat("/dev/stdout").st_mode)


def test_link_to_stdout_is_written_through_when_stdout_is_a_file(
        tmp_path):
    """`-o LINK`, LINK -> /proc/self/fd/1 (which is what /dev/stdout is),
    with stdout redirected to a regular file: the profile goes to that
    file through the link, and the link is left alone (not replaced by a
    regular file through a rename)."""
    path = HOT
    link = tmp_path / "stdout-link"
    os.symlink("/proc/self/fd/1", link)
    out = tmp_path / "captured.txt"
    # Once (of thousands of runs) at a load average of 10 the profile
    # came out empty: 0.5 s of target without a pass.  A second run then;
    # a link replaced or a profile lost fails both.
    for tries_left in (1, 0):
        with open(out, "w") as f:
            proc = record(*RATE, "-f", "collapsed", "-o", str(link), path,
                          stdout=f)
        assert proc.returncode == 0, proc.stderr
        assert os.path.islink(link), "the link was replaced"
        text = out.read_text()
        if text != "target done\n" or not tries_left:
            break
    assert text != "target done\n", proc.stderr
    check_collapsed(profile_after_output(text))


# As root, a stackwatch that replaced its output by a rename would replace
# the system's /dev/stdout.  As root the test therefore runs in a mount
# namespace of its own, on a /dev of its own (tests/helpers/private_dev.sh:
# a tmpfs with the stdout link and the few devices Python opens), where
# only that copy could be lost; the script checks that the link is still a
# link after the run.
PRIVATE_DEV = os.path.join(HELPERS, "private_dev.sh")


def private_dev(tmp_path, cmd):
    """cmd as it is for a user other than root; for root, cmd wrapped to
    run on a /dev of its own, or None if that cannot be set up here."""
    if os.geteuid() != 0:
        return cmd
    realdev = tmp_path / "realdev"
    realdev.mkdir()
    wrap = ["unshare", "--mount", "--propagation", "private", "env",
            "REALDEV=%s" % realdev, "sh", PRIVATE_DEV]
    try:
        probe = subprocess.run(wrap + ["true"], capture_output=True,
                               timeout=30)
    except OSError:
        return None
    return wrap + cmd if probe.returncode == 0 else None


def test_dev_stdout_is_written_through_when_stdout_is_a_file(
        tmp_path):
    """`stackwatch record -o /dev/stdout t.py > file`: the profile lands in
    the file, and /dev/stdout is still the link it was."""
    path = HOT
    out = tmp_path / "captured.txt"
    cmd = private_dev(tmp_path, stackwatch_cmd(
        "record", *RATE, "-f", "collapsed", "-o", "/dev/stdout", path))
    if cmd is None:
        pytest.skip("root, and no private mount namespace (unshare) to "
                    "keep the system's /dev/stdout safe")
    with open(out, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert os.path.islink("/dev/stdout")
    check_collapsed(profile_after_output(out.read_text()))


def test_existing_file_keeps_its_mode_and_gets_the_new_profile(tmp_path):
    path = HOT
    out = tmp_path / "out.txt"
    out.write_text("old profile\n")
    os.chmod(out, 0o640)
    proc = record(*RATE, "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    check_collapsed(out.read_text())
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_new_file_mode_follows_the_umask(tmp_path):
    """A new file gets 0666 & ~umask, like any file the shell creates (not
    the 0600 of a temporary file)."""
    path = HOT
    out = tmp_path / "out.txt"
    proc = record(*RATE, "-o", str(out), path,
                  preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


def test_failed_write_leaves_the_previous_file_intact(tmp_path):
    """The write fails at the end (the target limits the file size the
    process may write, which binds root too): the old content stays whole,
    no temporary file is left, one error line, status 1."""
    path = target_path("record_fsize_limit")
    out = tmp_path / "prev.svg"
    out.write_text("previous content\n")
    proc = record(*RATE, "-o", str(out), path)
    assert proc.stdout == "limited\n"
    assert proc.returncode == 1, proc.stderr
    errors = without_notes(proc.stderr).splitlines()
    assert len(errors) == 1 and "prev.svg" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_text() == "previous content\n"
    assert sorted(os.listdir(tmp_path)) == ["prev.svg"]


def test_relative_output_is_written_where_record_was_started(
        tmp_path, script):
    """A relative -o names a file in the directory `record` was started in
    (where it was checked), even if the target changes directory."""
    (tmp_path / "sub").mkdir()
    script("import os\nos.chdir('sub')\n")
    proc = record(*RATE, "-o", "out.txt", "target.py", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").exists()
    assert not (tmp_path / "sub" / "out.txt").exists()


# -- Ctrl-C and --duration ---------------------------------------------------

def record_then_signal(tmp_path, preexec_fn, *signals, still_running=None):
    """Records record_wait_forever, sends each signal once it is inside
    wait_forever (calling still_running(child, out) between two), and
    returns (child, stderr, out)."""
    started = tmp_path / "started"
    out = tmp_path / "out.txt"
    child = subprocess.Popen(stackwatch_cmd("record", *RATE, "-o", str(out),
                                            target_path("record_wait_forever"),
                                            str(started)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=child_env(), preexec_fn=preexec_fn)
    try:
        wait_for(lambda: started.exists() or child.poll() is not None,
                 timeout=30)
        assert child.poll() is None, child.communicate()
        time.sleep(0.3)  # into wait_forever
        for i, signum in enumerate(signals):
            if i:
                still_running(child, out)
            child.send_signal(signum)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child, stderr, out


def test_ctrl_c_stops_the_target_writes_the_profile_and_exits_by_sigint(
        tmp_path):
    child, stderr, out = record_then_signal(tmp_path, reset_sigint,
                                            signal.SIGINT)
    assert child.returncode == -signal.SIGINT, stderr
    assert without_notes(stderr).splitlines()[-1] == "KeyboardInterrupt"
    assert leaf_share(collapsed(out), "wait_forever") > 0.5


def reset_ending_signals():
    # Default actions, as a service manager or a terminal would leave them
    # (a test run under nohup would hand SIGHUP down ignored).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_write_the_profile_then_end_as_the_signal(
        tmp_path, signum):
    child, stderr, out = record_then_signal(tmp_path, reset_ending_signals,
                                            signum)
    # Ended by the signal itself (a shell sees 128 + N), after the profile.
    assert child.returncode == -signum, stderr
    assert "samples in" in stderr, stderr
    assert leaf_share(collapsed(out), "wait_forever") > 0.5


def ignore_sighup():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_an_ignored_sighup_stays_ignored(tmp_path):
    # nohup: SIGHUP ignored before the start must not end the recording.
    def still_running(child, out):
        time.sleep(0.5)
        assert child.poll() is None, child.communicate()
        assert not out.exists()

    child, stderr, out = record_then_signal(
        tmp_path, ignore_sighup, signal.SIGHUP, signal.SIGTERM,
        still_running=still_running)
    assert child.returncode == -signal.SIGTERM, stderr
    assert leaf_share(collapsed(out), "wait_forever") > 0.5


def test_duration_writes_the_profile_while_the_target_keeps_running(tmp_path):
    finished = tmp_path / "finished"
    path = target_path("record_work_then_exit")
    out = tmp_path / "out.txt"
    child = subprocess.Popen(stackwatch_cmd("record", *RATE, "-d", "1",
                                            "-o", str(out), path,
                                            str(finished)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=child_env())
    try:
        wait_for(lambda: out.exists() or child.poll() is not None,
                 timeout=30)
        written_early = not finished.exists() and child.poll() is None
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert written_early
    assert child.returncode == 5, stderr
    assert finished.exists()
    assert leaf_share(collapsed(out), "work") > 0.3


def test_duration_timer_is_not_in_the_profile(tmp_path, script):
    """stackwatch's own --duration timer thread is not part of the
    profile of the target (as its other threads are not)."""
    path = script("import time\ntime.sleep(1.5)\n")
    out = tmp_path / "out.txt"
    proc = record(*RATE, "--threads", "-d", "0.5", "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    threads = {s.split(";")[0].split(" (tid")[0] for s in collapsed(out)}
    assert threads == {"MainThread"}
    assert "Timer.run" not in out.read_text()


@pytest.mark.parametrize("duration", ["inf", "1e308"])
def test_huge_duration_never_shows_an_internal_traceback(
        tmp_path, script, duration):
    """A duration too large for a timer is either refused (status 2, one
    line) or means "until the end"; never a traceback from stackwatch."""
    path = script("print('ran')\n")
    out = tmp_path / "out.txt"
    proc = record(*RATE, "-d", duration, "-o", str(out), path)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stdout == ""
    else:
        assert proc.returncode == 0
        assert proc.stdout == "ran\n"
        assert out.exists()


# -- bad input: refused before the target runs --------------------------------

def _unwritable_dir_case(tmp_path):
    if os.geteuid() == 0:
        # root bypasses permission bits; nobody can create files in /proc.
        return "/proc/stackwatch-test-out.svg", "/proc/stackwatch-test-out.svg"
    ro = tmp_path / "readonly"
    ro.mkdir()
    os.chmod(ro, 0o555)
    return str(ro / "out.svg"), "readonly"


BAD_INPUT = [
    # id, record's arguments ({tmp} and {target} filled in), keyword
    ("unknown-format", ["-f", "png", "{target}"], "png"),
    ("rate-0", ["-r", "0", "{target}"], "rate"),
    ("rate-1001", ["-r", "1001", "{target}"], "rate"),
    ("rate-abc", ["-r", "abc", "{target}"], "abc"),
    ("duration-negative", ["-d", "-1", "{target}"], "duration"),
    ("duration-0", ["-d", "0", "{target}"], "duration"),
    ("duration-nan", ["-d", "nan", "{target}"], "duration"),
    ("budget-0", ["--budget", "0", "{target}"], "budget"),
    ("budget-1.5", ["--budget", "1.5", "{target}"], "budget"),
    ("budget-abc", ["--budget", "abc", "{target}"], "budget"),
    ("unknown-mode", ["--mode", "fast", "{target}"], "fast"),
    ("missing-script", ["{tmp}/nosuch.py"], "nosuch.py"),
    ("missing-module", ["-m", "no_such_module_xyz"], "no_such_module_xyz"),
    ("no-target", ["-r", "200"], "target"),
    ("output-dir-missing", ["-o", "{tmp}/missing/out.svg", "{target}"],
     "missing"),
    ("output-is-a-directory", ["-o", "{tmp}/adir", "{target}"], "adir"),
    ("output-dir-unwritable", ["-o", "{unwritable}", "{target}"],
     "{unwritable_name}"),
]


@pytest.mark.parametrize("args, keyword", [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_status_2_and_nothing_runs(
        tmp_path, script, args, keyword):
    marker = tmp_path / "target-ran"
    target = script("open(%r, 'w').close()\n" % str(marker))
    (tmp_path / "adir").mkdir()
    unwritable, unwritable_name = _unwritable_dir_case(tmp_path)
    fill = dict(tmp=str(tmp_path), target=target, unwritable=unwritable,
                unwritable_name=unwritable_name)
    args = [a.format(**fill) for a in args]
    keyword = keyword.format(**fill)
    before = {p: sorted(os.listdir(p)) for p in
              (tmp_path, tmp_path / "adir")}

    proc = record(*args, cwd=str(tmp_path))

    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stackwatch record: error: "), lines
    assert keyword in lines[0], lines
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not marker.exists(), "the target ran"
    assert {p: sorted(os.listdir(p)) for p in before} == before
    assert not os.path.exists(unwritable)


def test_the_bad_input_target_runs_with_good_input(tmp_path, script):
    """The control of the bad-input test's "nothing runs": with good
    arguments its target runs (and leaves its marker)."""
    marker = tmp_path / "target-ran"
    target = script("open(%r, 'w').close()\n" % str(marker))
    proc = record("-o", str(tmp_path / "out.txt"), target, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


def test_boundary_values_are_accepted(script):
    path = script("print('ran')\n")
    proc = record("-r", "1000", "--budget", "1", "-d", "30", "--mode", "gil",
                  "-o", os.devnull, path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"


# -- the command line --------------------------------------------------------

@pytest.mark.parametrize("args, usage, mentions", [
    ([], "usage: stackwatch", "record"),
    (["record"], "usage: stackwatch record", "-m module"),
    (["dump"], "usage: stackwatch dump", "PID"),
], ids=["stackwatch", "record", "dump"])
def test_help(args, usage, mentions):
    proc = run_cli(*args, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(usage), proc.stdout
    assert mentions in proc.stdout
    assert proc.stderr == ""


def test_help_after_the_script_goes_to_the_script(script):
    path = script("import sys\nprint(sys.argv[1:])\n")
    proc = record("-o", os.devnull, path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['--help']\n"


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "stackwatch %s\n" % importlib.metadata.version(
        "stackwatch")


def test_console_script_records_like_python_m(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "stackwatch")
    assert os.access(exe, os.X_OK), exe
    path = HOT
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    by_script = subprocess.run([exe, "record", *RATE, "-o", str(a), path],
                               capture_output=True, text=True, timeout=60,
                               env=child_env())
    by_module = record(*RATE, "-o", str(b), path)
    for proc in (by_script, by_module):
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "target done\n"
        assert "wrote collapsed stacks to" in proc.stderr
    check_collapsed(a.read_text())
    check_collapsed(b.read_text())


# -- what the profile says ------------------------------------------------

#: Three threads: MainThread and worker-1 spin, napper sleeps.
THREADS = target_path("record_threads")


def thread_samples(out):
    """{thread name: samples} of a collapsed profile split by thread."""
    names = {}
    for s, n in collapsed(out).items():
        name = re.sub(r" \(tid \d+\)$", "", s.split(";")[0])
        names[name] = names.get(name, 0) + n
    return names


def test_threads_option_puts_the_thread_name_first(tmp_path):
    path = THREADS
    out = tmp_path / "out.txt"
    proc = record(*RATE, "--threads", "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    names = thread_samples(out)
    assert {"MainThread", "worker-1", "napper"} <= set(names), names
    worker = {s: n for s, n in collapsed(out).items()
              if s.startswith("worker-1")}
    assert leaf_share(worker, "spin") > 0.8


def test_cpu_mode_leaves_out_a_thread_that_only_sleeps(tmp_path):
    path = THREADS
    wall, cpu = tmp_path / "wall.txt", tmp_path / "cpu.txt"
    for mode, out in (("wall", wall), ("cpu", cpu)):
        proc = record(*RATE, "--threads", "--mode", mode, "-o", str(out),
                      path)
        assert proc.returncode == 0, proc.stderr
    in_wall, in_cpu = thread_samples(wall), thread_samples(cpu)
    assert in_wall.get("napper", 0) > 50, in_wall  # it is there to leave out
    # At most a few samples while it starts (it uses CPU then).
    assert in_cpu.get("napper", 0) <= max(3, 0.05 * in_wall["napper"]), (
        in_cpu, in_wall)
    assert in_cpu.get("worker-1", 0) > 50, in_cpu


def test_summary_on_stderr_names_the_hot_function():
    path = HOT
    proc = record(*RATE, "-o", os.devnull, path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    head = [i for i, line in enumerate(lines)
            if "where the samples were" in line]
    assert head, proc.stderr
    top = lines[head[0] + 1]
    assert re.search(r"burn_cpu \(record_hot\.py:\d+\)", top), proc.stderr
    share = float(re.search(r"(\d+\.\d)%", top).group(1))
    assert share > 50, top


#: Runs code that may be allocated where code sampled just before was
#: freed (its docstring says how).
REUSE = target_path("record_code_reuse")


def test_samples_name_the_running_function_after_code_address_reuse(tmp_path):
    """Every sample taken during the call of burn_cpu names burn_cpu, even
    though a code object sampled just before was freed and its address may
    now hold burn_cpu's code."""
    path = REUSE
    call_line = line_of(REUSE, "HOT CALL")
    out = tmp_path / "out.txt"
    proc = record(*RATE, "-o", str(out), path)
    assert proc.returncode == 0, proc.stderr
    during_call = {s: n for s, n in collapsed(out).items()
                   if "(record_code_reuse.py:%d);" % call_line in s}
    assert sum(during_call.values()) > 100, during_call
    assert leaf_share(during_call, "burn_cpu") > 0.95, during_call
