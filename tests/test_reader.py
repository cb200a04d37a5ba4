"""The GIL-free reader against what the interpreter says about itself:
stacks, qualified names, line numbers of every instruction, versions."""

import dis
import glob
import os
import runpy
import subprocess
import sys
import threading
import traceback
import types

import pytest

import stackwatch
from stackwatch import _native

from conftest import ROOT, run_py, run_target

VERSIONS = runpy.run_path(os.path.join(ROOT, "src", "stackwatch",
                                       "_versions.py"))


def test_info_names_the_interpreter_and_the_read_method():
    info = _native.info()
    assert info["python"] == sys.version.split()[0]
    assert info["read_method"] in ("process_vm_readv", "pipe")


def outer():
    return middle()


def middle():
    return inner()


def inner():
    return _native._test_read_own_stack(), traceback.extract_stack()


class Holder:
    def method(self):
        return outer()


def blocked_in(event):
    event.wait()  # crossed-blocked


def test_a_walk_led_into_another_threads_frames_is_torn():
    # A frame pointer read while its thread's stack changes can lead into
    # another thread's frames, a whole stack down to that thread's root:
    # its frames lie outside every chunk of the walked thread's data
    # stack (3.11+; frame objects of 3.9/3.10 belong to no thread).
    if _native.info()["frame_model"] != 2:
        pytest.skip("frame objects: not in a data stack")
    other_waits, got = threading.Event(), []
    other = threading.Thread(target=blocked_in, args=(other_waits,))
    other.start()
    try:
        while not any("crossed-blocked" in line for line in
                      traceback.format_stack(
                          sys._current_frames()[other.ident])):
            threading.Event().wait(0.01)

        def walk():
            got.append(_native._test_read_crossed(threading.get_ident(),
                                                  other.ident))
        t = threading.Thread(target=walk)  # a shallow stack of its own
        t.start()
        t.join()
    finally:
        other_waits.set()
        other.join()
    n, torn = got[0]
    assert torn, n


def test_own_stack_matches_traceback():
    native, api = Holder().method()
    api = list(reversed(api))  # innermost first, like the native reader
    assert len(native) == len(api)
    for (name, file, line), want in zip(native, api):
        assert file == want.filename
        assert line == want.lineno
        # Code objects carry qualified names from 3.11 on.
        assert name.rsplit(".", 1)[-1] == want.name
    if sys.version_info >= (3, 11):
        assert [n for n, _, _ in native[:4]] == [
            "inner", "middle", "outer", "Holder.method"]


def expected_lines(code):
    """{byte offset: line} as the interpreter maps them."""
    lines = {}
    if hasattr(code, "co_lines"):
        for start, end, line in code.co_lines():
            for off in range(start, end, 2):
                lines[off] = -1 if line is None else line
    else:  # 3.9: the line of an offset is the last line start before it
        starts = list(dis.findlinestarts(code))
        for off in range(0, len(code.co_code), 2):
            line = code.co_firstlineno
            for start, ln in starts:
                if start > off:
                    break
                line = ln
            lines[off] = line
    return lines


def all_code(obj, seen):
    if isinstance(obj, types.CodeType) and id(obj) not in seen:
        seen.add(id(obj))
        yield obj
        for c in obj.co_consts:
            yield from all_code(c, seen)


def test_line_numbers_of_every_instruction_match_the_interpreter():
    # Every code object of a few big modules, every instruction.
    import asyncio.base_events, json.decoder, threading as th, argparse
    checked = 0
    for mod in (asyncio.base_events, json.decoder, th, argparse, dis):
        with open(mod.__file__) as f:
            top = compile(f.read(), mod.__file__, "exec")
        for code in all_code(top, set()):
            native = _native._test_code_lines(code)
            want = expected_lines(code)
            for i, line in enumerate(native):
                if 2 * i in want:
                    assert line == want[2 * i], (code, 2 * i)
                    checked += 1
    assert checked > 20000


def test_threads_are_read_with_names_native_ids_and_the_gil():
    ready = threading.Event()
    done = threading.Event()

    def waiter():
        ready.set()
        done.wait()

    t = threading.Thread(target=waiter, name="reader-test-waiter")
    t.start()
    ready.wait()
    try:
        text = stackwatch.dump(file=open(os.devnull, "w"))
    finally:
        done.set()
        t.join()
    blocks = text.split("\n\n")
    mine = [b for b in blocks if '"reader-test-waiter"' in b]
    assert len(mine) == 1
    assert "tid %d" % t.native_id in mine[0]
    assert "waiting or idle" in mine[0]
    assert "waiter (" in mine[0]
    main = [b for b in blocks if '"MainThread"' in b]
    assert len(main) == 1
    assert "holds the GIL" in main[0]
    assert "test_threads_are_read_with_names_native_ids_and_the_gil" in main[0]


def test_fallback_read_method_works_too():
    proc = run_target("reader_fallback",
                      env=dict(os.environ, STACKWATCH_READ_METHOD="pipe"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "f"


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason="_PyRuntime.debug_offsets exists from 3.13")
@pytest.mark.parametrize("field, says", [
    ("cookie", "_PyRuntime.debug_offsets has no valid cookie"),
    ("version", "_PyRuntime.debug_offsets reports version 0x"),
    ("interp.next", "internal layout differs from the one built for: "
                    "interp.next is at "),
])
def test_interpreter_whose_debug_offsets_do_not_check_out_is_refused(
        field, says):
    proc = run_target("debug_offsets_tampered", field)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: stackwatch cannot run on CPython "
                           "%s: %s" % (sys.version.split()[0], says)), last


def test_bad_read_method_setting_is_refused_clearly():
    proc = run_py("import stackwatch",
                  env=dict(os.environ, STACKWATCH_READ_METHOD="mmap"))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: stackwatch cannot run on CPython")
    assert "STACKWATCH_READ_METHOD" in last


def other_python(version):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in sorted(glob.glob(os.path.join(root, "versions", version + ".*",
                                              "bin", "python" + version))):
        return path
    return None


@pytest.mark.parametrize("version", ["3.8", "3.7"])
def test_unsupported_version_raises_a_clear_runtime_error(version):
    python = other_python(version)
    if python is None:
        pytest.skip("CPython %s is not installed" % version)
    proc = subprocess.run(
        [python, "-c", "import stackwatch"], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    lo, hi = VERSIONS["MIN"], VERSIONS["MAX"]
    assert last.startswith("RuntimeError: stackwatch supports CPython %d.%d "
                           "to %d.%d; this is CPython %s."
                           % (lo + hi + (version,))), last
