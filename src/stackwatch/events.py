"""Events of the watchdog, and their subscribers.

Subscribers are called with the event, with the GIL, on the monitor's own
Python thread (``stackwatch-monitor``), never on the thread that stalled.
An exception raised by one is reported on stderr; the other subscribers
still get the event and the monitor goes on.

Events are emitted on crossings only: one :class:`EventLoopBlocked` when a
stall passes its threshold and one :class:`EventLoopUnblocked` when it
ends; one :class:`MemoryUsageThresholdExceeded` when the process's memory
goes above the limit and one :class:`MemoryUsageUnderThreshold` when it
comes back under it.
"""

from __future__ import annotations

import threading
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional

from stackwatch._frame import Frame

__all__ = [
    "Event", "EventLoopBlocked", "EventLoopUnblocked", "DeadlineExceeded",
    "DeadlineFinished", "MemoryUsageThresholdExceeded",
    "MemoryUsageUnderThreshold", "MemoryInfo", "Frame", "subscribe",
    "unsubscribe", "subscribers", "notify",
]


class MemoryInfo(namedtuple("MemoryInfo",
                            ["rss", "vms", "shared", "text", "data"])):
    """The process's memory, in bytes, from /proc/self/statm."""
    __slots__ = ()


class Event:
    """Base of every watchdog event; ``repr`` shows the fields."""

    _fields: tuple = ()

    def __repr__(self) -> str:
        parts = ", ".join("%s=%r" % (f, getattr(self, f)) for f in self._fields
                          if f not in ("report", "stack"))
        return "%s(%s)" % (type(self).__name__, parts)


class _Stall(Event):
    def __init__(self, **kw: Any) -> None:
        #: "gevent" or "asyncio".
        self.loop_kind: str = kw["loop_kind"]
        #: The gevent hub or asyncio loop, if it still exists.
        self.loop: Any = kw.get("loop")
        self.thread_ident: int = kw["thread_ident"]
        self.native_id: int = kw["native_id"]


class EventLoopBlocked(_Stall):
    """A gevent hub or asyncio loop did not run for longer than its
    threshold; emitted once per stall, when the threshold is crossed."""

    _fields = ("loop_kind", "loop", "greenlet", "task", "label",
               "blocking_time", "max_blocking_time", "thread_ident",
               "native_id", "holds_gil", "report", "stack")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        #: The greenlet that was running (gevent), if still alive.
        self.greenlet: Any = kw.get("greenlet")
        #: The asyncio task that was running, if it could be found.
        self.task: Any = kw.get("task")
        #: Its label: "Greenlet-3 #12 (handler)", "Task-2", "coroutine main".
        self.label: str = kw.get("label", "")
        #: Seconds the loop had been blocked when the report was made.
        self.blocking_time: float = kw["blocking_time"]
        self.max_blocking_time: float = kw["max_blocking_time"]
        #: Whether the stalled thread held the GIL at that moment.
        self.holds_gil: bool = kw["holds_gil"]
        #: The report as written to the report stream.
        self.report: str = kw["report"]
        #: The stalled thread's stack, outermost frame first.
        self.stack: List[Frame] = kw["stack"]


class EventLoopUnblocked(_Stall):
    """The loop ran again after an :class:`EventLoopBlocked`."""

    _fields = ("loop_kind", "loop", "duration", "thread_ident", "native_id",
               "report")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        #: Total seconds the stall lasted (to within a poll period).
        self.duration: float = kw["duration"]
        self.report: str = kw["report"]


class DeadlineExceeded(Event):
    """A ``stackwatch.deadline`` block ran past its limit (once per
    block, when the limit is crossed)."""

    _fields = ("name", "limit", "elapsed", "thread_ident", "native_id",
               "holds_gil", "report", "stack")

    def __init__(self, **kw: Any) -> None:
        self.name: str = kw["name"]
        self.limit: float = kw["limit"]
        self.elapsed: float = kw["elapsed"]
        self.thread_ident: int = kw["thread_ident"]
        self.native_id: int = kw["native_id"]
        self.holds_gil: bool = kw["holds_gil"]
        self.report: str = kw["report"]
        self.stack: List[Frame] = kw["stack"]


class DeadlineFinished(Event):
    """A block that exceeded its deadline finished."""

    _fields = ("name", "limit", "duration", "thread_ident", "report")

    def __init__(self, **kw: Any) -> None:
        self.name: str = kw["name"]
        self.limit: float = kw["limit"]
        self.duration: float = kw["duration"]
        self.thread_ident: int = kw["thread_ident"]
        self.report: str = kw["report"]


class MemoryUsageThresholdExceeded(Event):
    """The process's RSS went above ``max_memory_usage``."""

    _fields = ("mem_usage", "max_allowed", "memory_info")

    def __init__(self, mem_usage: int, max_allowed: int,
                 memory_info: MemoryInfo) -> None:
        self.mem_usage = mem_usage  #: RSS in bytes
        self.max_allowed = max_allowed
        self.memory_info = memory_info


class MemoryUsageUnderThreshold(Event):
    """The RSS came back under the threshold after exceeding it."""

    _fields = ("mem_usage", "max_allowed", "max_memory_usage", "memory_info")

    def __init__(self, mem_usage: int, max_allowed: int,
                 max_memory_usage: int, memory_info: MemoryInfo) -> None:
        self.mem_usage = mem_usage
        self.max_allowed = max_allowed
        #: The highest RSS seen while above the threshold.
        self.max_memory_usage = max_memory_usage
        self.memory_info = memory_info


if TYPE_CHECKING:
    Subscriber = Callable[[Event], Any]

_lock = threading.Lock()
#: The subscribers, in order of subscription (a new list on each change,
#: so that notify() iterates without the lock).
subscribers: List[Subscriber] = []


def subscribe(callback: Subscriber) -> None:
    """Calls ``callback(event)`` for every watchdog event from now on."""
    global subscribers
    if not callable(callback):
        raise TypeError("subscribe() needs a callable, not %r" % (callback,))
    with _lock:
        subscribers = subscribers + [callback]


def unsubscribe(callback: Subscriber) -> None:
    """Stops calling ``callback``; a callback not subscribed is ignored."""
    global subscribers
    with _lock:
        subscribers = [s for s in subscribers if s != callback]


def notify(event: Event, on_error: Optional[Callable[[str], None]] = None
           ) -> None:
    """Calls every subscriber with event; errors are contained."""
    for callback in subscribers:
        try:
            callback(event)
        except Exception:
            if on_error is not None:
                on_error("calling the event subscriber %r" % (callback,))
