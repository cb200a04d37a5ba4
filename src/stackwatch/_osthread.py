"""stackwatch's own Python threads (the service thread, the monitor's,
the tasks' table) and what they wait on, as real OS threads and locks,
whatever gevent's monkey patching did to ``threading``.

After ``gevent.monkey.patch_all()`` (before or after stackwatch's import)
``threading.Thread`` starts a greenlet, and ``threading.Event``/``Lock``
are gevent's. A thread of ours that waits in a native call (the service
channel, the watchdog's events) would then block the whole hub, and the
program with it: ``enable_dump()`` or ``monitor.start()`` after patching
hung (issue 12). So when ``threading`` is patched, our threads are started
with the ``_thread`` functions gevent saved, and wait on real locks; when
it is not, they are ordinary ``threading.Thread`` objects, as before
(named, in ``threading.enumerate()``, ``current_thread().name`` theirs).

Never imports anything while the program runs (our threads call it).
"""

from __future__ import annotations

import _thread
import sys
import threading

from stackwatch import _lifecycle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


def _patched() -> bool:
    """Whether gevent patched threading (gevent is never imported here:
    a program that did not import gevent.monkey is not patched)."""
    monkey = sys.modules.get("gevent.monkey")
    try:
        return monkey is not None and bool(
            monkey.is_module_patched("threading"))
    except Exception:
        return False


def _original(name: str) -> Any:
    """_thread's function `name` as it was before gevent replaced it."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        try:
            return monkey.get_original("_thread", name)
        except Exception:
            pass
    return getattr(_thread, name)


def allocate_lock() -> Any:
    """A real lock (a gevent lock, waited on from a thread of ours, would
    need that thread's own hub)."""
    return _original("allocate_lock")()


def RLock() -> Any:
    """A real reentrant lock (gevent leaves _thread.RLock alone)."""
    return _thread.RLock()


def get_ident() -> int:
    """The calling OS thread's ident (gevent's get_ident gives the
    greenlet's)."""
    return _original("get_ident")()


class Event:
    """threading.Event's set/is_set/clear/wait on a real lock, for a
    thread of ours (waited on there, set from any thread)."""

    def __init__(self) -> None:
        self._flag = False
        self._mu = allocate_lock()  # guards _flag and _gate's state
        self._gate = allocate_lock()  # held while the flag is clear
        self._gate.acquire()

    def set(self) -> None:
        with self._mu:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self) -> None:
        with self._mu:
            if self._flag:
                self._flag = False
                self._gate.acquire()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: Optional[float] = None) -> bool:
        if self._flag:
            return True
        if self._gate.acquire(True, -1 if timeout is None
                              else max(0.0, timeout)):
            self._gate.release()  # for the other waiters
        return self._flag


def sleep(seconds: float) -> None:
    """time.sleep, which gevent would turn into a hub's sleep in our
    thread."""
    lock = allocate_lock()
    lock.acquire()
    lock.acquire(True, max(0.0, seconds))


#: ident -> name of the bare threads of ours that run (they are not in
#: threading.enumerate(): run info and thread names look them up here).
_bare: dict = {}


def bare_threads() -> dict:
    """{ident: name} of our threads started bare (threading patched)."""
    return dict(_bare)


# A forked child has none of them (an ident left here could be reused by
# a thread of the program's, then taken for ours).
_lifecycle.on_fork_child(0, _bare.clear)


class _Registered(threading.Thread):
    """threading.Thread, for a thread of ours started while threading is
    not patched."""

    def _delete(self) -> None:
        # A forked gevent worker (gunicorn -k gevent) monkey-patches
        # threading after this thread started: threading.get_ident then
        # returns the greenlet's id, and threading's own _delete would
        # fail with KeyError ("Exception ignored in thread started by")
        # when the thread ends. Its ident is what it was registered by.
        with threading._active_limbo_lock:  # type: ignore[attr-defined]
            threading._active.pop(self.ident, None)  # type: ignore


class Thread:
    """A daemon thread of stackwatch's own running target(): a
    threading.Thread when threading is not patched, else a bare OS
    thread. start(), join(timeout), is_alive(), is_current()."""

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        self._target = target
        self.name = name
        self._thread: Any = None  # the threading.Thread, if one
        self._ident: Optional[int] = None
        self._done: Any = None  # a real lock held while a bare one runs

    def start(self) -> None:
        if not _patched():
            self._thread = _Registered(target=self._target, name=self.name,
                                       daemon=True)
            self._thread.start()
            return
        self._done = allocate_lock()
        self._done.acquire()
        started = allocate_lock()
        started.acquire()
        try:
            _original("start_new_thread")(self._bootstrap, (started,))
        except BaseException:
            self._done.release()
            raise
        started.acquire()  # its ident is known once it runs

    def _bootstrap(self, started: Any) -> None:
        self._ident = ident = get_ident()
        _bare[ident] = self.name
        started.release()
        try:
            self._target()
        except BaseException:
            # Our targets report their own errors; what escapes (an
            # interpreter shutting down) ends the thread quietly.
            pass
        finally:
            _bare.pop(ident, None)
            self._done.release()

    @property
    def ident(self) -> Optional[int]:
        if self._thread is not None:
            return self._thread.ident
        return self._ident

    def is_alive(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return self._done is not None and self._done.locked()

    def is_current(self) -> bool:
        """Whether the caller runs in this thread (by OS thread ident:
        threading.current_thread() is wrong in a thread of ours once gevent
        patched threading after it started, as in a gunicorn worker)."""
        ident = self.ident
        return ident is not None and ident == get_ident()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        elif self._done is not None:
            if self._done.acquire(True, -1 if timeout is None
                                  else max(0.0, timeout)):
                self._done.release()
