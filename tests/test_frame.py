"""stackwatch.Frame: the one frame type of profiler samples, watchdog
events and run info, and its tuple behaviour."""

import json
import os
import pickle
import subprocess
import sys

import pytest

import stackwatch
from stackwatch import events, profiler, runinfo
from stackwatch._frame import Frame
from conftest import HERE, child_env


def test_one_type_under_every_name():
    assert stackwatch.Frame is Frame
    assert events.Frame is Frame
    assert profiler.Frame is Frame
    assert runinfo.Frame is Frame


def test_fields_and_defaults():
    f = Frame("work", "/app/a.py", 12)
    assert (f.name, f.filename, f.lineno) == ("work", "/app/a.py", 12)
    assert f.line == ""
    assert f.args is None and f.locals is None
    g = Frame("work", "/app/a.py", 12, "x = 1", ["n"], {"n": "3"})
    assert g.line == "x = 1" and g.args == ["n"] and g.locals == {"n": "3"}
    assert g.to_dict() == {"name": "work", "filename": "/app/a.py",
                           "lineno": 12, "line": "x = 1", "args": ["n"],
                           "locals": {"n": "3"}}


def test_behaves_as_the_three_tuple():
    f = Frame("work", "/app/a.py", 12, "x = 1", ["n"], {"n": "3"})
    name, filename, lineno = f
    assert (name, filename, lineno) == ("work", "/app/a.py", 12)
    assert len(f) == 3 and f[0] == "work" and f[-1] == 12
    assert list(f) == ["work", "/app/a.py", 12]
    assert f == ("work", "/app/a.py", 12)
    assert ("work", "/app/a.py", 12) == f
    assert f != ("work", "/app/a.py", 13)
    # The source line and variables do not take part.
    assert f == Frame("work", "/app/a.py", 12)
    assert hash(f) == hash(("work", "/app/a.py", 12))
    assert {f: 1}[("work", "/app/a.py", 12)] == 1
    assert sorted([Frame("b", "x", 1), Frame("a", "y", 2),
                   Frame("a", "x", 3)]) == [("a", "x", 3), ("a", "y", 2),
                                            ("b", "x", 1)]
    assert f != "work" and not (f == 12)


def test_immutable_and_picklable():
    f = Frame("work", "/app/a.py", 12, "x = 1", ["n"], {"n": "3"})
    with pytest.raises(AttributeError):
        f.lineno = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        f.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del f.name
    g = pickle.loads(pickle.dumps(f))
    assert g == f and g.line == "x = 1" and g.locals == {"n": "3"}
    assert repr(f) == "Frame(name='work', filename='/app/a.py', lineno=12)"


def test_profiler_events_and_runinfo_hand_out_stackwatch_frame():
    target = os.path.join(HERE, "targets", "frames_everywhere.py")
    proc = subprocess.run([sys.executable, target], capture_output=True,
                          text=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for where in ("profiler", "event", "runinfo"):
        d = out[where]
        assert d is not None, (where, out)
        assert d["type"] == "stackwatch._frame.Frame", (where, d)
        assert d["is_public"], (where, d)
        assert d["unpacked"] == d["fields"][:3], (where, d)
        assert d["unpacked"][1] == target, (where, d)
        assert d["unpacked"][2] > 0, (where, d)
    assert out["profiler"]["unpacked"][0] == "spin_for"
    # Only run info reads source lines and locals.
    assert out["profiler"]["fields"][3:] == ["", None, None]
    assert "spin_for" in out["event_names"], out["event_names"]
    assert out["event"]["fields"][3:] == ["", None, None]
    assert out["runinfo"]["unpacked"][0] == "main"
    assert "RunTree" in out["runinfo"]["fields"][3]
    assert out["runinfo"]["fields"][5]["secret_local"] == "<redacted>"
    # The profiler's summary names the hot frame by its file and line.
    assert out["summary"] and "spin_for (frames_everywhere.py:" in \
        out["summary"][0], out["summary"]
