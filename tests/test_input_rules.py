"""Input rules of the command line and the API (issue 12, items 7, 8,
11): an output name whose extension promises another format is refused
unless the format is given; every bad option value, of every
subcommand, is one line naming the option, exit status 2, nothing run;
the record summary says in words what the profile misses."""

import json
import os
import re

import pytest

from conftest import child_env, run_cli, run_target, target_path


def _one_line_error(proc, command, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stackwatch %s: error: " % command), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in proc.stderr


# ---- 7. output names and formats --------------------------------------------

@pytest.mark.parametrize("name", ["out.pdf", "out.png", "out.svg.bak",
                                  "out.html"])
def test_record_refuses_an_extension_of_no_format(tmp_path, script, name):
    marker = tmp_path / "ran"
    target = script("open(%r, 'w').close()\n" % str(marker))
    proc = run_cli("record", "-o", str(tmp_path / name), target,
                   cwd=str(tmp_path))
    _one_line_error(proc, "record", "-o/--output", "unknown extension",
                    os.path.splitext(name)[1], "-f")
    assert not marker.exists(), "the target ran"
    assert not (tmp_path / name).exists()


def test_record_with_a_format_takes_any_name(tmp_path, script):
    target = script("print('ran')\n")
    out = tmp_path / "out.pdf"
    proc = run_cli("record", "-f", "collapsed", "-o", str(out), target)
    assert proc.returncode == 0, proc.stderr
    assert "wrote collapsed stacks to %s" % out in proc.stderr
    assert not out.read_text().startswith("<")


@pytest.mark.parametrize("name, start", [
    ("profile", "<?xml"), ("out.JSON", "{"), ("out.folded", ""),
    ("out.Svg", "<?xml")])
def test_record_format_from_a_known_extension_or_none(tmp_path, script,
                                                      name, start):
    target = script("print('ran')\n")
    out = tmp_path / name
    proc = run_cli("record", "-o", str(out), target)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith(start)


def test_profiler_write_refuses_an_extension_of_no_format(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = run_target("input_write_extensions", str(out), check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, ext in (("x.pdf", "'.pdf'"), ("x.PNG", "'.PNG'"),
                      ("x.svg.bak", "'.bak'")):
        assert got[name].startswith("ValueError: unknown extension %s: "
                                    "use .svg, .json" % ext), got[name]
        assert got[name].endswith("or give the format with format="), got
    assert got["x.JSON"] == "speedscope"
    assert got["x.folded"] == "collapsed"
    assert got["noext"] == "svg" and got["noext starts"].startswith("<?xml")
    assert got["forced.pdf as collapsed"] == "collapsed"
    # Nothing written for a refused name.
    assert got["files"] == ["forced.pdf", "noext", "x.JSON", "x.folded"]


# ---- 8. every bad option value: one line, status 2, its name ----------------

BAD_VALUES = [
    # command, arguments (the target is added for record and run), the
    # words the one line must have
    ("record", ["-r", "0"], ["--rate"]),
    ("record", ["-r", "-5"], ["--rate"]),
    ("record", ["-r", "1001"], ["--rate"]),
    ("record", ["-r", "abc"], ["--rate", "abc"]),
    ("record", ["-r", "nan"], ["--rate"]),
    ("record", ["--budget", "0"], ["--budget"]),
    ("record", ["--budget", "-0.5"], ["--budget"]),
    ("record", ["--budget", "2"], ["--budget"]),
    ("record", ["--budget", "abc"], ["--budget"]),
    ("record", ["-d", "0"], ["--duration"]),
    ("record", ["-d", "-1"], ["--duration"]),
    ("record", ["-d", "abc"], ["--duration"]),
    ("record", ["--signal", "0"], ["--signal"]),
    ("record", ["--signal", "-3"], ["--signal"]),
    ("record", ["--signal", "NOSUCH"], ["--signal", "NOSUCH"]),
    ("record", ["--signal", "KILL"], ["--signal"]),
    ("record", ["--mode", "fast"], ["--mode", "fast"]),
    ("record", ["-f", "pdf"], ["--format", "pdf"]),
    ("record", ["-o", ""], ["-o/--output", "empty"]),
    ("record", ["-o", "x.pdf"], ["-o/--output", ".pdf"]),
    ("run", ["--interval", "0"], ["--interval", "'off'"]),
    ("run", ["--interval", "0.0"], ["--interval"]),
    ("run", ["--interval", "0.001"], ["--interval"]),
    ("run", ["--interval", "-1"], ["--interval"]),
    ("run", ["--interval", "abc"], ["--interval", "abc"]),
    ("run", ["--interval", "nan"], ["--interval"]),
    ("run", ["--interval", "1e9"], ["--interval"]),
    ("run", ["--max-blocking-time", "0"], ["--max-blocking-time", "'off'"]),
    ("run", ["--max-blocking-time", "-1"], ["--max-blocking-time"]),
    ("run", ["--max-blocking-time", "abc"], ["--max-blocking-time"]),
    ("run", ["--max-blocking-time", "1e300"], ["--max-blocking-time"]),
    ("run", ["--memory-period", "0"], ["--memory-period"]),
    ("run", ["--memory-period", "-1"], ["--memory-period"]),
    ("run", ["--memory-period", "abc"], ["--memory-period"]),
    ("run", ["--memory-period", "1e300", "--max-memory", "1GB"],
     ["--memory-period"]),
    ("run", ["--max-memory", "0"], ["--max-memory"]),
    ("run", ["--max-memory", "-5"], ["--max-memory"]),
    ("run", ["--max-memory", "lots"], ["--max-memory", "lots"]),
    ("run", ["--gil-wait", "-1"], ["--gil-wait"]),
    ("run", ["--gil-wait", "61"], ["--gil-wait"]),
    ("run", ["--gil-wait", "abc"], ["--gil-wait", "abc"]),
    ("run", ["--gil-wait", "nan"], ["--gil-wait"]),
    ("run", ["--signal", "0"], ["--signal"]),
    ("run", ["--signal", "NOSUCH"], ["--signal", "NOSUCH"]),
    ("run", ["--report", ""], ["--report", "empty"]),
    ("run", ["--log", ""], ["--log", "empty"]),
    ("dump", ["-5"], ["PID", "-5"]),
    ("dump", ["0"], ["PID", "'0'"]),
    ("dump", ["abc"], ["PID", "abc"]),
    ("dump", ["99999999999"], ["PID", "99999999999"]),
    ("dump", ["--timeout", "0", "1"], ["--timeout"]),
    ("dump", ["--timeout", "-1", "1"], ["--timeout"]),
    ("dump", ["--timeout", "abc", "1"], ["--timeout", "abc"]),
    ("dump", ["--signal", "NOSUCH", "1"], ["--signal", "NOSUCH"]),
    ("dump", ["--signal", "0", "1"], ["--signal"]),
]


@pytest.mark.parametrize(
    "command, args, words", BAD_VALUES,
    ids=["%s %s" % (c, " ".join(a) or "''") for c, a, _ in BAD_VALUES])
def test_bad_values_are_one_line_naming_the_option_status_2(
        tmp_path, script, command, args, words):
    marker = tmp_path / "ran"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    target = [] if command == "dump" else [
        script("open(%r, 'w').close()\n" % str(marker))]
    before = sorted(os.listdir(str(tmp_path)))
    proc = run_cli(command, *args, *target, cwd=str(tmp_path),
                   env=child_env(TMPDIR=str(tmp)))
    _one_line_error(proc, command, *words)
    assert not marker.exists(), "the target ran"
    assert os.listdir(str(tmp)) == []  # no slow-script log left behind
    assert sorted(os.listdir(str(tmp_path))) == before  # nor a profile


def test_no_command_is_one_line_status_2():
    proc = run_cli()
    assert proc.returncode == 2
    assert proc.stderr.startswith("stackwatch: error: no command")
    assert len(proc.stderr.splitlines()) == 1


def test_off_words_still_turn_settings_off(tmp_path, script):
    """'off' is how a setting is turned off (0 no longer is): no log, no
    blocking watch, and the target runs."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    target = script("print('ran')\n")
    proc = run_cli("run", "--interval", "off", "--max-blocking-time", "off",
                   "--gil-wait", "0", target,
                   env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"
    assert proc.stderr == ""
    assert os.listdir(str(tmp)) == []


# ---- 11. what the record summary says the profile misses --------------------

SUMMARY = re.compile(
    r"^\[stackwatch\] (\d+) samples in [0-9.]+ s \([0-9.]+ Hz effective, "
    r"wall mode, (\d+) threads\); (\d+) stacks? (?:\(([0-9.]+)%\) )?left "
    r"out of the profile \(changed while being read\)(?:, \d+ ticks? "
    r"missed \(the sampler could not run then\))?; sampler CPU "
    r"[0-9.]+ s$", re.M)


def test_record_summary_says_what_the_profile_misses(tmp_path):
    proc = run_cli("record", "-r", "1000", "-o", os.devnull,
                   target_path("input_threads_churn"), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "read errors" not in proc.stderr
    m = SUMMARY.search(proc.stderr)
    assert m, proc.stderr
    samples, threads, torn = int(m.group(1)), int(m.group(2)), \
        int(m.group(3))
    assert threads == 5 and samples > 100, m.group(0)
    # Sensible: a few stacks of busy threads are torn, never most.
    assert 0 <= torn < samples / 2, m.group(0)
    if torn:
        assert float(m.group(4)) == round(100.0 * torn / (torn + samples),
                                          1), m.group(0)
    else:
        assert m.group(4) is None


def test_summary_words_for_lost_samples():
    from stackwatch.cli import _left_out
    st = {"bad_frames": 1, "bad_threads": 0, "samples": 99, "dropped": 0}
    assert _left_out(st) == ("1 stack (1.0%) left out of the profile "
                             "(changed while being read)")
    st.update(bad_frames=0, dropped=7)
    assert _left_out(st) == ("0 stacks left out of the profile (changed "
                             "while being read), 7 samples lost (the "
                             "profile's tables are full)")
    st.update(dropped=0, missed=3)
    assert _left_out(st) == ("0 stacks left out of the profile (changed "
                             "while being read), 3 ticks missed (the "
                             "sampler could not run then)")
