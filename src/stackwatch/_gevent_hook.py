"""Watching gevent hubs: patching gevent's Hub when ``gevent.hub`` is
imported (``_import_hooks``; at once if it is), so that every hub is
watched by the native watchdog from the moment it starts running, and
forgotten when it is destroyed.
"""

from __future__ import annotations

import _weakref  # (weakref.ref: the weakref module costs 0.8 ms of start-up)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

from stackwatch import _import_hooks, _native, _service
from stackwatch._monitor_state import S, hub_threshold


def watch_gevent(hub: Any = None) -> None:
    """Watches a gevent hub (default: this thread's) now. Hubs that start
    running after start() are watched without this; it is for a hub that
    was already running in this thread when the monitor started."""
    if not S.running:
        raise RuntimeError("the monitor is not running: call "
                           "stackwatch.monitor.start() first")
    if hub is None:
        import gevent

        hub = gevent.get_hub()
    watch_hub(hub)


def watch_hub(hub: Any) -> None:
    """Watches hub, which runs in the calling thread."""
    mbt = hub_threshold()
    if mbt is None or not S.running:
        return
    if _native.greenlet_install() != 1:
        return
    gid = _native.greenlet_id(hub)
    with S.lock:
        old = S.hub_watch.pop(id(hub), None)
        if old is not None:
            _native.watchdog_remove(old)
            S.hubs.pop(old, None)
        wid = _native.watchdog_add(_native.WD_HUB, mbt, gid, "")
        S.hubs[wid] = _weakref.ref(hub)
        S.hub_watch[id(hub)] = wid


def unwatch_hub(hub: Any) -> None:
    with S.lock:
        wid = S.hub_watch.pop(id(hub), None)
        if wid is not None:
            _native.watchdog_remove(wid)
            S.hubs.pop(wid, None)


class GeventHook:
    """Patches gevent's Hub when gevent.hub is imported (or at once), so
    that every hub is watched from the moment it starts running: its
    run() calls start_periodic_monitoring_thread(), in the hub greenlet,
    in the hub's thread."""

    patched: Optional[Tuple[Any, Any, Any]] = None

    @classmethod
    def install(cls) -> None:
        _import_hooks.when_imported("gevent.hub", _patch_when_running)

    @classmethod
    def remove(cls) -> None:
        _import_hooks.cancel("gevent.hub", _patch_when_running)
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
                watch_hub(self)
            except Exception:
                _service.report("watching a gevent hub")
            return start_orig(self)

        def destroy(self: Any, *args: Any, **kw: Any) -> Any:
            try:
                unwatch_hub(self)
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
                watch_hub(hub)
        except Exception:
            pass


def _patch_when_running(hub_mod: Any) -> None:
    if S.running:
        GeventHook.patch(hub_mod)
