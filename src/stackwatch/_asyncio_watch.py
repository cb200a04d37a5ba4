"""Watching asyncio loops: the selector hook of one loop
(:func:`watch_asyncio`), and the patch of ``BaseEventLoop.run_forever``
that watches every loop while it runs (``monitor.start(asyncio=True)``).
"""

import weakref
from typing import Any, Callable, List, Optional, Tuple

from stackwatch import _native, _service
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
        S.loops[wid & 0xFF] = (weakref.ref(loop), wid)
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


_aio_orig: Optional[Callable[..., Any]] = None


def patch_asyncio() -> None:
    """Watches every loop for as long as its run_forever() runs."""
    global _aio_orig
    if _aio_orig is not None:
        return
    import asyncio.base_events as be

    orig = be.BaseEventLoop.run_forever

    def run_forever(self: Any) -> Any:
        watched = False
        if S.running and hub_threshold() is not None and getattr(
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


def unpatch_asyncio() -> None:
    global _aio_orig
    if _aio_orig is None:
        return
    import asyncio.base_events as be

    be.BaseEventLoop.run_forever = _aio_orig  # type: ignore
    _aio_orig = None


def unwatch_loops(loops: List[Tuple[Any, int]]) -> None:
    """Stops watching the loops of (weak reference, watch id) pairs."""
    for ref, _ in loops:
        loop = ref()
        if loop is not None:
            try:
                unwatch_asyncio(loop)
            except Exception:
                pass
