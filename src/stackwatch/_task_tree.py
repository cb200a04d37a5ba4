"""Run info's asyncio task tree: the tasks of a running loop as a tree of
which task awaits which."""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

from stackwatch._capture import Capture, loop_ident
from stackwatch._node import Node
from stackwatch._saferepr import type_name


def loop_thread(loop: Any) -> Optional[str]:
    ident = loop_ident(loop)
    if ident is None:
        return None
    for t in threading.enumerate():
        if t.ident == ident:
            return t.name
    return "%#x" % ident


def coroutine_chain(coro: Any) -> Tuple[List[Any], Any]:
    """The frames of a coroutine and of what it awaits, outermost first,
    and the object at the end of the chain (a future, or None)."""
    frames = []
    seen = set()
    while coro is not None and id(coro) not in seen and len(seen) < 1000:
        seen.add(id(coro))
        frame = None
        nxt = None
        for f_attr, a_attr in (("cr_frame", "cr_await"),
                               ("gi_frame", "gi_yieldfrom"),
                               ("ag_frame", "ag_await")):
            if hasattr(coro, f_attr):
                frame = getattr(coro, f_attr)
                nxt = getattr(coro, a_attr, None)
                break
        else:
            return frames, coro
        if frame is not None:
            frames.append(frame)
        coro = nxt
    return frames, None


class TaskTree:
    """The tasks of one loop as a tree of which task awaits which: a task
    waiting on another task (``await task``, ``wait_for``, ``shield``), on
    a ``gather`` of tasks, in ``asyncio.wait`` or a ``TaskGroup``; tasks
    nobody awaits are roots."""

    def __init__(self, cap: Capture, loop: Any, tasks: List[Any]) -> None:
        self.cap = cap
        self.aio = sys.modules["asyncio"]
        self.tasks = tasks
        try:
            self.current = self.aio.current_task(loop)
        except Exception:
            self.current = None

    def roots(self) -> List[Node]:
        nodes: Dict[int, Node] = {}
        awaited: Dict[int, List[Any]] = {}
        for t in self.tasks:
            nodes[id(t)], awaited[id(t)] = self.node(t)
        self._through_callbacks(awaited)
        parent_of: Dict[int, int] = {}
        for t in self.tasks:
            for child in awaited[id(t)]:
                cid = id(child)
                if cid in nodes and cid not in parent_of and cid != id(t):
                    # no cycles: t must not be under child already
                    p = id(t)
                    while p in parent_of and p != cid:
                        p = parent_of[p]
                    if p != cid:
                        parent_of[cid] = id(t)
                        nodes[id(t)].children.append(nodes[cid])
        roots = [nodes[id(t)] for t in self.tasks if id(t) not in parent_of]
        return sorted(roots, key=lambda n: n.name)

    def _through_callbacks(self, awaited: Dict[int, List[Any]]) -> None:
        """Adds the awaits that only a callback links: a task waiting on
        a future (``shield``'s outer one, say) that one of another task's
        done-callbacks completes."""
        waiting_on: Dict[int, Any] = {}
        for t in self.tasks:
            waiter = getattr(t, "_fut_waiter", None)
            if waiter is not None:
                waiting_on[id(waiter)] = t
        if not waiting_on:
            return
        for t in self.tasks:
            try:
                callbacks = list(getattr(t, "_callbacks", None) or ())
            except Exception:
                continue
            for entry in callbacks:
                cb = entry[0] if isinstance(entry, tuple) else entry
                refs = [getattr(cb, "__self__", None)]
                for cell in getattr(cb, "__closure__", None) or ():
                    try:
                        refs.append(cell.cell_contents)
                    except ValueError:  # an empty cell
                        pass
                for ref in refs:
                    waiter_task = waiting_on.get(id(ref))
                    if waiter_task is not None and waiter_task is not t:
                        awaited[id(waiter_task)].append(t)

    def _tasks_in(self, value: Any, out: List[Any]) -> None:
        if isinstance(value, self.aio.Task):
            out.append(value)
        elif isinstance(value, (set, frozenset, list, tuple)):
            for v in list(value)[:1000]:
                if isinstance(v, self.aio.Task):
                    out.append(v)
        else:
            children = getattr(value, "_children", None)  # a gather
            if isinstance(children, list):
                self._tasks_in(children, out)
            tasks = getattr(value, "_tasks", None)  # a TaskGroup
            if isinstance(tasks, (set, list)):
                self._tasks_in(tasks, out)

    def node(self, task: Any) -> Tuple[Node, List[Any]]:
        coro = task.get_coro() if hasattr(task, "get_coro") else \
            getattr(task, "_coro", None)
        frames, end = coroutine_chain(coro)
        awaited: List[Any] = []
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            self._tasks_in(waiter, awaited)
        if end is not None and end is not waiter:
            self._tasks_in(end, awaited)
        aio_dir = os.path.dirname(self.aio.__file__)
        for f in frames:
            # asyncio's own frames (wait, wait_for, gather, TaskGroup)
            # hold the tasks they wait for in their locals.
            if os.path.dirname(f.f_code.co_filename) == aio_dir:
                try:
                    for v in list(f.f_locals.values()):
                        self._tasks_in(v, awaited)
                except Exception:
                    pass
        if task is self.current:
            state = "running"
        elif task.cancelled():
            state = "cancelled"
        elif task.done():
            state = "failed" if task.exception() is not None else "done"
        else:
            state = "pending"
        info: Dict[str, Any] = {
            "coroutine": getattr(coro, "__qualname__", None) or
            type_name(coro)}
        if waiter is not None:
            info["awaiting"] = self.cap.repr(waiter)
        if state == "failed":
            info["exception"] = self.cap.repr(task.exception())
        stack = [self.cap.frame(f) for f in frames[::-1][:self.cap.limit]]
        name = task.get_name() if hasattr(task, "get_name") else "Task"
        return Node("task", id(task), name, state, stack, info), awaited
