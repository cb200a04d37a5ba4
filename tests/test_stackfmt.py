"""_native.format_frame: the one native frame formatter, as the Python
layer sees it (the profiler's summary uses it), and the labels it writes
being the ones in every native output (dumps, collapsed stacks)."""

import subprocess
import sys

import pytest

from conftest import line_of, target_path
from stackwatch import _native, profiler


def test_label_style():
    assert _native.format_frame("work", "/app/lib.py", 20) == \
        "work (/app/lib.py:20)"
    assert _native.format_frame("work", "/app/lib.py", 0) == \
        "work (/app/lib.py:0)"
    assert _native.format_frame("work", "/app/lib.py", -1) == \
        "work (/app/lib.py)"
    assert _native.format_frame("<idle>", None, -1) == "<idle>"
    assert _native.format_frame("<idle>", "", 5) == "<idle>"


def test_base_names():
    assert _native.format_frame("work", "/app/pkg/lib.py", 20,
                                basename=True) == "work (lib.py:20)"
    assert _native.format_frame("work", "/app/pkg/", 20,
                                basename=True) == "work"
    assert _native.format_frame("work", "lib.py", -1,
                                basename=True) == "work (lib.py)"


def test_traceback_style_matches_pythons_tracebacks():
    def here():
        return sys._getframe()

    f = here()
    text = _native.format_frame(f.f_code.co_name, f.f_code.co_filename,
                                f.f_lineno, traceback=True)
    assert text == 'File "%s", line %d, in here' % (__file__, f.f_lineno)
    import traceback
    summary = traceback.StackSummary.extract([(f, f.f_lineno)],
                                             lookup_lines=False)
    assert traceback.format_list(summary)[0].splitlines()[0].strip() == text
    assert _native.format_frame("f", "/a.py", -1, traceback=True) == \
        'File "/a.py", in f'


def test_non_ascii_names_and_files():
    assert _native.format_frame("größe", "/tmp/ünï.py", 3) == \
        "größe (/tmp/ünï.py:3)"


@pytest.mark.parametrize("args, kwargs", [
    ((), {}),
    (("f", "/a.py"), {}),
    (("f", "/a.py", "3"), {}),
    ((1, "/a.py", 3), {}),
    (("f", "/a.py", 3, True), {}),  # the options are keyword-only
    (("f", "/a.py", 3), {"style": "label"}),
])
def test_bad_arguments_raise_type_error(args, kwargs):
    with pytest.raises(TypeError):
        _native.format_frame(*args, **kwargs)


def test_profiler_summary_labels_come_from_the_formatter():
    # Short (full=set(): no file kept full) as the profile's labels, or
    # full (full=None: full paths asked for).
    f = profiler.Frame("spin", "/app/hot.py", 12)
    assert profiler._frame_text(f, set()) == _native.format_frame(
        "spin", "/app/hot.py", 12, short=True)
    assert profiler._frame_text(f, None) == "spin (/app/hot.py:12)"
    assert profiler._frame_text(f, {"/app/hot.py"}) == \
        "spin (/app/hot.py:12)"
    assert profiler._frame_text(profiler.Frame("spin", "", 12),
                                set()) == "spin"
    assert profiler._frame_text(profiler.Frame("spin", "/app/hot.py", -1),
                                None) == "spin (/app/hot.py)"


def test_dump_frames_are_written_by_the_same_formatter():
    # A dump of this very thread: its frame lines are the formatter's
    # label for the frame, indented.
    script = target_path("stackfmt_dump_self")
    out = subprocess.run([sys.executable, script], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    want = "    " + _native.format_frame(
        "inner", script, line_of(script, "dump-call")) + "\n"
    assert want in out.stdout, out.stdout
    want = "    " + _native.format_frame(
        "<module>", script, line_of(script, "inner-call")) + "\n"
    assert want in out.stdout, out.stdout
