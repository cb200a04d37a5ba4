"""The module object of stackwatch._native (csrc/module.c): it refuses to
load in a subinterpreter, there is one module per process, and the strong
references it keeps outside its dict are visible to the garbage
collector (m_traverse)."""

import gc
import importlib
import platform
import sys

import pytest

from conftest import run_target
from stackwatch import _native


def _has_subinterpreters() -> bool:
    try:
        import _testcapi
    except ImportError:
        return False
    return hasattr(_testcapi, "run_in_subinterp")


@pytest.mark.skipif(not _has_subinterpreters(),
                    reason="this build has no _testcapi.run_in_subinterp "
                           "(a CPython without its test modules)")
def test_subinterpreter_import_is_refused_and_main_still_works():
    proc = run_target("subinterp_import")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The subinterpreter printed first (its own sys.stdout, flushed).
    assert lines[0].startswith("sub: refused: "), proc.stdout
    assert "cannot be loaded in a subinterpreter" in lines[0]
    assert lines[1] == "sub rc: 0"
    assert lines[2] == "main: " + platform.python_version()


def test_importing_again_gives_the_same_module():
    name = "stackwatch._native"
    saved = sys.modules.pop(name)
    try:
        again = importlib.import_module(name)
    finally:
        sys.modules[name] = saved
    assert again is saved
    assert again.info()["python"] == platform.python_version()


def test_root_code_objects_are_visited_by_the_collector():
    def root():
        pass

    _native.sampler_set_roots([root.__code__])
    try:
        held = [o for o in gc.get_referents(_native)
                if isinstance(o, tuple) and root.__code__ in o]
        assert held == [(root.__code__,)]
    finally:
        _native.sampler_set_roots([])
    # The roots are replaced, not accumulated.
    assert not [o for o in gc.get_referents(_native)
                if isinstance(o, tuple) and root.__code__ in o]


def test_session_being_sampled_is_visited_by_the_collector():
    s = _native.Session()
    _native.sampler_start(s, rate=100.0)
    try:
        assert any(o is s for o in gc.get_referents(_native))
    finally:
        _native.sampler_stop()
    assert not any(o is s for o in gc.get_referents(_native))
