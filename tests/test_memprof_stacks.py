"""Sampled allocation stacks (issue 14, stacks=True): the .stack files
name the allocating function and line, the weights of the live sampled
blocks estimate the live bytes, and a block freed by another thread is
freed in the file of the thread that allocated it."""
import json
import os
import sys

from conftest import line_of, run_target, target_path
from helpers.memfiles import by_thread_name, read_profile, read_stack, \
    the_pid_dir

MiB = 1024 * 1024


def _run(tmp_path):
    proc = run_target("mem_stacks", str(tmp_path), check=True)
    out = json.loads(proc.stdout)
    return the_pid_dir(tmp_path), os.path.realpath(out["file"])


def test_sampled_stacks_name_the_allocating_function(tmp_path):
    d, path = _run(tmp_path)
    h, stacks, live, events = read_stack(os.path.join(d, "builder.stack"))
    assert h["name"] == "builder" and int(h["native_id"]) > 0
    assert h["sample_interval"] == str(512 * 1024)
    build = "build (%s:%d)" % (path, line_of("mem_stacks", "build"))
    churn = "churn (%s:%d)" % (path, line_of("mem_stacks", "churn"))
    by_stack = {}
    for block, (sid, weight) in live.items():
        by_stack[sid] = by_stack.get(sid, 0) + weight
    # What is still live was made in build(), under builder(), root first.
    top = max(by_stack, key=by_stack.get)
    frames = stacks[top]
    assert build in frames, frames
    assert frames.index(build) > frames.index(
        "builder (%s:%d)" % (path, line_of("mem_stacks", "call-build")))
    # 100 MiB sampled about every 512 KiB: about 200 samples, the
    # estimate within 30% (more than four standard deviations).
    estimate = sum(by_stack.values())
    assert 0.7 * 100 * MiB < estimate < 1.3 * 100 * MiB, estimate
    # churn()'s blocks were sampled too, and all freed (by the eater).
    churn_stacks = {sid for sid, frames in stacks.items()
                    if any(f.startswith("churn.<locals>") or f == churn
                           for f in frames)}
    assert churn_stacks
    churned = [b for k, t, b in events if k == "+"]
    assert len(churned) > 200
    still = [stacks[sid] for sid, _ in live.values() if sid in churn_stacks]
    if sys.version_info < (3, 11):
        # The comprehension's frame, made when churn() calls it (its
        # stack ends in churn itself), is kept by its code object for its
        # next call (3.9/3.10 "zombie" frames): sampled, it stays live.
        # What the comprehension made (the bytes) is all freed.
        still = [fr for fr in still if fr[-1] != churn]
    assert not still, still


def test_blocks_freed_by_another_thread_are_freed_in_the_owner_file(
        tmp_path):
    d, path = _run(tmp_path)
    _, _, _, events = read_stack(os.path.join(d, "builder.stack"))
    freed = [b for k, t, b in events if k == "-"]
    assert len(freed) > 40  # 40 MiB freed by the eater: about 80 samples
    eater = os.path.join(d, "eater.stack")
    if os.path.exists(eater):
        _, _, _, eater_events = read_stack(eater)
        assert not any(b in freed for _, _, b in eater_events)
    # The counters agree: the eater's frees count for the builder.
    last = by_thread_name(read_profile(d))
    assert last["eater"]["py_free"] < MiB
    assert last["builder"]["py_free"] > 39 * MiB


def test_no_stack_files_without_stacks(tmp_path):
    run_target("mem_threads", str(tmp_path), "disable", check=True)
    assert not [f for f in os.listdir(the_pid_dir(tmp_path))
                if f.endswith(".stack")]
