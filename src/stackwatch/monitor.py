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
"""

import importlib.abc
import math
import os
import re
import sys
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from stackwatch import _greenlets, _lifecycle, _native, _service, events

__all__ = [
    "start", "stop", "is_running", "watch_asyncio", "unwatch_asyncio",
    "watch_gevent", "add_monitoring_function", "parse_size", "settings",
    "stats",
]

DEFAULT_MAX_BLOCKING_TIME = 0.1
DEFAULT_MEMORY_MONITOR_PERIOD = 5.0
DEFAULT_REPORT_INTERVAL = 1.0

#: A periodic function is dropped after this many failures in a row.
MAX_FAILURES = 10

#: How long the native report waits for names from the GIL side (only when
#: the stalled thread does not hold the GIL).
NAME_WAIT = 0.02

_UNSET: Any = object()

#: Frames in our own files (wrappers around the user's code) are left out
#: of reports.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")
_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}


def parse_size(value: Union[int, float, str]) -> int:
    """Bytes from 1048576, "500MB" (10**6), "2GiB" (2**30), "512M"
    (2**20, as ps and top mean it). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a memory size: %r" % (value,))
    if isinstance(value, (int, float)):
        number, mult = float(value), 1
    else:
        m = _SIZE_RE.match(str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError("not a memory size: %r (use bytes, or a number "
                             "with KB, MB, GB, KiB, MiB, GiB...)" % (value,))
        number, mult = float(m.group(1)), _UNITS[m.group(2).lower()]
    size = number * mult
    if not math.isfinite(size) or size < 1:
        raise ValueError("a memory size must be at least 1 byte, not %r"
                         % (value,))
    return int(size)


def _seconds(value: Any, what: str, allow_none: bool = False
             ) -> Optional[float]:
    if value is None and allow_none:
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number of seconds, not %r"
                         % (what, value)) from None
    if not math.isfinite(s) or s <= 0:
        raise ValueError("%s must be a positive number of seconds, not %r"
                         % (what, value))
    return s


def _env(name: str) -> Optional[str]:
    v = os.environ.get(name, "").strip()
    return v or None


_OFF = ("0", "off", "none", "no", "false")


def _resolve(max_blocking_time: Any, max_memory_usage: Any,
             memory_monitor_period: Any) -> Tuple[Optional[float],
                                                  Optional[int], float]:
    if max_blocking_time is _UNSET:
        text = _env("STACKWATCH_MAX_BLOCKING_TIME")
        if text is not None and text.lower() in _OFF:
            max_blocking_time = None
        elif text is not None:
            try:
                max_blocking_time = _seconds(text, "max_blocking_time")
            except ValueError as e:
                raise ValueError("STACKWATCH_MAX_BLOCKING_TIME: %s" % e
                                 ) from None
        else:
            max_blocking_time = DEFAULT_MAX_BLOCKING_TIME
    else:
        max_blocking_time = _seconds(max_blocking_time, "max_blocking_time",
                                     allow_none=True)
    if max_memory_usage is _UNSET:
        text = _env("STACKWATCH_MAX_MEMORY_USAGE")
        try:
            max_memory_usage = (parse_size(text) if text is not None
                                and text.lower() not in _OFF else None)
        except ValueError as e:
            raise ValueError("STACKWATCH_MAX_MEMORY_USAGE: %s" % e) from None
    elif max_memory_usage is not None:
        max_memory_usage = parse_size(max_memory_usage)
    if memory_monitor_period is _UNSET:
        text = _env("STACKWATCH_MEMORY_MONITOR_PERIOD")
        try:
            memory_monitor_period = _seconds(
                text if text is not None else DEFAULT_MEMORY_MONITOR_PERIOD,
                "memory_monitor_period")
        except ValueError as e:
            raise ValueError("STACKWATCH_MEMORY_MONITOR_PERIOD: %s" % e
                             ) from None
    else:
        memory_monitor_period = _seconds(memory_monitor_period,
                                         "memory_monitor_period")
    return max_blocking_time, max_memory_usage, memory_monitor_period


class _Func:
    __slots__ = ("fn", "period", "due", "failures")

    def __init__(self, fn: Callable[[], Any], period: float) -> None:
        self.fn = fn
        self.period = period
        self.due = time.monotonic() + period
        self.failures = 0


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.running = False
        self.settings: Dict[str, Any] = {}
        self.thread: Optional[threading.Thread] = None
        self.stopping = False
        self.stream: Any = None  # a stream the native side cannot write
        self.funcs: Dict[Any, _Func] = {}
        self.hubs: Dict[int, Any] = {}  # watch id -> weakref to hub
        self.hub_watch: Dict[int, int] = {}  # id(hub) -> watch id
        self.loops: Dict[int, Tuple[Any, int]] = {}  # slot -> (ref, wid)
        self.explicit: set = set()  # loop watches with their own threshold
        self.tracking = False


_S = _State()


# ---- start / stop ---------------------------------------------------------

def start(max_blocking_time: Any = _UNSET, max_memory_usage: Any = _UNSET,
          memory_monitor_period: Any = _UNSET, report_to: Any = _UNSET,
          format_run_info: bool = False, log: bool = False,
          gevent: bool = True, asyncio: bool = False,
          report_interval: float = DEFAULT_REPORT_INTERVAL) -> None:
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
    asyncio: watch every asyncio loop started from now on (run_forever,
        and so asyncio.run); loops can also be watched one by one with
        watch_asyncio().
    report_interval: first interval of the "still blocked" updates (they
        double, up to one a minute).
    """
    mbt, mem, period = _resolve(max_blocking_time, max_memory_usage,
                                memory_monitor_period)
    interval = _seconds(report_interval, "report_interval")
    if report_to is _UNSET:
        report_to = sys.stderr
    fd, stream, close_fd = _report_target(report_to)
    with _S.lock:
        try:
            _native.watchdog_start(
                report_fd=fd, mem_max=mem or 0,
                mem_period=period if mem else 0.0, update=interval,
                name_wait=NAME_WAIT, hide=_PACKAGE_DIR + os.sep)
        finally:
            if close_fd:
                os.close(fd)
        _S.settings = {
            "max_blocking_time": mbt, "max_memory_usage": mem,
            "memory_monitor_period": period, "report_to": report_to,
            "format_run_info": bool(format_run_info), "log": bool(log),
            "gevent": bool(gevent), "asyncio": bool(asyncio),
            "report_interval": interval,
        }
        _S.stream = stream
        if not _S.running:
            _S.running = True
            _acquire()
            _start_thread()
        _retune_watches(mbt)
        if gevent and mbt is not None:
            _GeventHook.install()
        if asyncio and mbt is not None:
            _patch_asyncio()


def _report_target(report_to: Any) -> Tuple[int, Any, bool]:
    """(fd for the native side or -1, stream for the Python side, whether
    fd is ours to close)."""
    if report_to is None:
        return -1, None, False
    if isinstance(report_to, (str, bytes, os.PathLike)):
        path = os.fspath(report_to)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ValueError("cannot open the report file %r: %s"
                             % (os.fsdecode(path), e.strerror)) from None
        return fd, None, True
    if not hasattr(report_to, "write"):
        raise ValueError("report_to must be a stream, a path or None, "
                         "not %r" % (report_to,))
    try:
        report_to.flush()
        return report_to.fileno(), None, False
    except (AttributeError, OSError, ValueError):
        return -1, report_to, False


def stop() -> None:
    """Stops the monitor (watches are forgotten; subscribers stay)."""
    with _S.lock:
        if not _S.running:
            return
        _S.running = False
        _GeventHook.remove()
        _unpatch_asyncio()
        _unwatch_loops(list(_S.loops.values()))
        _S.loops.clear()
        _S.explicit.clear()
        _S.hubs.clear()
        _S.hub_watch.clear()
        thread, _S.thread = _S.thread, None
        _S.stopping = True
    _native.watchdog_stop()
    _native.watchdog_interrupt()
    if thread is not None and thread is not threading.current_thread():
        thread.join(5.0)
    _native.watchdog_clear()
    with _S.lock:
        _S.stopping = False
        _release()


def is_running() -> bool:
    return _S.running


def settings() -> Dict[str, Any]:
    """The settings in force (empty when the monitor is stopped)."""
    return dict(_S.settings) if _S.running else {}


def stats() -> Dict[str, Any]:
    """The monitor thread's counters: polls, reports, events dropped,
    its own CPU seconds and the number of watches."""
    return _native.watchdog_stats()


def _ensure_native() -> None:
    """The native thread for deadlines, without watching loops."""
    with _S.lock:
        if not _S.running:
            start(max_blocking_time=None, max_memory_usage=None)


def _acquire() -> None:
    _service.service.acquire()
    _S.tracking = _greenlets.start_tracking()


def _release() -> None:
    if _S.tracking:
        _greenlets.stop_tracking()
        _S.tracking = False
    _service.service.release()


# ---- the monitor's Python thread -----------------------------------------

def _start_thread() -> None:
    t = threading.Thread(target=_run, name="stackwatch-monitor", daemon=True)
    _S.thread = t
    t.start()


def _run() -> None:
    _native.sampler_exclude_current(True)
    try:
        while True:
            with _S.lock:
                if _S.stopping or _S.thread is not threading.current_thread():
                    break
                funcs = list(_S.funcs.values())
            now = time.monotonic()
            wait = 0.5
            for f in funcs:
                wait = min(wait, max(0.0, f.due - now))
            for ev in _native.watchdog_take(wait):
                try:
                    _deliver(ev)
                except Exception:
                    _service.report("delivering a watchdog event")
            _run_functions()
    finally:
        _native.sampler_exclude_current(False)


def _run_functions() -> None:
    now = time.monotonic()
    with _S.lock:
        due = [f for f in _S.funcs.values() if f.due <= now]
    for f in due:
        f.due = now + f.period
        try:
            f.fn()
            f.failures = 0
        except Exception:
            f.failures += 1
            _service.report("running the monitoring function %r (failure "
                            "%d of %d in a row)" % (f.fn, f.failures,
                                                    MAX_FAILURES))
            if f.failures >= MAX_FAILURES:
                with _S.lock:
                    if _S.funcs.get(f.fn) is f:
                        del _S.funcs[f.fn]
                _service.report_line(
                    "stackwatch: dropped the monitoring function %r after "
                    "%d failures in a row" % (f.fn, MAX_FAILURES))


def _stack(frames: List[Tuple[str, str, int]]) -> List[events.Frame]:
    # (name, filename, lineno) tuples, outermost first, from the native side
    return [events.Frame(*f) for f in frames]


def _greenlet_object(gid: int) -> Any:
    if not gid:
        return None
    try:
        entry = _native.greenlet_table().get(gid)
    except Exception:
        return None
    return entry[0] if entry else None


def _deliver(e: Dict[str, Any]) -> None:
    kind = e["kind"]
    report = e["report"]
    if report and _S.stream is not None:
        try:
            _S.stream.write(report)
            _S.stream.flush()
        except Exception:
            pass
    if report and _S.settings.get("log"):
        import logging

        logging.getLogger("stackwatch").warning("%s", report.rstrip("\n"))
    common = {"thread_ident": e["ident"], "native_id": e["tid"]}
    ev: events.Event
    if kind in (_native.WDE_BLOCKED, _native.WDE_UNBLOCKED):
        loop_kind = "gevent" if e["watch_kind"] == _native.WD_HUB \
            else "asyncio"
        loop = _loop_of(e["watch_kind"], e["watch_id"])
        if kind == _native.WDE_BLOCKED:
            greenlet = _greenlet_object(e["greenlet"])
            task = None
            label = e["label"]
            stack = _stack(e["stack"])
            if loop_kind == "asyncio" and loop is not None:
                task = _find_task(loop, stack, e["task_frame"])
            if greenlet is not None and not label:
                label = _greenlet_label(e["greenlet"])
            ev = events.EventLoopBlocked(
                loop_kind=loop_kind, loop=loop, greenlet=greenlet,
                task=task, label=label, blocking_time=e["duration"],
                max_blocking_time=e["threshold"], holds_gil=e["holds_gil"],
                report=report, stack=stack, **common)
            if _S.settings.get("format_run_info"):
                _write_run_info()
        else:
            ev = events.EventLoopUnblocked(
                loop_kind=loop_kind, loop=loop, duration=e["duration"],
                report=report, **common)
    elif kind == _native.WDE_DEADLINE:
        ev = events.DeadlineExceeded(
            name=e["name"], limit=e["threshold"], elapsed=e["duration"],
            holds_gil=e["holds_gil"], report=report,
            stack=_stack(e["stack"]), **common)
    elif kind == _native.WDE_DEADLINE_END:
        ev = events.DeadlineFinished(
            name=e["name"], limit=e["threshold"], duration=e["duration"],
            thread_ident=e["ident"], report=report)
    elif kind == _native.WDE_MEM_OVER:
        info = events.MemoryInfo(*e["mem"])
        ev = events.MemoryUsageThresholdExceeded(info.rss, e["mem_max"],
                                                 info)
    elif kind == _native.WDE_MEM_UNDER:
        info = events.MemoryInfo(*e["mem"])
        ev = events.MemoryUsageUnderThreshold(info.rss, e["mem_max"],
                                              e["mem_peak"], info)
    else:
        return
    events.notify(ev, on_error=_service.report)


def _write_run_info() -> None:
    """The fuller report: every thread's stack (read natively), then every
    greenlet and asyncio task (stackwatch.runinfo)."""
    from stackwatch import runinfo

    _service.refresh_names()
    tree = runinfo.RunTree(threads=False)
    text = "".join(["[stackwatch] run info after the stall report:\n",
                    _native.dump_text(), "\n", tree.format()])
    target = _S.settings.get("report_to")
    try:
        if isinstance(target, (str, bytes, os.PathLike)):
            with open(target, "a") as f:
                f.write(text)
        elif target is not None:
            target.write(text)
            target.flush()
    except Exception:
        pass


def _greenlet_label(gid: int, obj: Any = None) -> str:
    if obj is None:
        obj = _greenlet_object(gid)
    if obj is None:
        return "greenlet #%d" % gid
    return _greenlets.label(gid, obj, type(obj).__name__)


def _loop_of(watch_kind: int, wid: int) -> Any:
    if watch_kind == _native.WD_HUB:
        ref = _S.hubs.get(wid)
        return ref() if ref is not None else None
    entry = _S.loops.get(wid & 0xFF)
    if entry is not None and entry[1] == wid:
        return entry[0]()
    return None


def _current_task(loop: Any) -> Any:
    aio = sys.modules.get("asyncio")
    try:
        return aio.current_task(loop) if aio is not None else None
    except Exception:
        return None


def _find_task(loop: Any, stack: List[events.Frame], index: int) -> Any:
    """The task whose coroutine is stack[index], the frame the native side
    found after asyncio's Handle._run (csrc/wd_report.c; the loop has
    moved on by the time the event is delivered, so the current task is
    not necessarily the one)."""
    if not 0 <= index < len(stack):
        return None
    coro_name = stack[index].name
    aio = sys.modules.get("asyncio")
    try:
        tasks = list(aio.all_tasks(loop)) if aio is not None else []
    except Exception:
        tasks = []
    current = _current_task(loop)
    if current is not None:
        tasks.insert(0, current)
    for task in tasks:
        coro = task.get_coro() if hasattr(task, "get_coro") else None
        if coro_name in (getattr(coro, "__qualname__", None),
                         getattr(coro, "__name__", None)):
            return task
    return None


def _task_label(task: Any) -> str:
    name = task.get_name() if hasattr(task, "get_name") else "Task"
    coro = task.get_coro() if hasattr(task, "get_coro") else None
    qual = getattr(coro, "__qualname__", None)
    return "%s (coroutine %s)" % (name, qual) if qual else name


# Answers to the native report's questions (the GIL side's names).
def _answer_greenlet(gid: int) -> str:
    return _greenlet_label(gid) if gid else ""


def _answer_task(slot: int) -> str:
    entry = _S.loops.get(slot)
    loop = entry[0]() if entry else None
    task = _current_task(loop) if loop is not None else None
    return _task_label(task) if task is not None else ""


_service._answerers[_native.WD_ASK_GREENLET] = _answer_greenlet
_service._answerers[_native.WD_ASK_TASK] = _answer_task


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
        with _S.lock:
            _S.funcs.pop(function, None)
        return
    p = _seconds(period, "period")
    assert p is not None
    _ensure_native()
    with _S.lock:
        _S.funcs[function] = _Func(function, p)
    _native.watchdog_interrupt()  # recompute the wait


# ---- gevent ---------------------------------------------------------------

def watch_gevent(hub: Any = None) -> None:
    """Watches a gevent hub (default: this thread's) now. Hubs that start
    running after start() are watched without this; it is for a hub that
    was already running in this thread when the monitor started."""
    if not _S.running:
        raise RuntimeError("the monitor is not running: call "
                           "stackwatch.monitor.start() first")
    if hub is None:
        import gevent

        hub = gevent.get_hub()
    _watch_hub(hub)


def _hub_threshold() -> Optional[float]:
    return _S.settings.get("max_blocking_time")


def _watch_hub(hub: Any) -> None:
    """Watches hub, which runs in the calling thread."""
    mbt = _hub_threshold()
    if mbt is None or not _S.running:
        return
    if _native.greenlet_install() != 1:
        return
    gid = _native.greenlet_id(hub)
    with _S.lock:
        old = _S.hub_watch.pop(id(hub), None)
        if old is not None:
            _native.watchdog_remove(old)
            _S.hubs.pop(old, None)
        wid = _native.watchdog_add(_native.WD_HUB, mbt, gid, "")
        _S.hubs[wid] = weakref.ref(hub)
        _S.hub_watch[id(hub)] = wid


def _unwatch_hub(hub: Any) -> None:
    with _S.lock:
        wid = _S.hub_watch.pop(id(hub), None)
        if wid is not None:
            _native.watchdog_remove(wid)
            _S.hubs.pop(wid, None)


class _GeventHook(importlib.abc.MetaPathFinder):
    """Patches gevent's Hub when gevent.hub is imported (or at once), so
    that every hub is watched from the moment it starts running: its
    run() calls start_periodic_monitoring_thread(), in the hub greenlet,
    in the hub's thread."""

    installed = False
    patched: Optional[Tuple[Any, Any, Any]] = None

    @classmethod
    def install(cls) -> None:
        hub_mod = sys.modules.get("gevent.hub")
        if hub_mod is not None:
            cls.patch(hub_mod)
        elif not cls.installed:
            sys.meta_path.insert(0, cls())
            cls.installed = True

    @classmethod
    def remove(cls) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not isinstance(f, cls)]
        cls.installed = False
        if cls.patched is not None:
            hub_cls, start_orig, destroy_orig = cls.patched
            hub_cls.start_periodic_monitoring_thread = start_orig
            hub_cls.destroy = destroy_orig
            cls.patched = None

    @classmethod
    def patch(cls, hub_mod: Any) -> None:
        if cls.patched is not None:
            return
        hub_cls = hub_mod.Hub
        start_orig = hub_cls.start_periodic_monitoring_thread
        destroy_orig = hub_cls.destroy

        def start_periodic_monitoring_thread(self: Any) -> Any:
            try:
                _watch_hub(self)
            except Exception:
                _service.report("watching a gevent hub")
            return start_orig(self)

        def destroy(self: Any, *args: Any, **kw: Any) -> Any:
            try:
                _unwatch_hub(self)
            except Exception:
                pass
            return destroy_orig(self, *args, **kw)

        hub_cls.start_periodic_monitoring_thread = \
            start_periodic_monitoring_thread
        hub_cls.destroy = destroy
        cls.patched = (hub_cls, start_orig, destroy_orig)
        # A hub already running in this thread (the monitor started from
        # inside a gevent program).
        try:
            get = hub_mod._get_hub if hasattr(hub_mod, "_get_hub") else None
            hub = get() if get is not None else None
            if hub is not None and hub:
                _watch_hub(hub)
        except Exception:
            pass

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> Any:
        if fullname != "gevent.hub":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        type(self).installed = False
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_orig = loader.exec_module

        def exec_module(module: Any) -> None:
            exec_orig(module)
            try:
                if _S.running:
                    type(self).patch(module)
            except Exception:
                _service.report("patching gevent's hub")

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


# ---- asyncio ----------------------------------------------------------------

def watch_asyncio(loop: Any = None, max_blocking_time: Optional[float] = None,
                  name: Optional[str] = None) -> None:
    """Watches an asyncio loop; call it from the loop's thread (inside
    the loop, or before running it).

    The loop's selector.select() is wrapped (in C) so that the loop marks
    when it goes back to waiting for I/O: a loop that has not been back
    for max_blocking_time, while it runs, is blocked. This costs about
    100 ns per loop iteration and nothing while the loop is idle. Loops
    without a selector (uvloop) cannot be watched yet: ValueError."""
    import asyncio as aio

    if loop is None:
        loop = aio.get_running_loop()
    if not _S.running:
        raise RuntimeError("the monitor is not running: call "
                           "stackwatch.monitor.start() first")
    explicit = max_blocking_time is not None
    mbt = max_blocking_time
    if mbt is None:
        mbt = _hub_threshold() or DEFAULT_MAX_BLOCKING_TIME
    mbt = _seconds(mbt, "max_blocking_time")
    assert mbt is not None
    selector = getattr(loop, "_selector", None)
    select = getattr(selector, "select", None)
    if select is None or not callable(select):
        raise ValueError("cannot watch %s: it has no selector (only "
                         "asyncio's selector event loops can be watched)"
                         % type(loop).__name__)
    unwatch_asyncio(loop)
    label = name or "%s at 0x%x" % (type(loop).__name__, id(loop))
    wid = _native.watchdog_add(_native.WD_LOOP, mbt, 0, label)
    selector.select = _native.watchdog_select_hook(select, wid)
    loop._stackwatch_wid = wid
    with _S.lock:
        _S.loops[wid & 0xFF] = (weakref.ref(loop), wid)
        if explicit:
            _S.explicit.add(wid)


def unwatch_asyncio(loop: Any = None) -> None:
    """Stops watching a loop (default: the running one)."""
    if loop is None:
        import asyncio as aio

        loop = aio.get_running_loop()
    wid = getattr(loop, "_stackwatch_wid", None)
    if wid is None:
        return
    loop._stackwatch_wid = None
    selector = getattr(loop, "_selector", None)
    hook = getattr(selector, "__dict__", {}).get("select")
    if isinstance(hook, _native.SelectHook):
        del selector.select
    _native.watchdog_remove(wid)
    with _S.lock:
        entry = _S.loops.get(wid & 0xFF)
        if entry is not None and entry[1] == wid:
            del _S.loops[wid & 0xFF]
        _S.explicit.discard(wid)


_aio_orig: Optional[Callable[..., Any]] = None


def _patch_asyncio() -> None:
    """Watches every loop for as long as its run_forever() runs."""
    global _aio_orig
    if _aio_orig is not None:
        return
    import asyncio.base_events as be

    orig = be.BaseEventLoop.run_forever

    def run_forever(self: Any) -> Any:
        watched = False
        if _S.running and _hub_threshold() is not None and getattr(
                self, "_stackwatch_wid", None) is None:
            try:
                watch_asyncio(self)
                watched = True
            except Exception:
                _service.report("watching an asyncio loop")
        try:
            return orig(self)
        finally:
            if watched:
                try:
                    unwatch_asyncio(self)
                except Exception:
                    pass

    run_forever.__wrapped__ = orig  # type: ignore[attr-defined]
    be.BaseEventLoop.run_forever = run_forever  # type: ignore
    _aio_orig = orig


def _unpatch_asyncio() -> None:
    global _aio_orig
    if _aio_orig is None:
        return
    import asyncio.base_events as be

    be.BaseEventLoop.run_forever = _aio_orig  # type: ignore
    _aio_orig = None


def _unwatch_loops(loops: List[Tuple[Any, int]]) -> None:
    """Stops watching the loops of (weak reference, watch id) pairs."""
    for ref, _ in loops:
        loop = ref()
        if loop is not None:
            try:
                unwatch_asyncio(loop)
            except Exception:
                pass


def _retune_watches(mbt: Optional[float]) -> None:
    """Applies a new max_blocking_time to the hubs and loops watched now
    (not to loops watched with a threshold of their own); None stops
    watching them."""
    with _S.lock:
        hubs = list(_S.hubs.items())
        loops = [(ref, wid) for ref, wid in _S.loops.values()
                 if wid not in _S.explicit]
    if mbt is None:
        for wid, ref in hubs:
            hub = ref()
            if hub is not None:
                _unwatch_hub(hub)
        _unwatch_loops(loops)
        return
    for wid, _ in hubs:
        _native.watchdog_set_threshold(wid, mbt)
    for _, wid in loops:
        _native.watchdog_set_threshold(wid, mbt)


# ---- fork and exit --------------------------------------------------------

def _reset_in_child() -> None:
    """First step in a forked child: our Python thread does not exist
    there; the service and tracking users we held are re-acquired by the
    restart."""
    _S.lock = threading.RLock()
    _S.thread = None
    _S.stopping = False
    if _S.running:
        _service.service.forget_user_in_child()
        if _S.tracking:
            _greenlets.stop_tracking()
            _S.tracking = False


def _restart_in_child() -> None:
    """Starts the monitor again in the child with the same settings.
    Watches of the forking thread survive (the others were dropped by
    csrc/watchdog.c)."""
    if not _S.running:
        return
    s = dict(_S.settings)
    _S.running = False
    start(max_blocking_time=s["max_blocking_time"],
          max_memory_usage=s["max_memory_usage"],
          memory_monitor_period=s["memory_monitor_period"],
          report_to=s["report_to"], format_run_info=s["format_run_info"],
          log=s["log"], gevent=s["gevent"], asyncio=s["asyncio"],
          report_interval=s["report_interval"])


_lifecycle.on_exit(_lifecycle.MONITOR, stop)
_lifecycle.on_fork_child(1, _reset_in_child)
_lifecycle.on_fork_child(_lifecycle.MONITOR, _restart_in_child)
