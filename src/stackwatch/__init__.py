"""stackwatch: a runtime monitor, sampling profiler and watchdog for Python.

The engine (``stackwatch._native``, C) reads every thread's Python stack
from a native thread without the GIL; this package is the API on top:

- :class:`Profiler` samples all threads into flame graphs and other
  formats (``stackwatch record`` on the command line);
- :func:`dump` prints every thread's current stack;
- :func:`enable_dump` makes the process answer ``stackwatch dump PID``
  (without ptrace), even while a thread holds the GIL in a long C call;
- :func:`format_run_info` / :func:`print_run_info` / :class:`RunTree`
  show every thread, every greenlet (a tree by spawner) and every asyncio
  task (a tree of awaits), with locals on request;
- :mod:`stackwatch.slowlog` appends such snapshots to a log every few
  seconds (``stackwatch run``);
- :mod:`stackwatch.monitor` (the watchdog) reports stalled gevent hubs,
  asyncio loops and :class:`deadline` blocks while they stall, and
  watches memory; :mod:`stackwatch.events` delivers what it sees.
"""

import sys

from stackwatch import _versions

__version__ = "0.1.0"

#: The supported CPython range, ((major, minor), (major, minor)).
SUPPORTED = (_versions.MIN, _versions.MAX)


def _check_runtime() -> None:
    impl = sys.implementation.name
    here = "%s %s" % (impl, sys.version.split()[0])
    if impl != "cpython":
        raise RuntimeError("stackwatch supports CPython only, not %s" % here)
    if not sys.platform.startswith("linux"):
        raise RuntimeError("stackwatch supports Linux only, not %s"
                           % sys.platform)
    if "t" in getattr(sys, "abiflags", ""):
        # No GIL holder, per-thread state elsewhere: see csrc/compat/layout.h.
        raise RuntimeError("stackwatch supports CPython's GIL build only, "
                           "not the free-threaded %st" % here)
    if not _versions.supported(sys.version_info):
        lo, hi = SUPPORTED
        raise RuntimeError(
            "stackwatch supports CPython %d.%d to %d.%d; this is CPython %s"
            % (lo + hi + (sys.version.split()[0],)))


def _refuse_in_the_command(e: RuntimeError) -> None:
    """When the ``stackwatch`` command is what imports the package (the
    installed script, or ``python -m stackwatch`` while runpy finds it,
    when sys.argv[0] is still "-m"), a refusal is one line and status 1;
    a program importing stackwatch gets the RuntimeError."""
    arg0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if arg0 == "-m" or arg0.rsplit("/", 1)[-1] == "stackwatch":
        sys.stderr.write("stackwatch: error: %s\n" % e)
        raise SystemExit(1)


try:
    _check_runtime()
    from stackwatch import _native  # noqa: E402,F401  (checks the layout)
except RuntimeError as e:
    _refuse_in_the_command(e)
    raise
# Registers the one atexit handler now, before the application's own
# (see _lifecycle's docstring).
from stackwatch import _lifecycle  # noqa: E402,F401

# The public names are imported on first use (PEP 562): ``import
# stackwatch`` (and every process that STACKWATCH_DUMP or
# STACKWATCH_MONITOR starts) pays only for what it uses.
_LAZY = {
    "Frame": "_frame",
    "Profiler": "profiler",
    "MemoryProfiler": "memory",
    "Tracer": "trace",
    "dump": "dumping", "enable_dump": "dumping", "disable_dump": "dumping",
    "RunTree": "runinfo", "format_run_info": "runinfo",
    "print_run_info": "runinfo",
    "FailedToSwitch": "deadlines", "assert_switches": "deadlines",
    "deadline": "deadlines",
    "serve": "_serve", "continuous": "_serve",
}


def _import(name: str) -> object:
    # importlib.import_module's work, without importing importlib (with
    # warnings): every process STACKWATCH_DUMP or STACKWATCH_MONITOR
    # starts comes here.
    __import__(name)
    return sys.modules[name]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_import("stackwatch." + module), name)
    elif name.startswith("__"):
        raise AttributeError("module 'stackwatch' has no attribute %r" % name)
    else:
        # A submodule (stackwatch.monitor, .events, .slowlog...), as
        # ``import stackwatch.monitor`` would give it.
        try:
            value = _import("stackwatch." + name)
        except ModuleNotFoundError as e:
            if e.name != "stackwatch." + name:
                raise
            raise AttributeError("module 'stackwatch' has no attribute %r"
                                 % name) from None
    globals()[name] = value
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(__all__))


__all__ = ["Profiler", "MemoryProfiler", "Frame", "dump", "enable_dump", "disable_dump", "monitor",
           "events", "deadline", "assert_switches", "FailedToSwitch",
           "RunTree", "format_run_info", "print_run_info", "slowlog", "serve", "continuous",
           "__version__"]
