"""The slow-script log's size cap (`stackwatch run --log-max`): past it
the log becomes PATH.1 (one backup) and a new log starts; and a private
temporary log still empty at exit is removed."""

import os
import re
import stat

import pytest

from conftest import child_env, run_cli, target_path

BUSY = target_path("slowlog_rot_busy")


def numbers(path):
    with open(path) as f:
        return [int(n) for n in re.findall(
            r"^==== stackwatch snapshot (\d+) at ", f.read(), re.M)]


def test_log_rotates_at_its_cap(tmp_path):
    log = tmp_path / "slow.log"
    proc = run_cli("run", "--interval", "0.05", "--log", str(log),
                   "--log-max", "16K", BUSY, "1.2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    total = int(re.search(r"\[stackwatch\] (\d+) snapshots written to %s "
                          r"\(the older ones to %s\.1\)\n"
                          % (re.escape(str(log)), re.escape(str(log))),
                          proc.stderr).group(1))
    assert sorted(os.listdir(tmp_path)) == ["slow.log", "slow.log.1"]
    for path in (log, str(log) + ".1"):
        assert 0 < os.path.getsize(path) <= 16 * 1024, path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    old, new = numbers(str(log) + ".1"), numbers(log)
    # Whole snapshots, in order, the newest in the log; only one backup,
    # so the first ones are gone.
    assert len(old) >= 2 and new, (old, new)
    assert old + new == list(range(old[0], total + 1)), (old, new)
    assert old[0] > 1


def test_no_cap(tmp_path):
    log = tmp_path / "slow.log"
    proc = run_cli("run", "--interval", "0.05", "--log", str(log),
                   "--log-max", "off", BUSY, "0.6")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path) == ["slow.log"]
    assert numbers(log)[0] == 1 and os.path.getsize(log) > 16 * 1024


@pytest.mark.parametrize("value, message", [
    ("10Q", "--log-max must be a size (bytes, or 512K, 10M...; 0 or off: "
            "no cap), not '10Q'"),
    ("lots", "--log-max must be a size (bytes, or 512K, 10M...; 0 or off: "
             "no cap), not 'lots'"),
    ("100", "--log-max must be at least 1K (or 0 or off: no cap), not "
            "'100'"),
])
def test_bad_cap_is_one_line(tmp_path, value, message):
    proc = run_cli("run", "--log-max", value, BUSY, "0",
                   env=child_env(TMPDIR=str(tmp_path)))
    assert proc.returncode == 2
    assert proc.stderr == "stackwatch run: error: %s\n" % message
    assert proc.stdout == "" and os.listdir(tmp_path) == []


def test_empty_temporary_log_is_removed(tmp_path):
    proc = run_cli("run", BUSY, "0", env=child_env(TMPDIR=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    path = re.search(r"Writing output to: (.+)\n", proc.stderr).group(1)
    assert os.path.dirname(path) == str(tmp_path)
    assert ("[stackwatch] The script ended before the first snapshot "
            "(5.000000 seconds); the empty log %s was removed\n" % path
            ) in proc.stderr
    assert os.listdir(tmp_path) == []


def test_empty_log_named_by_log_is_kept(tmp_path):
    log = tmp_path / "mine.log"
    proc = run_cli("run", "--log", str(log), BUSY, "0")
    assert proc.returncode == 0, proc.stderr
    assert ("[stackwatch] The script ended before the first snapshot "
            "(5.000000 seconds); the log %s is empty\n" % log) in proc.stderr
    assert os.path.getsize(log) == 0


def test_cap_setting():
    from stackwatch import slowlog
    assert slowlog.max_size_setting(None) == 10 << 20
    assert slowlog.max_size_setting("10M") == 10 << 20
    assert slowlog.max_size_setting("512K") == 512 << 10
    assert slowlog.max_size_setting("2048") == 2048
    assert slowlog.max_size_setting(4096) == 4096
    assert slowlog.max_size_setting("off") == 0
    assert slowlog.max_size_setting(0) == 0
    with pytest.raises(ValueError, match="max_size must be at least 1K"):
        slowlog.max_size_setting(1000)
