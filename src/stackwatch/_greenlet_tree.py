"""Run info's greenlet forest: every greenlet as a tree by spawner, with
gevent's details (name, spawning stack, spawn-tree locals, local dicts)."""

from __future__ import annotations

import gc
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs too much on the dump autostart path
    from typing import Any, Dict, List, Optional

from stackwatch import _greenlets, _native
from stackwatch._capture import Capture
from stackwatch._node import Node
from stackwatch._saferepr import type_name


class GreenletForest:
    """Greenlets as trees by spawner: a gevent Greenlet hangs under the
    greenlet that spawned it (``spawning_greenlet``), any other greenlet
    (or one whose spawner is gone) under its parent; roots are main
    greenlets, one per thread."""

    def __init__(self, cap: Capture, objects: Dict[str, list]) -> None:
        self.cap = cap
        self.glets = objects["greenlets"]
        self.gevent = sys.modules.get("gevent")
        self.threads = self._main_threads()

    def _main_threads(self) -> Dict[int, str]:
        """id(main greenlet) -> thread name, where it can be told: the
        caller's own, and for gevent each hub's thread."""
        names = {t.ident: t.name for t in threading.enumerate()}
        out: Dict[int, str] = {}
        glet = sys.modules["greenlet"]
        me = glet.getcurrent()
        while me.parent is not None:
            me = me.parent
        out[id(me)] = threading.current_thread().name
        for g in self.glets:
            ident = getattr(g, "thread_ident", None)  # a gevent Hub
            parent = getattr(g, "parent", None)
            if ident is not None and parent is not None and \
                    getattr(parent, "parent", 0) is None:
                out[id(parent)] = names.get(ident, "%#x" % ident)
        return out

    @staticmethod
    def _spawner(g: Any) -> Any:
        ref = getattr(g, "spawning_greenlet", None)
        try:
            parent = ref() if ref is not None else None
        except Exception:
            parent = None
        return parent if parent is not None else getattr(g, "parent", None)

    def roots(self) -> List[Node]:
        nodes: Dict[int, Node] = {}
        order = sorted(self.glets, key=lambda g: (
            getattr(g, "minimal_ident", -1), _native.greenlet_id(g)))
        for g in order:
            nodes[id(g)] = self.node(g)
        roots: List[Node] = []
        for g in order:
            node = nodes[id(g)]
            spawner = self._spawner(g)
            seen = {id(g)}
            # Climb past spawners that are not in the list (collected) and
            # refuse cycles.
            while spawner is not None and id(spawner) not in nodes:
                if id(spawner) in seen:
                    spawner = None
                    break
                seen.add(id(spawner))
                spawner = getattr(spawner, "parent", None)
            if spawner is None or id(spawner) in seen:
                roots.append(node)
            else:
                nodes[id(spawner)].children.append(node)
        # A thread's main greenlet alone says nothing its stack does not.
        return [n for n in roots
                if n.children or not n.name.startswith("main greenlet")]

    def node(self, g: Any) -> Node:
        gid = _native.greenlet_id(g)
        info: Dict[str, Any] = {"type": type_name(g)}
        frame = getattr(g, "gr_frame", None)
        state = greenlet_state(g, frame)
        who = _greenlets.identify(g, gid)
        gevent = self.gevent
        name = "%s #%d" % (who.name, gid)
        if who.function:
            info["function"] = who.function
        if who.kind == "main":
            thread = self.threads.get(id(g))
            if thread is not None:
                info["thread"] = thread
                name += " of thread %s" % thread
        elif who.kind == "gevent":
            self._gevent_details(g, info)
            if state == "not started":
                _start_details(g, info)
            exc = getattr(g, "exception", None)
            if g.dead and exc is not None:
                state = "failed"
                info["exception"] = self.cap.repr(exc)
            elif g.dead and getattr(g, "value", None) is not None:
                info["value"] = self.cap.repr(g.value)
        if gevent is not None and hasattr(g, "thread_ident"):
            info["hub_of_thread"] = g.thread_ident
        self._local_dicts(g, info)
        stack = self.cap.stack(frame) if frame is not None else []
        return Node("greenlet", gid, name, state, stack, info)

    def _gevent_details(self, g: Any, info: Dict[str, Any]) -> None:
        info["minimal_ident"] = getattr(g, "minimal_ident", None)
        info["gevent_name"] = getattr(g, "name", None)
        spawning = getattr(g, "spawning_stack", None)
        if spawning is not None:
            # gevent's captured frames: code and line, no locals.
            info["spawning_stack"] = self.cap.stack(spawning, False)
        tree_locals = getattr(g, "spawn_tree_locals", None)
        spawner = self._spawner(g)
        if tree_locals and tree_locals is not getattr(
                spawner, "spawn_tree_locals", None):
            info["spawn_tree_locals"] = self.cap.dict_repr(tree_locals)

    def _local_dicts(self, g: Any, info: Dict[str, Any]) -> None:
        if self.gevent is None:
            return
        local = sys.modules.get("gevent.local")
        fn = getattr(local, "all_local_dicts_for_greenlet", None)
        if fn is None:
            return
        try:
            found = fn(g)
        except Exception:
            return
        dicts = {}
        for (kind, ident), values in found:
            if values:
                dicts["%s at %#x" % (getattr(kind, "__name__", kind),
                                     ident)] = self.cap.dict_repr(values)
        if dicts:
            info["local_dicts"] = dicts


def greenlet_state(g: Any, frame: Any) -> str:
    """"dead", "not started", "running" or "suspended", from greenlet's
    own view of g: gevent's ``Greenlet.__bool__`` is true as soon as a
    greenlet is scheduled (``spawn``, ``spawn_later``), long before it
    runs. A started greenlet without a frame is the current one of its
    thread: running."""
    if g.dead:
        return "dead"
    try:
        started = sys.modules["greenlet"].greenlet.__bool__(g)
    except Exception:
        started = bool(g)
    if not started:
        return "not started"
    return "running" if frame is None else "suspended"


def _start_details(g: Any, info: Dict[str, Any]) -> None:
    """How a gevent Greenlet that has not started will start: "timer"
    (``spawn_later``; `starts_in` seconds when the loop tells) or
    "callback" (``spawn``: at the hub's next loop iteration). Nothing
    for one never scheduled. Best effort: gevent keeps the start event
    in a private attribute (a C field when compiled, seen by the
    collector)."""
    event = getattr(g, "_start_event", None)
    candidates = [event] if event is not None else _referents(g)
    for ob in candidates:
        kind = type(ob).__name__
        if kind not in ("timer", "callback") or \
                not type(ob).__module__.startswith("gevent."):
            continue
        try:
            if getattr(ob, "callback", None) != g.switch:
                continue
        except Exception:
            continue
        info["start"] = kind
        left = _timer_left(ob) if kind == "timer" else None
        if left is not None:
            info["starts_in"] = left
        return


def _referents(g: Any) -> List[Any]:
    try:
        return gc.get_referents(g)
    except Exception:
        return []


def _timer_left(timer: Any) -> Optional[float]:
    """Seconds until a libev timer fires: libev keeps an active timer's
    due time on the monotonic clock Python's time.monotonic() reads.
    None for other loops (libuv's `at` means something else)."""
    if "libev" not in type(timer).__module__:
        return None
    try:
        if not timer.active:
            return None
        return max(0.0, round(float(timer.at) - time.monotonic(), 1))
    except Exception:
        return None
