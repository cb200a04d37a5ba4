"""The GIL side's answers about a stall: which greenlet or asyncio task it
is, and what to call it.

The native report (csrc/watchdog.c) asks the service thread for a label
while it writes a report (WD_ASK_GREENLET, WD_ASK_TASK; only when the
stalled thread does not hold the GIL); the delivery thread
(stackwatch._delivery) asks the same questions when it turns an event into
a Python object, and finds the task a stall happened in.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List

from stackwatch import _greenlets, _native, _service, events
from stackwatch._monitor_state import S


def greenlet_object(gid: int) -> Any:
    """The greenlet of that id if it still lives, else None."""
    if not gid:
        return None
    try:
        entry = _native.greenlet_table((gid,)).get(gid)
    except Exception:
        return None
    return entry[0] if entry else None


def greenlet_label(gid: int, obj: Any = None) -> str:
    """The label of greenlet gid ("Greenlet-3 #12 (handler)")."""
    if obj is None:
        obj = greenlet_object(gid)
    typename = type(obj).__name__ if obj is not None else "greenlet"
    return _greenlets.label(gid, obj, typename)


def current_task(loop: Any) -> Any:
    """asyncio.current_task(loop), or None."""
    aio = sys.modules.get("asyncio")
    try:
        return aio.current_task(loop) if aio is not None else None
    except Exception:
        return None


def find_task(loop: Any, stack: List[events.Frame], index: int) -> Any:
    """The task whose coroutine runs stack[index], the frame the native
    side found after asyncio's Handle._run (csrc/wd_report.c; the loop has
    moved on by the time the event is delivered, so the current task is not
    necessarily the one); None when index is -1 or out of range."""
    if not 0 <= index < len(stack):
        return None
    coro_name = stack[index].name
    aio = sys.modules.get("asyncio")
    try:
        tasks = list(aio.all_tasks(loop)) if aio is not None else []
    except Exception:
        tasks = []
    current = current_task(loop)
    if current is not None:
        tasks.insert(0, current)
    for task in tasks:
        coro = task.get_coro() if hasattr(task, "get_coro") else None
        if coro_name in (getattr(coro, "__qualname__", None),
                         getattr(coro, "__name__", None)):
            return task
    return None


def task_label(task: Any) -> str:
    """"Task-2 (coroutine main)"."""
    name = task.get_name() if hasattr(task, "get_name") else "Task"
    coro = task.get_coro() if hasattr(task, "get_coro") else None
    qual = getattr(coro, "__qualname__", None)
    return "%s (coroutine %s)" % (name, qual) if qual else name


# Answers to the native report's questions (the GIL side's names).
def answer_greenlet(gid: int) -> str:
    return greenlet_label(gid) if gid else ""


def answer_task(slot: int) -> str:
    entry = S.loops.get(slot)
    loop = entry[0]() if entry else None
    task = current_task(loop) if loop is not None else None
    return task_label(task) if task is not None else ""


_service._answerers[_native.WD_ASK_GREENLET] = answer_greenlet
_service._answerers[_native.WD_ASK_TASK] = answer_task
