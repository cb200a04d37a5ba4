"""Watching asyncio loops: the selector hook of one loop
(:func:`watch_asyncio`), and the patch of
``asyncio.events._set_running_loop`` that watches every loop while it
runs (``monitor.start(asyncio=True)``), made when the program imports
asyncio: stackwatch never imports it for a program that does not.
"""

from __future__ import annotations

import os
import _weakref  # (weakref.ref: the weakref module costs 0.8 ms of start-up)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

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
    100 ns per loop iteration and nothing while the loop is idle. Loops
    without a selector (uvloop) cannot be watched yet: ValueError."""
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
    if select is None or not callable(select):
        raise ValueError("cannot watch %s: it has no selector (only "
                         "asyncio's selector event loops can be watched)"
                         % type(loop).__name__)
    unwatch_asyncio(loop)
    label = name or "%s at 0x%x" % (type(loop).__name__, id(loop))
    wid = _native.watchdog_add(_native.WD_LOOP, mbt, 0, label)
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


#: (asyncio.events, its _set_running_loop) while patched.
_patched: Optional[Tuple[Any, Any]] = None


def patch_asyncio() -> None:
    """Watches every loop while it runs, from the moment the program
    imports asyncio (at once if it has)."""
    _import_hooks.when_imported("asyncio.events", _patch_events)


def _patch_events(events: Any) -> None:
    """Wraps ``asyncio.events._set_running_loop``, which every loop's
    run_forever() calls (as a module attribute, 3.9 to 3.13) as it starts
    and as it ends: a call that returns at once, so no frame of ours stays
    on the loop's stack. A loop already running in this thread (the
    monitor started from inside it) is watched now."""
    global _patched
    if _patched is not None or not S.running:
        return
    orig = events._set_running_loop

    def _set_running_loop(loop: Any) -> None:
        if loop is None:
            _loop_ends(events._get_running_loop())
        orig(loop)
        if loop is not None:
            _loop_starts(loop)

    _set_running_loop.__wrapped__ = orig  # type: ignore[attr-defined]
    events._set_running_loop = _set_running_loop
    _patched = (events, orig)
    _loop_starts(events._get_running_loop())


def _loop_starts(loop: Any) -> None:
    if loop is None or not S.running or hub_threshold() is None or getattr(
            loop, "_stackwatch_wid", None) is not None:
        return
    try:
        watch_asyncio(loop)
        loop._stackwatch_auto = os.getpid()
    except Exception:
        _service.report("watching an asyncio loop")


def _loop_ends(loop: Any) -> None:
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
    if _patched is None:
        return
    events, orig = _patched
    if getattr(events._set_running_loop, "__wrapped__", None) is orig:
        events._set_running_loop = orig
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
