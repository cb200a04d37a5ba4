"""The memory profiler's API (issue 14): ``MemoryProfiler``, and
``ProcessProfiler`` in the spelling of ThreadGraph, the profiler it
replaces.

The counting is native (csrc/memprof_py.c, csrc/memtrack.c): wrappers
around Python's allocators (RAW, MEM and OBJ domains, chained in front of
whatever was installed, tracemalloc's included) count, per thread, the
bytes allocated and freed, a block freed by another thread being counted
against the thread that allocated it; a native thread appends the
counters to ``DIR/<pid>/process.mem`` and ``DIR/<pid>/<thread>.mem`` every
``interval`` seconds (docs/memory-format.md). This module starts and stops
it, and ends the files at interpreter exit (Ctrl-C included).

With ``stacks=True``, one allocated byte in ``sample_interval`` (on
average, Poisson) picks the block it is in; the block's stack is read from
the allocating thread's own frames by the native reader and written to
``<thread>.stack`` with its weight, and its free too.

The ``c`` and ``both`` profiles also count memory C code takes from the
C library directly (``malloc`` and friends, anonymous ``mmap``), by
patching the loaded objects' GOTs at ``enable()`` (csrc/memgot.c) and
putting them back at ``disable()``.

With ``filter`` (path prefixes), only the allocations made while one of
the thread's frames runs code from a file under one of them are counted
(csrc/memprof_py.c: each code object decided once, the thread's own
frames walked at each allocation, stopping at the first kept one).

With ``greenlets=True``, the counters are also kept per greenlet: the
allocation hooks read the greenlet running on the thread from greenlet
tracking's thread-local copy (csrc/greenlet.c, kept up to date by the
``greenlet.settrace`` hook) and count the block in that greenlet's slot,
which the block's record in the side table names, so that a free (by any
greenlet or thread) is subtracted from the greenlet that allocated it.
Each greenlet alive at a writer's pass gets ``<label>.mem`` (the label the
sampler gives it, asked of the GIL side by the service thread); when a
greenlet is freed its file ends, and what it still holds goes on in its
thread's ``<thread>.ended-greenlets.mem``. See docs/memory-format.md for
the bounds.
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence, Union

from stackwatch import _lifecycle, _native

PROFILES = ("python", "c", "both")

#: What this version can count.

#: The profile running in this process, if any (the counters are
#: process-wide).
_active: Optional["MemoryProfiler"] = None
_active_lock = threading.Lock()


def check_interval(interval: Any) -> float:
    try:
        value = float(interval)
    except (TypeError, ValueError):
        raise ValueError("interval must be a number of seconds, not %r"
                         % (interval,)) from None
    if not 0.001 <= value <= 3600:
        raise ValueError("interval must be between 0.001 and 3600 seconds, "
                         "not %g" % value)
    return value


#: The mean number of bytes between two sampled blocks (stacks=True).
SAMPLE_INTERVAL = 512 * 1024


def check_sample_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 1 <= value <= 1 << 40:
        raise ValueError("sample_interval must be a number of bytes between "
                         "1 and 2**40, not %r" % (value,))
    return value


def check_profile(profile: Any) -> str:
    if profile not in PROFILES:
        raise ValueError("profile must be 'python', 'c' or 'both', not %r"
                         % (profile,))
    return profile


def check_filter(value: Any) -> Optional[tuple]:
    """One path prefix or several: absolute, as a tuple (None: none)."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    try:
        items = list(items)
    except TypeError:
        items = [None]
    out = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or not os.fspath(item):
            raise ValueError("filter must be a path prefix or a list of "
                             "them, not %r" % (value,))
        path = os.fspath(item)
        prefix = os.path.abspath(path)
        if path.endswith(os.sep) and not prefix.endswith(os.sep):
            prefix += os.sep
        out.append(prefix)
    return tuple(out) or None


def _name_greenlets() -> None:
    """Labels the greenlets whose files wait for one (a namer of the
    service thread's: run with the GIL, when native threads ask)."""
    gids = _native.mem_greenlets_unnamed()
    if not gids:
        return
    from stackwatch import _greenlets

    table = _native.greenlet_table(gids)
    names = []
    for gid in gids:
        obj, typename = table.get(gid, (None, "greenlet"))
        names.append((gid, _greenlets.label(gid, obj, typename)))
    _native.mem_greenlet_names(names)


class MemoryProfiler:
    """Counts, per thread, the memory taken through Python's allocators
    and writes it to ``path/<pid>/``. With ``stacks=True``, blocks are
    sampled by bytes (on average one per ``sample_interval`` bytes
    allocated, Poisson) and their allocation stacks written to
    ``<thread>.stack``. With ``greenlets=True``, per greenlet too
    (``<greenlet label>.mem``). ``enable()`` starts, ``disable()``
    ends the files (also done at interpreter exit); usable as a context
    manager. One memory profile runs in a process at a time."""

    def __init__(self, path: str, profile: str = "both",
                 filter: Union[None, str, Sequence[str]] = None,
                 stacks: bool = False, follow_fork: bool = False,
                 greenlets: bool = False, interval: float = 0.02,
                 sample_interval: int = SAMPLE_INTERVAL) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError("path must be a directory name, not %r"
                             % (path,))
        self.path = os.path.abspath(os.fspath(path))
        self.profile = check_profile(profile)
        self.interval = check_interval(interval)
        self.filter = check_filter(filter)
        self.stacks = bool(stacks)
        self.sample_interval = check_sample_interval(sample_interval)
        self.follow_fork = bool(follow_fork)
        self.greenlets = bool(greenlets)
        self._tracking = False
        self.directory: Optional[str] = None
        self._service_held = False
        # Started by a trace for its live bytes tracks (stackwatch.trace):
        # a profile the program enables replaces it.
        self._for_trace = False

    @property
    def enabled(self) -> bool:
        return _active is self

    def enable(self) -> "MemoryProfiler":
        """Starts counting; the files go to ``path/<pid>/`` (created);
        with ``follow_fork``, a child forked with os.fork() (multiprocessing
        and such) gets a profile of its own in ``path/<child pid>/``.
        Raises OSError when it cannot be created, RuntimeError when a
        memory profile already runs in this process."""
        global _active
        held = _active
        if held is not None and held is not self and held._for_trace:
            # The counters `stackwatch trace --memory` started for itself
            # give way to the program's profile (the trace reads these).
            held.disable()
        with _active_lock:
            if _active is self:
                return self
            if _active is not None:
                raise RuntimeError("a memory profile is already running in "
                                   "this process (%s)" % _active.directory)
            from stackwatch import _service

            directory = os.path.join(self.path, str(os.getpid()))
            os.makedirs(directory, exist_ok=True)
            if self.greenlets:
                from stackwatch import _greenlets

                # Not there (no greenlet package): no greenlets to count.
                self._tracking = _greenlets.start_tracking()
                if _name_greenlets not in _service._namers:
                    _service._namers.append(_name_greenlets)
            _service.service.acquire()  # names the threads
            try:
                _native.mem_start(directory, self.interval, self.profile,
                                  self.sample_interval if self.stacks
                                  else 0, self.filter, self.greenlets)
            except BaseException:
                _service.service.release()
                self._stop_greenlets()
                raise
            self._service_held = True
            self.directory = directory
            _active = self
        return self

    def disable(self) -> "MemoryProfiler":
        """Stops counting and ends every file (``# end``)."""
        global _active
        with _active_lock:
            if _active is not self:
                return self
            from stackwatch import _service

            try:
                # Names of threads that started since the last refresh,
                # before their files are named.
                _service.refresh_names()
            except Exception:
                pass
            try:
                _native.mem_stop()
            finally:
                _active = None
                if self._service_held:
                    self._service_held = False
                    _service.service.release()
                self._stop_greenlets()
        return self

    def _stop_greenlets(self) -> None:
        from stackwatch import _service

        if _name_greenlets in _service._namers:
            _service._namers.remove(_name_greenlets)
        if self._tracking:
            self._tracking = False
            from stackwatch import _greenlets

            _greenlets.stop_tracking()

    def stats(self) -> Dict[str, Any]:
        """The profiler's own counters: threads seen, blocks in the side
        table and its size in bytes (``table_bytes``: resident), the
        granule map's leaves, pymalloc arenas freed during the profile
        and the table's bytes given back with them (``arenas_freed``,
        ``table_given``), lines written, write errors."""
        return dict(_native.mem_stats())

    def __enter__(self) -> "MemoryProfiler":
        return self.enable()

    def __exit__(self, *exc: object) -> None:
        self.disable()


class ProcessProfiler:
    """ThreadGraph's spelling: ``ProcessProfiler(default_log_path=DIR,
    profile=...)``, then ``setFilter(prefix)``, ``trackStack()``,
    ``enableForkedProfile()`` and ``enable()``."""

    def __init__(self, default_log_path: str, profile: str = "both",
                 interval: float = 0.02) -> None:
        check_profile(profile)
        self._path = default_log_path
        self._profile = profile
        self._interval = check_interval(interval)
        self._filters: list = []
        self._stacks = False
        self._follow_fork = False
        self._profiler: Optional[MemoryProfiler] = None

    def setFilter(self, prefix: str) -> None:  # noqa: N802 (its name)
        self._filters.append(prefix)

    def trackStack(self) -> None:  # noqa: N802
        self._stacks = True

    def enableForkedProfile(self) -> None:  # noqa: N802
        self._follow_fork = True

    def enable(self) -> None:
        if self._profiler is None:
            self._profiler = MemoryProfiler(
                self._path, profile=self._profile,
                filter=self._filters or None, stacks=self._stacks,
                follow_fork=self._follow_fork, interval=self._interval)
        self._profiler.enable()

    def disable(self) -> None:
        if self._profiler is not None:
            self._profiler.disable()


def _stop_at_exit() -> None:
    profiler = _active
    if profiler is not None:
        profiler.disable()


def _after_fork_in_child() -> None:
    """The native side stopped counting and closed the parent's files
    (untouched) at the fork; a profiler that follows forks starts again
    here, into the child's own directory."""
    global _active
    profiler, _active = _active, None
    globals()["_active_lock"] = threading.Lock()
    if profiler is None:
        return
    from stackwatch import _service

    if profiler._service_held:
        profiler._service_held = False
        _service.service.forget_user_in_child()
    profiler._stop_greenlets()  # started again by enable()
    if profiler.follow_fork:
        try:
            profiler.enable()
        except Exception as e:
            _service.report_line("stackwatch: the memory profile of forked "
                                 "child %d could not start: %s"
                                 % (os.getpid(), e))


_lifecycle.on_exit(_lifecycle.PROFILER, _stop_at_exit)
_lifecycle.on_fork_child(_lifecycle.PROFILER, _after_fork_in_child)
