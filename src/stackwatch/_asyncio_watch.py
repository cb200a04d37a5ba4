"""Watching asyncio loops: the selector hook of one loop, or the ticks
of a loop without a selector such as uvloop's (:func:`watch_asyncio`),
and the patch of ``asyncio.events._set_running_loop`` that watches every
loop while it runs (``monitor.start(asyncio=True)``), made when the
program imports asyncio: stackwatch never imports it for a program that
does not.
"""

from __future__ import annotations

import os
import sys
import _thread
import _weakref  # (weakref.ref: the weakref module costs 0.8 ms of start-up)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set, Tuple

from stackwatch import _import_hooks, _native, _service
from stackwatch._monitor_settings import DEFAULT_MAX_BLOCKING_TIME, seconds
from stackwatch._monitor_state import S, hub_threshold


def watch_asyncio(loop: Any = None, max_blocking_time: Optional[float] = None,
                  name: Optional[str] = None) -> None:
    """Watches an asyncio loop; call it from the loop's thread (inside
    the loop, or before running it).

    The loop's selector.select() is wrapped (in C) so that the loop marks
    when it goes back to waiting for I/O: a loop that has not been back
    for max_blocking_time, while it runs, is blocked. This costs about
    100 ns per loop iteration and nothing while the loop is idle.

    A loop without a selector (uvloop's) is ticked instead: a callback
    that the loop runs every max_blocking_time / 8 marks it responsive,
    and a loop that has not run it for max_blocking_time is blocked
    (timed from the last tick, so up to an eighth early; the loop wakes
    for each tick, also while idle: about 0.8% of a core at 0.1 s). Its
    start and end are seen through ``asyncio._set_running_loop``, which
    uvloop takes when it is imported: such a loop can be watched only if
    uvloop was imported after the monitor started (``stackwatch run`` and
    ``STACKWATCH_MONITOR=1`` start it first); otherwise ValueError."""
    import asyncio as aio

    if loop is None:
        loop = aio.get_running_loop()
    if not S.running:
        raise RuntimeError("the monitor is not running: call "
                           "stackwatch.monitor.start() first")
    explicit = max_blocking_time is not None
    mbt = max_blocking_time
    if mbt is None:
        mbt = hub_threshold() or DEFAULT_MAX_BLOCKING_TIME
    mbt = seconds(mbt, "max_blocking_time")
    assert mbt is not None
    selector = getattr(loop, "_selector", None)
    select = getattr(selector, "select", None)
    ticked = select is None or not callable(select)
    if ticked and not _ends_seen(loop):
        raise ValueError(
            "cannot watch %s: a loop without a selector is watched through "
            "asyncio._set_running_loop, which %s took when it was imported, "
            "before the monitor started; start the monitor first"
            % (type(loop).__name__, type(loop).__module__.partition(".")[0]))
    unwatch_asyncio(loop)
    label = name or "%s at 0x%x" % (type(loop).__name__, id(loop))
    wid = _native.watchdog_add(_native.WD_LOOP, mbt, 0, label)
    if ticked:
        _periods[wid] = _tick_period(mbt)
        loop._stackwatch_wid = wid
        if aio._get_running_loop() is loop:
            _tick(loop, wid)
    else:
        selector.select = _native.watchdog_select_hook(select, wid)
        loop._stackwatch_wid = wid
    with S.lock:
        S.loops[wid & 0xFF] = (_weakref.ref(loop), wid)
        if explicit:
            S.explicit.add(wid)


def unwatch_asyncio(loop: Any = None) -> None:
    """Stops watching a loop (default: the running one)."""
    if loop is None:
        import asyncio as aio

        loop = aio.get_running_loop()
    wid = getattr(loop, "_stackwatch_wid", None)
    if wid is None:
        return
    loop._stackwatch_wid = None
    _periods.pop(wid, None)
    selector = getattr(loop, "_selector", None)
    hook = getattr(selector, "__dict__", {}).get("select")
    if isinstance(hook, _native.SelectHook):
        del selector.select
    _native.watchdog_remove(wid)
    with S.lock:
        entry = S.loops.get(wid & 0xFF)
        if entry is not None and entry[1] == wid:
            del S.loops[wid & 0xFF]
        S.explicit.discard(wid)


#: The tick period of each ticked loop's watch (watch id -> seconds),
#: and the watches whose loop holds a timer for their next tick.
_periods: Dict[int, float] = {}
_timed: Set[int] = set()


def _tick_period(mbt: float) -> float:
    return max(mbt / 8, 0.001)


def retune_loop(wid: int, mbt: float) -> None:
    """A new max_blocking_time for a loop's watch (and its ticks)."""
    _native.watchdog_set_threshold(wid, mbt)
    if wid in _periods:
        _periods[wid] = _tick_period(mbt)


def _tick(loop: Any, wid: int) -> None:
    """Ticks a loop's watch now and every period after, while the loop
    runs and the watch lasts (a timer of the loop's own, kept across the
    loop's runs: one per watch)."""
    tick = _native.watchdog_tick
    if wid in _timed:
        tick(wid, True, getattr(loop, "_stackwatch_base", 0))
        return
    call_later = loop.call_later

    def stackwatch_tick() -> None:
        period = _periods.get(wid)
        if period is None:
            _timed.discard(wid)
            return
        # The base of the loop's current run (a loop may run again from
        # elsewhere).
        tick(wid, True, getattr(loop, "_stackwatch_base", 0))
        call_later(period, stackwatch_tick)

    _timed.add(wid)
    stackwatch_tick()


#: (asyncio.events, its _set_running_loop) while patched.
_patched: Optional[Tuple[Any, Any]] = None
#: Whether uvloop took one of our _set_running_loop wrappers when it was
#: imported (True), or the original (False: imported before any patch);
#: None before uvloop is imported.
_uvloop_sees_us: Optional[bool] = None


def _ends_seen(loop: Any) -> bool:
    """Whether a loop's runs pass through our _set_running_loop wrapper
    (a ticked loop is told apart from a stopped one only that way)."""
    if type(loop).__module__.partition(".")[0] == "uvloop":
        return bool(_uvloop_sees_us)
    return _patched is not None


def _uvloop_imported(module: Any) -> None:
    global _uvloop_sees_us
    if _uvloop_sees_us is None:
        aio = sys.modules.get("asyncio")
        _uvloop_sees_us = getattr(getattr(aio, "_set_running_loop", None),
                                  "_stackwatch", False)


def patch_asyncio() -> None:
    """Follows every loop's start and end from the moment the program
    imports asyncio (at once if it has), and watches each while it runs
    when the monitor's settings say asyncio=True."""
    _import_hooks.when_imported("asyncio.events", _patch_events)


def _patch_events(events: Any) -> None:
    """Wraps ``asyncio.events._set_running_loop``, which every loop's
    run_forever() calls (as a module attribute, 3.9 to 3.13) as it starts
    and as it ends: a call that returns at once, so no frame of ours stays
    on the loop's stack. A loop already running in this thread (the
    monitor started from inside it) is watched now."""
    global _patched, _uvloop_sees_us
    if _patched is not None or not S.running:
        return
    orig = events._set_running_loop

    def _set_running_loop(loop: Any) -> None:
        if loop is None:
            _loop_ends(events._get_running_loop())
        orig(loop)
        if loop is not None:
            _loop_starts(loop, sys._getframe(1))

    _set_running_loop.__wrapped__ = orig  # type: ignore[attr-defined]
    _set_running_loop._stackwatch = True  # type: ignore[attr-defined]
    events._set_running_loop = _set_running_loop
    # The package's own name for it, which uvloop takes at its import
    # (asyncio binds it after asyncio.events is imported: at once if the
    # program had imported asyncio before).
    aio = sys.modules.get("asyncio")
    if getattr(aio, "_set_running_loop", None) is orig:
        aio._set_running_loop = _set_running_loop  # type: ignore[union-attr]
    if _uvloop_sees_us is None and "uvloop.loop" in sys.modules:
        _uvloop_sees_us = False
        _service.report_line(
            "stackwatch: uvloop was imported before the watchdog started, "
            "so its loops are not watched; start the watchdog first "
            "(stackwatch run, STACKWATCH_MONITOR=1, or monitor.start() "
            "before importing uvloop)")
    _import_hooks.when_imported("uvloop.loop", _uvloop_imported)
    _patched = (events, orig)
    _loop_starts(events._get_running_loop())


def _loop_starts(loop: Any, caller: Any = None) -> None:
    """A loop starts running; caller: the frame that runs it, if known."""
    if loop is None:
        return
    if caller is not None:
        # How deep the stack is below the loop (the frames of the code
        # that runs it): a ticked loop's callbacks start above them.
        depth = 0
        while caller is not None:
            depth += 1
            caller = caller.f_back
        try:
            loop._stackwatch_base = depth
        except Exception:
            pass
    try:
        loop._stackwatch_thread = _thread.get_ident()  # (_capture.loop_ident)
        S.started[id(loop)] = _weakref.ref(loop)
    except Exception:
        pass
    wid = getattr(loop, "_stackwatch_wid", None)
    if wid is not None and wid in _periods:
        _tick(loop, wid)  # a ticked loop watched before it ran
        return
    if not S.running or hub_threshold() is None or wid is not None or \
            not S.settings.get("asyncio"):
        return
    if not callable(getattr(getattr(loop, "_selector", None), "select",
                            None)) and not _ends_seen(loop):
        # A uvloop loop already running when the monitor started in it,
        # uvloop imported before: its end cannot be seen (the line
        # _patch_events wrote says so).
        return
    try:
        watch_asyncio(loop)
        loop._stackwatch_auto = os.getpid()
    except Exception:
        _service.report("watching an asyncio loop")


def _loop_ends(loop: Any) -> None:
    S.started.pop(id(loop), None)
    wid = getattr(loop, "_stackwatch_wid", None)
    if wid is not None and wid in _periods:
        # A ticked loop stops: no stall until it ticks again (its timer
        # stays in the loop, to run when it runs again).
        _native.watchdog_tick(wid, False, 0)
    # Only a loop watched here, by this process (asyncio ends the running
    # loop in a forked child, 3.12+, before our own fork steps ran).
    if loop is None or getattr(loop, "_stackwatch_auto", None) != \
            os.getpid():
        return
    loop._stackwatch_auto = None
    try:
        unwatch_asyncio(loop)
    except Exception:
        pass


def unpatch_asyncio() -> None:
    global _patched
    _import_hooks.cancel("asyncio.events", _patch_events)
    _import_hooks.cancel("uvloop.loop", _uvloop_imported)
    if _patched is None:
        return
    events, orig = _patched
    wrapper = events._set_running_loop
    if getattr(wrapper, "__wrapped__", None) is orig:
        events._set_running_loop = orig
        aio = sys.modules.get("asyncio")
        if getattr(aio, "_set_running_loop", None) is wrapper:
            aio._set_running_loop = orig  # type: ignore[union-attr]
    _patched = None


def unwatch_loops(loops: List[Tuple[Any, int]]) -> None:
    """Stops watching the loops of (weak reference, watch id) pairs."""
    for ref, _ in loops:
        loop = ref()
        if loop is not None:
            try:
                unwatch_asyncio(loop)
            except Exception:
                pass
