"""Running a target script or module exactly as ``python`` would.

``python script.py args`` and ``python -m module args`` set sys.argv,
sys.path[0] and a ``__main__`` module, run the code, print an uncaught
exception with sys.excepthook and exit with status 1, honour SystemExit,
and on an uncaught KeyboardInterrupt exit through SIGINT. ``run()`` does
the same inside this interpreter and returns what the exit should be, so
that the caller can finish its work (write a profile) first.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
import zipimport  # loaded at start-up; nothing is imported while sampling
# importlib.machinery's SourceFileLoader is this module's (importlib, with
# warnings, costs 1 ms of start-up; this one is loaded by every python).
from _frozen_importlib_external import SourceFileLoader

from stackwatch import _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class TargetError(Exception):
    """The target cannot be started (missing script, unknown module)."""


class Outcome:
    """status: the exit status python would have; interrupted: ended by
    KeyboardInterrupt (exit by SIGINT). (A plain class: a namedtuple
    costs a quarter of a millisecond of start-up.)"""
    __slots__ = ("status", "interrupted")

    def __init__(self, status: int, interrupted: bool = False) -> None:
        self.status = status
        self.interrupted = interrupted


def _import_runpy() -> None:
    """runpy (with importlib.util and contextlib), for the targets that
    need it (-m, a directory, a zip application), imported before the
    target runs: nothing is imported while sampling, and a plain script
    does not pay for it."""
    import runpy  # noqa: F401


def check_script(path: str) -> None:
    """Raises TargetError if python could not open the script."""
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "__main__.py")):
            raise TargetError("can't find '__main__' module in %r" % path)
        _import_runpy()
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise TargetError("can't open file %r: [Errno %d] %s"
                          % (os.path.abspath(path), e.errno, e.strerror)
                          ) from None
    if _is_zip(path):
        _import_runpy()


def check_module(name: str) -> None:
    """Raises TargetError if ``python -m name`` would fail to find it."""
    if not name or name.startswith("."):
        raise TargetError("Relative module names not supported")
    _import_runpy()
    import importlib.util

    saved = sys.path[:]
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        raise TargetError("Error while finding module specification for "
                          "%r (%s: %s)" % (name, type(e).__name__, e)
                          ) from None
    finally:
        sys.path[:] = saved
    if spec is None:
        raise TargetError("No module named %s" % name)


def _print_uncaught(e: BaseException) -> None:
    """Prints e with sys.excepthook as python would: the traceback starts
    at the target's code, without this module's frames."""
    tb = e.__traceback__
    while tb is not None and os.path.dirname(
            os.path.abspath(tb.tb_frame.f_code.co_filename)) == _PACKAGE_DIR:
        tb = tb.tb_next
    # The default hook prints e.__traceback__, whatever tb it is given.
    e.__traceback__ = tb
    sys.excepthook(type(e), e, tb)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def _is_zip(path: str) -> bool:
    # What python itself runs as a zip application: what zipimport opens.
    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _run_script(path: str, at_start: "Optional[Callable[[], None]]" = None
                ) -> None:
    if os.path.isdir(path) or _is_zip(path):
        import runpy  # (imported by check_script: no import here)

        sys.path[0] = path
        if at_start is not None:
            at_start()
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore
        return
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    # Since 3.9 the main script's __file__ (and its code's file name) is
    # absolute; sys.argv[0] stays as typed.
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        source = f.read()
    # As compile(source, path, "exec", dont_inherit=True), without its
    # first call's cost (csrc/runner_py.c); compile() refuses NUL bytes.
    code = _native.compile_file(source, path) or compile(
        source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__loader__ = SourceFileLoader("__main__", path)  # type: ignore
    main.__spec__ = None
    main.__cached__ = None  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    if at_start is not None:
        at_start()
    exec(code, main.__dict__)


#: Where sampled stacks start under `stackwatch record`: frames of these
#: functions and below are stackwatch's, not the target's (for -m, runpy's
#: frames stay, as python -m shows them).
def root_codes() -> List[types.CodeType]:
    return [_run_script.__code__, run.__code__]


def run(script: Optional[str], module: Optional[str], args: List[str],
        at_start: "Optional[Callable[[], None]]" = None) -> Outcome:
    """Runs the target; returns the outcome python would have.
    at_start() is called just before the target's code runs (the tracer
    starts there, so that it records the target, not its set-up)."""
    try:
        if module is not None:
            import runpy  # (imported by check_module: no import here)

            sys.argv = [module] + list(args)
            sys.path[0] = os.getcwd()
            if at_start is not None:
                at_start()
            runpy._run_module_as_main(module, alter_argv=True)  # type: ignore
        else:
            assert script is not None
            sys.argv = [script] + list(args)
            _run_script(script, at_start)
    except SystemExit as e:
        return Outcome(_exit_status(e.code))
    except KeyboardInterrupt as e:
        _print_uncaught(e)
        return Outcome(130, interrupted=True)
    except BaseException as e:
        _print_uncaught(e)
        return Outcome(1)
    return Outcome(0)
