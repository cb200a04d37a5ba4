"""Scoped checks: :class:`deadline` (report a block that runs too long,
while it runs) and :class:`assert_switches` (fail a block that does not
let the gevent hub run)."""

import functools
import sys
import threading
from typing import Any, Callable, List, Optional, TypeVar

from stackwatch import _greenlets, _native
from stackwatch.monitor import _seconds

__all__ = ["deadline", "assert_switches", "FailedToSwitch"]

F = TypeVar("F", bound=Callable[..., Any])


def _limit(seconds: Any, what: str) -> float:
    s = _seconds(seconds, what)
    assert s is not None
    return s


class deadline:
    """Reports the block if it is still running after ``seconds``.

    As a context manager::

        with stackwatch.deadline(0.5, name="GET /orders"):
            handle(request)

    or a decorator (``@stackwatch.deadline(2.0)``, named after the
    function). When the limit passes, the monitor thread reads this
    thread's stack without the GIL and writes a report at once (to the
    monitor's report stream, stderr by default), then updates at growing
    intervals while the block runs, and one line when it finishes; a
    :class:`stackwatch.events.DeadlineExceeded` event goes to subscribers.
    Nothing is raised in the block. Starts the monitor thread if needed.
    After the block (or a call of the decorated function), ``exceeded``
    says whether the limit passed.
    """

    def __init__(self, seconds: float, name: Optional[str] = None) -> None:
        self.seconds = _limit(seconds, "deadline")
        self.name = name
        self.exceeded = False
        self._local = threading.local()

    def _stack(self) -> List[int]:
        st = getattr(self._local, "ids", None)
        if st is None:
            st = self._local.ids = []
        return st

    def __enter__(self) -> "deadline":
        from stackwatch import monitor

        monitor._ensure_native()
        name = self.name
        if name is None:
            f = sys._getframe(1)
            name = _native.format_frame(f.f_code.co_name,
                                        f.f_code.co_filename, f.f_lineno,
                                        short=True)
        self._stack().append(_native.watchdog_add(
            _native.WD_DEADLINE, self.seconds, 0, name))
        return self

    def __exit__(self, *exc: Any) -> None:
        ids = self._stack()
        if ids:
            self.exceeded = _native.watchdog_remove(ids.pop()) > 0

    def __call__(self, fn: F) -> F:
        limit = deadline(self.seconds, self.name or getattr(
            fn, "__qualname__", repr(fn)))
        import inspect

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kw: Any) -> Any:
                # The report shows what the thread runs at the deadline,
                # which may be another task of the same loop.
                try:
                    with limit:
                        return await fn(*args, **kw)
                finally:
                    self.exceeded = limit.exceeded
            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            try:
                with limit:
                    return fn(*args, **kw)
            finally:
                self.exceeded = limit.exceeded
        return wrapper  # type: ignore[return-value]


class FailedToSwitch(AssertionError):
    """Raised by :class:`assert_switches` when the block did not let the
    gevent hub (or other greenlets) run as required."""


class assert_switches:
    """Fails a block that does not yield, like ``gevent.util.
    assert_switches``: on a normal exit, raises :class:`FailedToSwitch`

    - without max_blocking_time: if no greenlet switch happened at all;
    - with max_blocking_time: if the block ran longer than that without a
      switch (time spent in the hub does not count), or, with hub_only,
      without a switch into the hub.

    Switches are timed by stackwatch's C greenlet hook (no Python tracer);
    scopes nest. An exception raised in the block passes through
    unchanged.
    """

    def __init__(self, max_blocking_time: Optional[float] = None,
                 hub_only: bool = False) -> None:
        self.max_blocking_time = (None if max_blocking_time is None else
                                  _limit(max_blocking_time,
                                         "max_blocking_time"))
        self.hub_only = bool(hub_only)
        self._tokens: List[Any] = []

    def __enter__(self) -> "assert_switches":
        import gevent

        if not _greenlets.start_tracking():
            raise RuntimeError("assert_switches needs greenlet")
        hub = _native.greenlet_id(gevent.get_hub())
        token = _native.greenlet_timing_start(hub, self.hub_only)
        self._tokens.append(token)
        return self

    def __exit__(self, t: Any, v: Any, tb: Any) -> None:
        token = self._tokens.pop()
        try:
            result = (_native.greenlet_timing_stop(token)
                      if token is not None else None)
        finally:
            _greenlets.stop_tracking()
        if t is not None or result is None:
            return
        switches, hub_entries, gap = result
        mbt = self.max_blocking_time
        if mbt is None:
            if switches == 0:
                raise FailedToSwitch("the block did not switch greenlets")
            return
        if gap > mbt:
            raise FailedToSwitch(
                "%s in %.4f seconds (max allowed %.4f seconds)"
                % ("No switch into the hub" if self.hub_only
                   else "No switch to any greenlet", gap, mbt))
