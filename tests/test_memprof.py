"""The memory profiler's engine and API (issue 14): per-thread counters
through Python's allocators, blocks freed by another thread, complete
files at disable/exit/Ctrl-C, the allocators put back exactly."""
import json
import os
import signal
import subprocess

import pytest

from conftest import child_env, run_target, target_cmd
from helpers.memfiles import by_thread_name, read_mem, read_profile, \
    read_stack, the_pid_dir

MiB = 1024 * 1024


def _within(value, expected, share=0.05):
    return abs(value - expected) <= expected * share


@pytest.mark.parametrize("how", ["disable", "exit"])
def test_threads_counted_within_5_percent(tmp_path, how):
    proc = run_target("mem_threads", str(tmp_path), how, check=True)
    assert "ready" in proc.stdout
    prof = read_profile(the_pid_dir(tmp_path))
    last = by_thread_name(prof)
    assert _within(last["big"]["py_live"], 100 * MiB), last["big"]
    assert _within(last["small"]["py_live"], 10 * MiB), last["small"]
    assert _within(last["big"]["py_alloc"], 100 * MiB), last["big"]
    # The process's columns are the sums of the threads'.
    h, rows = prof["process.mem"]
    assert h["pid"] == os.path.basename(the_pid_dir(tmp_path))
    assert h["profile"] == "both"  # the default
    for col in ("py_alloc", "py_free", "c_alloc", "c_free"):
        assert rows[-1][col] == sum(r[col] for r in last.values())
    assert rows[-1]["rss"] > 100 * MiB
    # What Python's allocators took from the C library is not counted
    # again as C memory.
    assert all(r["c_live"] < MiB // 4 for r in last.values()), last


def test_block_freed_by_another_thread_counts_for_its_allocator(tmp_path):
    run_target("mem_threads", str(tmp_path), "disable", check=True)
    last = by_thread_name(read_profile(the_pid_dir(tmp_path)))
    producer, consumer = last["producer"], last["consumer"]
    # 20 MiB allocated by the producer, freed by the consumer.
    assert _within(producer["py_alloc"], 20 * MiB), producer
    assert _within(producer["py_free"], 20 * MiB), producer
    assert producer["py_live"] < MiB // 4, producer
    assert consumer["py_free"] < MiB // 4, consumer
    assert consumer["py_alloc"] < MiB // 4, consumer


def test_thread_files_have_their_headers(tmp_path):
    run_target("mem_threads", str(tmp_path), "disable", check=True)
    d = the_pid_dir(tmp_path)
    h, rows = read_mem(os.path.join(d, "big.mem"))
    assert h["name"] == "big" and int(h["native_id"]) > 0
    assert h["columns"] == ("t py_live c_live py_alloc py_free c_alloc "
                            "c_free")
    assert len(rows) >= 2  # the first line and the last at least


def test_keyboard_interrupt_leaves_complete_files(tmp_path):
    proc = run_target("mem_threads", str(tmp_path), "interrupt")
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in proc.stderr
    prof = read_profile(the_pid_dir(tmp_path))  # every file has # end
    assert _within(by_thread_name(prof)["big"]["py_live"], 100 * MiB)


def test_ctrl_c_leaves_complete_files(tmp_path):
    proc = subprocess.Popen(target_cmd("mem_sleeper", str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err)
    prof = read_profile(the_pid_dir(tmp_path))  # every file has # end
    # 30 MiB kept, and what the interpreter keeps of the KeyboardInterrupt
    # (3.13+ import modules to print the traceback: a few MiB).
    assert 30 * MiB <= by_thread_name(prof)["MainThread"]["py_live"] < \
        40 * MiB


@pytest.mark.parametrize("mode", ["under", "over"])
def test_allocators_put_back_exactly(tmp_path, mode):
    proc = run_target("mem_uninstall", str(tmp_path), mode, check=True)
    out = json.loads(proc.stdout)
    assert out["during"] != out["before"]  # ours in front
    assert out["tracemalloc_grew"] >= 256 * 4096  # tracemalloc still counts
    last = by_thread_name(read_profile(the_pid_dir(tmp_path)))["MainThread"]
    # 10 MiB allocated before enable() and freed during the profile are
    # not counted as freed; the 5 MiB allocated during it are live.
    assert last["py_free"] < MiB, last
    assert _within(last["py_live"], 5 * MiB), last
    if mode == "under":
        assert out["after"] == out["before"]
        assert out["stats"]["hooked"] == 0
    else:
        # tracemalloc went on top of ours: ours stays under it, passing
        # through, and the next profile uses it again (not twice).
        assert out["stats"]["hooked"] == 3
        assert out["second_during"] == out["after"]
        assert out["second_after"] == out["after"]
        second = by_thread_name(read_profile(out["second_dir"]))
        assert _within(second["MainThread"]["py_live"], MiB, 0.1)


@pytest.mark.parametrize("follow", [True, False])
def test_forked_child_gets_its_own_directory(tmp_path, follow):
    proc = run_target("mem_fork", str(tmp_path),
                      "follow" if follow else "nofollow", check=True)
    pids = json.loads(proc.stdout)
    parent = read_profile(os.path.join(str(tmp_path), str(pids["parent"])))
    last = by_thread_name(parent)
    # The parent's files are the parent's alone.
    assert "child-worker" not in last
    assert _within(last["parent-worker"]["py_live"], 10 * MiB)
    assert parent["process.mem"][0]["pid"] == str(pids["parent"])
    child_dir = os.path.join(str(tmp_path), str(pids["child"]))
    if not follow:
        assert not os.path.exists(child_dir)
        return
    child = read_profile(child_dir)  # complete: # end at the child's exit
    assert child["process.mem"][0]["pid"] == str(pids["child"])
    clast = by_thread_name(child)
    assert _within(clast["child-worker"]["py_live"], 20 * MiB), clast
    assert "parent-worker" not in clast
    assert os.path.exists(os.path.join(child_dir, "child-worker.stack"))


def test_threadgraph_spelling(tmp_path):
    run_target("mem_seed", str(tmp_path), check=True)
    d = the_pid_dir(tmp_path)
    last = by_thread_name(read_profile(d))
    assert _within(last["MainThread"]["py_live"], 30 * MiB)
    _, stacks, live, _ = read_stack(os.path.join(d, "MainThread.stack"))
    assert any("main (" in ";".join(stacks[sid]) for sid, _ in
               live.values())


def test_raw_allocations_without_the_gil_from_many_threads(tmp_path):
    proc = run_target("mem_raw", str(tmp_path), check=True)
    assert proc.stdout.strip() == "ok"
    d = the_pid_dir(tmp_path)
    last = by_thread_name(read_profile(d))
    for name in ("maker-1", "maker-2"):
        m = last[name]
        # 4000 blocks of 5000 bytes, half freed by the freer thread.
        # (ctypes makes a few Python objects per call: within 2 MiB.)
        assert 4000 * 5000 <= m["py_alloc"] < 4000 * 5000 + 2 * MiB, m
        assert 2000 * 5000 <= m["py_free"] < 2000 * 5000 + 2 * MiB, m
        assert _within(m["py_live"], 2000 * 5000), m
    assert last["freer"]["py_free"] < MiB
    churner = last["churner"]
    assert churner["py_alloc"] >= 10000 * 3000
    assert churner["py_live"] < MiB
    # Stacks were taken without the GIL: the makers' name the function.
    _, stacks, live, _ = read_stack(os.path.join(d, "maker-1.stack"))
    assert any(any(f.startswith("maker (") for f in frames)
               for frames in stacks.values()), stacks


@pytest.mark.parametrize("stacks", ["counters", "stacks"])
def test_two_profiles_in_a_row_count_each_its_own_blocks(tmp_path, stacks):
    # The counters' fast paths rely on what each thread remembers (its
    # slot, the granule map's leaves it used last): a second profile in
    # the same thread must start afresh, and blocks of the first profile
    # freed in the second must not be counted there.
    one, two = tmp_path / "one", tmp_path / "two"
    proc = run_target("mem_two_profiles", str(one), str(two), stacks,
                      check=True)
    assert proc.stdout.strip() == "ok"
    block = 65536
    # ctypes' own objects per call: well under 1 MiB in all.
    slack = MiB
    w1 = by_thread_name(read_profile(the_pid_dir(one)))["worker"]
    assert 600 * block <= w1["py_alloc"] < 600 * block + slack, w1
    assert 100 * block <= w1["py_free"] < 100 * block + slack, w1
    assert 500 * block - slack < w1["py_live"] <= 500 * block + slack, w1
    last2 = by_thread_name(read_profile(the_pid_dir(two)))
    w2 = last2["worker"]
    big = 1 << 20
    assert 200 * block + big <= w2["py_alloc"] < 200 * block + big + slack, \
        w2
    # 150 freed by itself, 50 by the main thread; the 500 of profile 1
    # are not this profile's.
    assert 200 * block + big <= w2["py_free"] < 200 * block + big + slack, \
        w2
    assert w2["py_live"] < slack, w2
    assert last2["MainThread"]["py_free"] < slack, last2["MainThread"]


@pytest.mark.parametrize("hook", ["on", "off"])
def test_side_table_follows_arenas_freed_at_new_addresses(tmp_path, hook):
    # Eight rounds of ~32 MiB of small objects (whole pymalloc arenas),
    # dropped, and their address space then reserved so that the next
    # round's arenas are mapped elsewhere (issue 14: the granule map kept
    # the pages of every address range pymalloc had used).
    proc = run_target("mem_arenas", str(tmp_path), hook, check=True)
    out = json.loads(proc.stdout)
    assert len(out["table"]) == 8
    # The arenas did move: most of each round's address space is new.
    assert max(out["reused"]) < 0.5, out["reused"]
    if hook == "on":
        assert out["arena_hooked"] == 1
        assert out["arenas_freed"] >= 8 * 16, out  # 32 MiB is 32+ arenas
        assert out["table_given"] >= 8 * 4 * MiB, out
        # One round's objects need ~8 MiB of words while they live; once
        # they are freed the table keeps well under that, every round.
        assert max(out["table"]) < 6 * MiB, out["table"]
    else:
        # Without the arena hook (the profiler before the fix) the table
        # keeps the words of every round's arenas: what the bound above
        # rules out.
        assert out["arena_hooked"] == 0 and out["table_given"] == 0
        assert out["table"][-1] > 40 * MiB, out["table"]


def test_arena_hook_chained_and_put_back(tmp_path):
    proc = run_target("mem_arena_chain", str(tmp_path), check=True)
    out = json.loads(proc.stdout)
    assert out["during"] != out["before"]  # ours in front
    assert out["wrapped_stats"]["arenas_freed"] > 0  # seen under the other
    # Another hook over ours at disable(): ours stays, passing through.
    assert out["stopped_under"] != out["before"]
    assert out["stopped_stats"]["arena_hooked"] == 1
    assert out["wrap_frees"] > 0
    assert out["unwrapped"] == out["during"]  # ours, on top again
    # The next profile reuses it (not stacked twice) and puts the
    # original back at the end.
    assert out["second_during"] == out["during"]
    assert out["second_stats"]["arenas_freed"] > 0
    assert out["after"] == out["before"]
    assert out["after_stats"]["arena_hooked"] == 0
