"""The watchdog's Python-side state, shared by the modules of the monitor
(stackwatch.monitor, _delivery, _watchdog_answers, _gevent_hook,
_asyncio_watch): the settings in force, the monitor's Python thread, the
periodic functions and the hubs and loops watched. ``S.lock`` guards it.
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple


class Func:
    """A periodic function of add_monitoring_function()."""

    __slots__ = ("fn", "period", "due", "failures")

    def __init__(self, fn: Callable[[], Any], period: float) -> None:
        self.fn = fn
        self.period = period
        self.due = time.monotonic() + period
        self.failures = 0


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.running = False
        self.settings: Dict[str, Any] = {}
        self.thread: Optional[Any] = None  # an _osthread.Thread
        self.stopping = False
        self.stream: Any = None  # a stream the native side cannot write
        self.funcs: Dict[Any, Func] = {}
        self.hubs: Dict[int, Any] = {}  # watch id -> weakref to hub
        self.hub_watch: Dict[int, int] = {}  # id(hub) -> watch id
        self.loops: Dict[int, Tuple[Any, int]] = {}  # slot -> (ref, wid)
        self.explicit: set = set()  # loop watches with their own threshold
        # Loops seen starting (asyncio._set_running_loop) and not yet
        # ended: id(loop) -> weakref (the run info and the sampler's task
        # table find uvloop's by them: no run_forever frame).
        self.started: Dict[int, Any] = {}
        self.tracking = False


#: The one monitor of the process.
S = State()


def hub_threshold() -> Optional[float]:
    """The max_blocking_time in force (None: loops are not watched)."""
    return S.settings.get("max_blocking_time")
