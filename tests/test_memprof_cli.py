"""`stackwatch mem record` (issue 14): runs the target as `record` does,
leaves complete files at exit and at Ctrl-C; bad input in one line."""
import os
import signal
import subprocess

import pytest

from conftest import child_env, run_cli, stackwatch_cmd, target_path
from helpers.memfiles import by_thread_name, read_profile, read_stack, \
    the_pid_dir

MiB = 1024 * 1024


def test_mem_record_runs_the_script_with_its_arguments(tmp_path):
    out = tmp_path / "prof"
    proc = run_cli("mem", "record", "-o", str(out), "--interval", "0.05",
                   target_path("mem_alloc"), "-x", "--y", "3")
    assert proc.returncode == 3, proc.stderr
    assert "argv ['-x', '--y', '3']" in proc.stdout
    d = the_pid_dir(out)
    assert "memory profile in %s" % d in proc.stderr
    prof = read_profile(d)
    assert prof["process.mem"][0]["interval"] == "0.05"
    worker = by_thread_name(prof)["worker"]
    assert abs(worker["py_live"] - 30 * MiB) < 0.05 * 30 * MiB, worker


def test_mem_record_stacks(tmp_path):
    out = tmp_path / "prof"
    proc = run_cli("mem", "record", "-o", str(out), "--stacks",
                   "--sample-interval", "65536", target_path("mem_alloc"),
                   "0")
    assert proc.returncode == 0, proc.stderr
    h, stacks, live, _ = read_stack(os.path.join(the_pid_dir(out),
                                                 "worker.stack"))
    assert h["sample_interval"] == "65536"
    assert any(any(f.startswith("work (") for f in frames)
               for frames in stacks.values())
    # 30 MiB in about 480 samples: the estimate within 20%.
    estimate = sum(w for _, w in live.values())
    assert 0.8 * 30 * MiB < estimate < 1.2 * 30 * MiB, estimate


def test_mem_record_runs_a_module(tmp_path):
    out = tmp_path / "prof"
    env = child_env(PYTHONPATH=os.path.dirname(target_path("mem_alloc")) +
                    os.pathsep + child_env()["PYTHONPATH"])
    proc = run_cli("mem", "record", "-o", str(out), "-m", "mem_alloc", "0",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    assert "argv ['0']" in proc.stdout
    assert "worker" in by_thread_name(read_profile(the_pid_dir(out)))


def test_mem_record_ctrl_c_leaves_complete_files(tmp_path):
    out = tmp_path / "prof"
    proc = subprocess.Popen(
        stackwatch_cmd("mem", "record", "-o", str(out),
                       target_path("mem_alloc"), "sleep"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env())
    try:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err
    worker = by_thread_name(read_profile(the_pid_dir(out)))["worker"]
    assert worker["py_live"] > 29 * MiB


def test_stackwatchs_own_threads_are_not_in_the_profile(tmp_path):
    # The service thread answers dumps (and names the files' threads): it
    # is stackwatch's, not the program's, so it gets no file.
    out = tmp_path / "prof"
    proc = subprocess.Popen(
        stackwatch_cmd("mem", "record", "-o", str(out), "--interval",
                       "0.02", target_path("mem_alloc"), "sleep"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env())
    try:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        for _ in range(3):
            dump = run_cli("dump", "--locals", str(proc.pid))
            assert dump.returncode == 0, dump.stderr
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    d = the_pid_dir(out)
    assert "worker.mem" in os.listdir(d)
    ours = [f for f in os.listdir(d) if f.startswith("stackwatch")]
    assert not ours, ours


def test_mem_record_sigterm_leaves_complete_files(tmp_path):
    out = tmp_path / "prof"
    proc = subprocess.Popen(
        stackwatch_cmd("mem", "record", "-o", str(out),
                       target_path("mem_alloc"), "sleep"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env())
    try:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    read_profile(the_pid_dir(out))  # every file ends with # end


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: -o/--output"),
    (["-o", "{file}"], "argument -o/--output: {file} is not a directory"),
    (["-o", "{dir}", "no-such-script.py"], "can't open file"),
    (["-o", "{dir}", "--profile", "gc"], "argument --profile: invalid "
                                         "choice"),
    (["-o", "{dir}", "--interval", "0"], "argument --interval"),
    (["-o", "{dir}", "--interval", "x"], "argument --interval"),
    (["-o", "{dir}", "--sample-interval", "0"], "argument --sample-interval"),
    (["-o", "{dir}", "--sample-interval", "1k"],
     "argument --sample-interval"),
    (["-o", "{dir}"], "no target: give a script or -m module"),
])
def test_mem_record_bad_input_is_one_line(tmp_path, args, message):
    afile = tmp_path / "afile"
    afile.write_text("")
    fill = {"file": str(afile), "dir": str(tmp_path / "prof")}
    args = [a.format(**fill) for a in args]
    if "can't open" not in message and "no target" not in message:
        args.append(target_path("mem_alloc"))
    proc = run_cli("mem", "record", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("stackwatch mem record: error: ")
    assert message.format(**fill) in lines[0]
    assert not (tmp_path / "prof").exists()  # nothing made on bad input


def test_mem_without_subcommand_is_one_line():
    proc = run_cli("mem")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("stackwatch mem: error: no subcommand: "
                                   "give record, graph, peaks, report")


@pytest.mark.parametrize("profile", ["python", "both"])
def test_mem_record_profile_c_counts_a_c_library(tmp_path, profile):
    out = tmp_path / "prof"
    proc = run_cli("mem", "record", "-o", str(out), "--profile", profile,
                   target_path("mem_sqlite"))
    assert proc.returncode == 0, proc.stderr
    prof = read_profile(the_pid_dir(out))
    assert prof["process.mem"][0]["profile"] == profile
    sq = by_thread_name(prof)["csqlite"]
    if profile == "both":
        assert sq["c_live"] > 16 * MiB, sq  # libsqlite3's pages
    else:
        assert sq["c_alloc"] == 0, sq
