"""The watchdog: reports gevent hubs, asyncio loops and deadlines that
stall, while the stall is going on, and watches the process's memory.

The monitor is a native thread (csrc/watchdog.c). It never takes the GIL:
a greenlet stuck in a C call that holds the GIL is reported while the call
runs, with its stack read by the GIL-free reader. A Python thread of ours
(``stackwatch-monitor``) delivers events to subscribers, writes to streams
that have no file descriptor, logs, and runs the periodic functions.

Typical use::

    import stackwatch.monitor
    stackwatch.monitor.start(max_blocking_time=0.1, max_memory_usage="1GiB")

Settings not given come from ``STACKWATCH_MAX_BLOCKING_TIME``,
``STACKWATCH_MAX_MEMORY_USAGE`` and ``STACKWATCH_MEMORY_MONITOR_PERIOD``.

This module is the public API (start, stop, watches, periodic functions)
and the monitor's fork and exit handling; the parts live in:

- ``_monitor_settings``: defaults, settings from the environment, checks;
- ``_monitor_state``: the state shared by the parts;
- ``_delivery``: the Python thread, events to subscribers, periodic
  functions, the run info after a stall;
- ``_watchdog_answers``: greenlet and task labels, finding a stall's task;
- ``_gevent_hook``: watching gevent hubs;
- ``_asyncio_watch``: watching asyncio loops.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

from stackwatch import (_frame, _greenlets, _import_hooks, _lifecycle,
                        _native, _service)
from stackwatch._asyncio_watch import (patch_asyncio, retune_loop,
                                       unpatch_asyncio,
                                       unwatch_asyncio, unwatch_loops,
                                       watch_asyncio)
from stackwatch._delivery import MAX_FAILURES, start_thread  # noqa: F401
from stackwatch._gevent_hook import GeventHook, unwatch_hub, watch_gevent
from stackwatch._monitor_settings import (  # noqa: F401  (re-exported)
    DEFAULT_MAX_BLOCKING_TIME, DEFAULT_MEMORY_MONITOR_PERIOD,
    DEFAULT_REPORT_INTERVAL, OFF, UNSET, parse_size, report_target, resolve,
    seconds)
from stackwatch._monitor_state import Func, S
from stackwatch import _watchdog_answers  # noqa: F401  (registers answers)

__all__ = [
    "start", "stop", "is_running", "watch_asyncio", "unwatch_asyncio",
    "watch_gevent", "add_monitoring_function", "parse_size", "settings",
    "stats",
]

#: How long the native report waits for names from the GIL side (only when
#: the stalled thread does not hold the GIL).
NAME_WAIT = 0.02

#: Frames in our own files (wrappers around the user's code) are left out
#: of reports.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# The names this module had before it was split (stackwatch.cli uses them).
_UNSET = UNSET
_OFF = OFF
_resolve = resolve
_seconds = seconds
_S = S

# Guards S.tracking's change only (never held while importing: greenlet's
# import may be under way in another thread).
_track_lock = threading.Lock()


# ---- start / stop ---------------------------------------------------------

def start(max_blocking_time: Any = UNSET, max_memory_usage: Any = UNSET,
          memory_monitor_period: Any = UNSET, report_to: Any = UNSET,
          format_run_info: bool = False, log: bool = False,
          gevent: bool = True, asyncio: bool = False,
          report_interval: float = DEFAULT_REPORT_INTERVAL,
          full_paths: bool = False) -> None:
    """Starts the monitor thread, or applies new settings to it.

    max_blocking_time: seconds a gevent hub or asyncio loop may be blocked
        before it is reported (None: stalls not watched).
    max_memory_usage: RSS above which MemoryUsageThresholdExceeded is
        emitted (bytes, or "500MB", "2GiB"; None: not watched).
    memory_monitor_period: seconds between memory checks.
    report_to: where reports go: a stream with a file descriptor
        (default sys.stderr), a path (appended to, created 0600), a stream
        without descriptor (written from the monitor's Python thread, so
        only when the GIL is free), or None (events and logging only).
    format_run_info: after a stall report, also write every thread's
        stack, the greenlet tree and the asyncio task tree, once the GIL
        is free.
    log: also send reports to the ``stackwatch`` logger (WARNING).
    gevent: watch every gevent hub (found when it starts running).
    asyncio: watch every asyncio loop while it runs (run_forever, and so
        asyncio.run), from the moment the program imports asyncio (never
        imported for it), the loop running in this thread now included;
        loops can also be watched one by one with watch_asyncio().
    report_interval: first interval of the "still blocked" updates (they
        double, up to one a minute).
    full_paths: reports (and format_run_info's text) show files by their
        full paths; by default without the sys.path entry they are under
        ("asyncio/base_events.py"), as profiles and dumps show them.
    """
    mbt, mem, period = resolve(max_blocking_time, max_memory_usage,
                               memory_monitor_period)
    interval = seconds(report_interval, "report_interval")
    if report_to is UNSET:
        report_to = sys.stderr
    fd, stream, close_fd = report_target(report_to)
    # What the monitor's thread will need, imported here: an import made by
    # our thread while the application forks would leave the child that
    # module's import lock held by a thread it does not have.
    if format_run_info:
        import stackwatch.runinfo  # noqa: F401
    if log:
        import logging  # noqa: F401
    _frame.ensure_prefixes()  # reports show short paths (README)
    with S.lock:
        try:
            _native.watchdog_start(
                report_fd=fd, mem_max=mem or 0,
                mem_period=period if mem else 0.0, update=interval,
                name_wait=NAME_WAIT, hide=_PACKAGE_DIR + os.sep,
                full_paths=bool(full_paths))
        finally:
            if close_fd:
                os.close(fd)
        S.settings = {
            "max_blocking_time": mbt, "max_memory_usage": mem,
            "memory_monitor_period": period, "report_to": report_to,
            "format_run_info": bool(format_run_info), "log": bool(log),
            "gevent": bool(gevent), "asyncio": bool(asyncio),
            "report_interval": interval, "full_paths": bool(full_paths),
        }
        S.stream = stream
        if not S.running:
            S.running = True
            _acquire()
            start_thread()
        _retune_watches(mbt)
        if gevent and mbt is not None:
            GeventHook.install()
        # Loops' starts and ends are followed in any case: a loop without
        # a selector (uvloop's) can be watched only through them.
        patch_asyncio()


def stop() -> None:
    """Stops the monitor (watches are forgotten; subscribers stay)."""
    with S.lock:
        if not S.running:
            return
        S.running = False
        GeventHook.remove()
        unpatch_asyncio()
        unwatch_loops(list(S.loops.values()))
        S.loops.clear()
        S.explicit.clear()
        S.hubs.clear()
        S.hub_watch.clear()
        thread, S.thread = S.thread, None
        S.stopping = True
    _native.watchdog_stop()
    _native.watchdog_interrupt()
    if thread is not None and not thread.is_current():
        thread.join(5.0)
    _native.watchdog_clear()
    with S.lock:
        S.stopping = False
        _release()


def is_running() -> bool:
    return S.running


def settings() -> Dict[str, Any]:
    """The settings in force (empty when the monitor is stopped)."""
    return dict(S.settings) if S.running else {}


def stats() -> Dict[str, Any]:
    """The monitor thread's counters: polls, reports, events dropped,
    its own CPU seconds and the number of watches."""
    return _native.watchdog_stats()


def _ensure_native() -> None:
    """The native thread for deadlines, without watching loops."""
    with S.lock:
        if not S.running:
            start(max_blocking_time=None, max_memory_usage=None)


def _acquire() -> None:
    _service.service.acquire()
    # Greenlets are tracked once the program imports greenlet (gevent
    # does), never imported for it: from then on, in the importing thread
    # and the threads started afterwards.
    _import_hooks.when_imported("greenlet", _track_greenlets)


def _track_greenlets(module: object) -> None:
    with _track_lock:
        if not S.running or S.tracking:
            return
        S.tracking = True
    if not _greenlets.start_tracking():
        S.tracking = False


def _release() -> None:
    _import_hooks.cancel("greenlet", _track_greenlets)
    if S.tracking:
        _greenlets.stop_tracking()
        S.tracking = False
    _service.service.release()


def _retune_watches(mbt: Optional[float]) -> None:
    """Applies a new max_blocking_time to the hubs and loops watched now
    (not to loops watched with a threshold of their own); None stops
    watching them."""
    with S.lock:
        hubs = list(S.hubs.items())
        loops = [(ref, wid) for ref, wid in S.loops.values()
                 if wid not in S.explicit]
    if mbt is None:
        for wid, ref in hubs:
            hub = ref()
            if hub is not None:
                unwatch_hub(hub)
        unwatch_loops(loops)
        return
    for wid, _ in hubs:
        _native.watchdog_set_threshold(wid, mbt)
    for _, wid in loops:
        retune_loop(wid, mbt)


# ---- periodic functions -------------------------------------------------

def add_monitoring_function(function: Callable[[], Any],
                            period: Optional[float]) -> None:
    """Calls ``function()`` every ``period`` seconds on the monitor's
    Python thread, with the GIL; ``period=None`` removes it. An exception
    is reported on stderr and the function stays scheduled; after
    MAX_FAILURES (10) failures in a row it is dropped. Starts the monitor
    if it is not running."""
    if not callable(function):
        raise TypeError("add_monitoring_function() needs a callable")
    if period is None:
        with S.lock:
            S.funcs.pop(function, None)
        return
    p = seconds(period, "period")
    assert p is not None
    _ensure_native()
    with S.lock:
        S.funcs[function] = Func(function, p)
    _native.watchdog_interrupt()  # recompute the wait


# ---- fork and exit --------------------------------------------------------

def _reset_in_child() -> None:
    """First step in a forked child: our Python thread does not exist
    there; the service and tracking users we held are re-acquired by the
    restart."""
    global _track_lock
    S.lock = threading.RLock()
    _track_lock = threading.Lock()
    S.thread = None
    S.stopping = False
    if S.running:
        _service.service.forget_user_in_child()
        if S.tracking:
            _greenlets.stop_tracking()
            S.tracking = False


def _restart_in_child() -> None:
    """Starts the monitor again in the child with the same settings.
    Watches of the forking thread survive (the others were dropped by
    csrc/watchdog.c)."""
    if not S.running:
        return
    s = dict(S.settings)
    S.running = False
    start(max_blocking_time=s["max_blocking_time"],
          max_memory_usage=s["max_memory_usage"],
          memory_monitor_period=s["memory_monitor_period"],
          report_to=s["report_to"], format_run_info=s["format_run_info"],
          log=s["log"], gevent=s["gevent"], asyncio=s["asyncio"],
          report_interval=s["report_interval"],
          full_paths=s["full_paths"])


_lifecycle.on_exit(_lifecycle.MONITOR, stop)
_lifecycle.on_fork_child(1, _reset_in_child)
_lifecycle.on_fork_child(_lifecycle.MONITOR, _restart_in_child)
