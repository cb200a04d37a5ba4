"""The monitor's Python thread (``stackwatch-monitor``): takes the events
of the native watchdog thread (csrc/watchdog.c), turns them into
:mod:`stackwatch.events` objects, delivers them to subscribers, writes the
reports the native side cannot (streams without a file descriptor, the
logger, the run info after a stall) and runs the periodic functions of
``add_monitoring_function()``.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Tuple

from stackwatch import _native, _osthread, _service, events
from stackwatch._monitor_state import S
from stackwatch._watchdog_answers import (find_task, greenlet_label,
                                          greenlet_object)

#: A periodic function is dropped after this many failures in a row.
MAX_FAILURES = 10


def start_thread() -> None:
    """Starts the thread (the caller holds S.lock)."""
    t = _osthread.Thread(_run, "stackwatch-monitor")
    S.thread = t
    t.start()


def _run() -> None:
    _native.sampler_exclude_current(True)
    try:
        while True:
            with S.lock:
                if S.stopping or S.thread is None or \
                        not S.thread.is_current():
                    break
                funcs = list(S.funcs.values())
            now = time.monotonic()
            wait = 0.5
            for f in funcs:
                wait = min(wait, max(0.0, f.due - now))
            for ev in _native.watchdog_take(wait):
                try:
                    deliver(ev)
                except Exception:
                    _service.report("delivering a watchdog event")
            run_functions()
    finally:
        _native.sampler_exclude_current(False)


def run_functions() -> None:
    """Runs the periodic functions that are due."""
    now = time.monotonic()
    with S.lock:
        due = [f for f in S.funcs.values() if f.due <= now]
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
                with S.lock:
                    if S.funcs.get(f.fn) is f:
                        del S.funcs[f.fn]
                _service.report_line(
                    "stackwatch: dropped the monitoring function %r after "
                    "%d failures in a row" % (f.fn, MAX_FAILURES))


def parse_stack(frames: List[Tuple[str, str, int]]) -> List[events.Frame]:
    """A watchdog event's stack: (name, filename, lineno) tuples from the
    native side, outermost first, as frames."""
    return [events.Frame(*f) for f in frames]


def loop_of(watch_kind: int, wid: int) -> Any:
    """The hub or loop of a watch, if it still exists."""
    if watch_kind == _native.WD_HUB:
        ref = S.hubs.get(wid)
        return ref() if ref is not None else None
    entry = S.loops.get(wid & 0xFF)
    if entry is not None and entry[1] == wid:
        return entry[0]()
    return None


def deliver(e: Dict[str, Any]) -> None:
    """Writes, logs and delivers one event of the native side."""
    kind = e["kind"]
    report = e["report"]
    if report and S.stream is not None:
        try:
            S.stream.write(report)
            S.stream.flush()
        except Exception:
            pass
    if report and S.settings.get("log"):
        import logging

        logging.getLogger("stackwatch").warning("%s", report.rstrip("\n"))
    tracing = sys.modules.get("stackwatch.trace")
    if tracing is not None:
        try:
            tracing._note_watchdog(e)  # stalls on the trace's timeline
        except Exception:
            _service.report("marking a stall on the trace")
    common = {"thread_ident": e["ident"], "native_id": e["tid"]}
    ev: events.Event
    if kind in (_native.WDE_BLOCKED, _native.WDE_UNBLOCKED):
        loop_kind = "gevent" if e["watch_kind"] == _native.WD_HUB \
            else "asyncio"
        loop = loop_of(e["watch_kind"], e["watch_id"])
        if kind == _native.WDE_BLOCKED:
            greenlet = greenlet_object(e["greenlet"])
            task = None
            label = e["label"]
            stack = parse_stack(e["stack"])
            if loop_kind == "asyncio" and loop is not None:
                task = find_task(loop, stack, e["task_frame"])
            if greenlet is not None and not label:
                label = greenlet_label(e["greenlet"])
            ev = events.EventLoopBlocked(
                loop_kind=loop_kind, loop=loop, greenlet=greenlet,
                task=task, label=label, blocking_time=e["duration"],
                max_blocking_time=e["threshold"], holds_gil=e["holds_gil"],
                report=report, stack=stack, **common)
            if S.settings.get("format_run_info"):
                write_run_info()
        else:
            ev = events.EventLoopUnblocked(
                loop_kind=loop_kind, loop=loop, duration=e["duration"],
                report=report, **common)
    elif kind == _native.WDE_DEADLINE:
        ev = events.DeadlineExceeded(
            name=e["name"], limit=e["threshold"], elapsed=e["duration"],
            holds_gil=e["holds_gil"], report=report,
            stack=parse_stack(e["stack"]), **common)
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


def write_run_info() -> None:
    """The fuller report: every thread's stack (read natively), then every
    greenlet and asyncio task (stackwatch.runinfo)."""
    from stackwatch import runinfo

    _service.refresh_names()
    tree = runinfo.RunTree(threads=False)
    full = bool(S.settings.get("full_paths"))
    text = "".join(["[stackwatch] run info after the stall report:\n",
                    _native.dump_text(full_paths=full), "\n",
                    tree.format(full_paths=full)])
    target = S.settings.get("report_to")
    try:
        if isinstance(target, (str, bytes, os.PathLike)):
            with open(target, "a") as f:
                f.write(text)
        elif target is not None:
            target.write(text)
            target.flush()
    except Exception:
        pass
