"""The service thread: stackwatch's one Python thread.

Native threads (the sampler, the dump thread) never take the GIL. When they
need something only the GIL side can give -- thread names, greenlet labels,
run information for a dump -- they post a request on the service channel
(csrc/service.c); this thread, blocked in ``_native.service_take`` with the
GIL released, wakes up, does the work with the GIL and answers. A native
thread that asked a question waits only up to its own deadline.

The thread is started by the first feature that needs it (a running
profiler, enabled dumps) and stopped when the last one lets go, at
interpreter exit, and it is re-created in a forked child when still needed.
The sampler skips it, so it never shows up in profiles.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

from stackwatch import _lifecycle, _native, _osthread

#: The question csrc/dump.c asks the GIL side for a dump's run information
#: (stackwatch.dumping.answer_run_info answers it), defined once in
#: csrc/service.h as SW_SERVICE_ASK_RUN_INFO.
ASK_RUN_INFO = _native.SERVICE_ASK_RUN_INFO

#: Handlers for questions, by kind (ASK_RUN_INFO, the watchdog's
#: WD_ASK_GREENLET and WD_ASK_TASK).
_answerers: Dict[int, Callable[[int], str]] = {}

#: Callables run when native threads ask for names (new threads, greenlets).
_namers: List[Callable[[], None]] = []

#: The least time between two name refreshes (they take the GIL).
NAMES_INTERVAL = 0.05

#: Names are refreshed at least this often, so that a dump made while the
#: GIL is stuck still names the threads that started before.
NAMES_EVERY = 0.5


def known_threads() -> List[Tuple[int, int, str]]:
    """(ident, native id or 0, name) of the live threads of the threading
    module, and of finished ones whose Thread objects still exist (a pool
    keeps them), so that a profile can name a thread that ended before
    its name was asked for. Idents (pthread_t) are reused as soon as a
    thread ends: names are matched by ident and native id together."""
    seen: Dict[Tuple[int, int], str] = {}
    threads = list(getattr(threading, "_dangling", ()))  # a WeakSet
    threads += threading.enumerate()  # live ones last: they win
    for t in threads:
        if t.ident is not None:
            seen[(t.ident, getattr(t, "native_id", None) or 0)] = t.name
    for ident, name in _osthread.bare_threads().items():
        seen.setdefault((ident, 0), name)  # ours, once gevent patched
    return [(ident, tid, name) for (ident, tid), name in seen.items()]


def refresh_names() -> None:
    """Pushes thread names to the native side and runs the namers."""
    _native.set_thread_names(known_threads())
    for namer in list(_namers):
        try:
            namer()
        except Exception:
            report("naming threads")


def report(what: str) -> None:
    """Reports an unexpected error of stackwatch's own code on stderr,
    without letting it escape into the application."""
    try:
        sys.stderr.write("stackwatch: error while %s:\n%s"
                         % (what, format_exception(sys.exc_info()[1])))
    except Exception:
        pass


_CAUSE = ("\nThe above exception was the direct cause of the following "
          "exception:\n\n")
_CONTEXT = ("\nDuring handling of the above exception, another exception "
            "occurred:\n\n")


def format_exception(exc: Optional[BaseException]) -> str:
    """exc (and the exceptions it was raised from or while handling) as
    traceback.format_exception() shows them, without importing traceback:
    every process that stackwatch starts in would pay for it (with
    textwrap, and linecache with tokenize and re); source lines are shown
    when linecache is loaded. Never imports (our threads call it)."""
    chain: List[Tuple[BaseException, str]] = []
    seen = set()
    link = ""
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append((exc, link))
        if exc.__cause__ is not None:
            exc, link = exc.__cause__, _CAUSE
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc, link = exc.__context__, _CONTEXT
        else:
            exc = None
    # (3.13's linecache imports tokenize on first use.)
    linecache = sys.modules.get("linecache") if "tokenize" in sys.modules \
        else None
    out = []
    for exc, link in reversed(chain):
        tb = exc.__traceback__
        if tb is not None:
            out.append("Traceback (most recent call last):\n")
        while tb is not None:
            code = tb.tb_frame.f_code
            out.append('  File "%s", line %d, in %s\n'
                       % (code.co_filename, tb.tb_lineno, code.co_name))
            if linecache is not None:
                line = linecache.getline(code.co_filename, tb.tb_lineno)
                if line.strip():
                    out.append("    %s\n" % line.strip())
            tb = tb.tb_next
        name = type(exc).__qualname__
        if type(exc).__module__ not in ("builtins", "__main__"):
            name = "%s.%s" % (type(exc).__module__, name)
        try:
            text = str(exc)
        except Exception:
            text = "<exception str() failed>"
        out.append("%s: %s\n" % (name, text) if text else name + "\n")
        out.append(link)
    return "".join(out)


def report_line(text: str) -> None:
    """Writes one line of stackwatch's own on stderr, never raising."""
    try:
        sys.stderr.write(text.rstrip("\n") + "\n")
    except Exception:
        pass


class _Service:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: Optional[_osthread.Thread] = None
        self._users = 0

    def acquire(self) -> None:
        """Needs the service thread (started if not running)."""
        with self._lock:
            self._users += 1
            self._start_unlocked()

    def release(self) -> None:
        """No longer needs it (stopped when nobody does)."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                self._stop_unlocked()

    def stop(self) -> None:
        """Stops the thread whatever the users (interpreter exit)."""
        with self._lock:
            self._stop_unlocked()

    def _start_unlocked(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        ready = _osthread.Event()
        self._thread = _osthread.Thread(lambda: self._run(ready),
                                        "stackwatch-service")
        self._thread.start()
        ready.wait(5.0)

    def _stop_unlocked(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return
        _native.service_notify(_native.SERVICE_STOP)
        if not thread.is_current():
            thread.join(5.0)

    def _run(self, ready: _osthread.Event) -> None:
        _native.sampler_exclude_current(True)
        _native.service_set_alive(True)
        try:
            refresh_names()
        except Exception:
            report("naming threads")
        ready.set()
        last_names = time.monotonic()
        try:
            while True:
                bits, qid, kind, flags = _native.service_take(NAMES_EVERY)
                if bits & _native.SERVICE_STOP:
                    break
                try:
                    if bits & _native.SERVICE_QUESTION and qid:
                        self._answer(qid, kind, flags)
                    now = time.monotonic()
                    if bits & _native.SERVICE_NAMES or (
                            now - last_names >= NAMES_EVERY):
                        # Native threads asked, or names are getting old:
                        # a dump made while the GIL is stuck uses them.
                        wait = last_names + NAMES_INTERVAL - now
                        if wait > 0:
                            _osthread.sleep(wait)
                        refresh_names()
                        last_names = time.monotonic()
                except Exception:
                    report("serving native threads")
        finally:
            _native.service_set_alive(False)
            _native.sampler_exclude_current(False)

    def _answer(self, qid: int, kind: int, flags: int) -> None:
        text = ""
        try:
            refresh_names()
            answerer = _answerers.get(kind)
            if answerer is not None:
                text = answerer(flags)
        except Exception:
            report("answering a dump request")
        _native.service_answer(qid, text)

    def reset_in_child(self) -> None:
        """First step in a forked child: the thread does not exist there,
        and the lock may have been held by another thread at fork time."""
        self._lock = threading.Lock()
        self._thread = None
        # threading keeps the parent's native id for the thread that
        # forked (CPython 3.9-3.13); names are matched by ident and native
        # id, so without this the child's reports could not name it.
        try:
            me = threading.current_thread()
            if getattr(me, "_native_id", None) != threading.get_native_id():
                me._native_id = threading.get_native_id()  # type: ignore
        except Exception:
            pass

    def forget_user_in_child(self) -> None:
        """A user that did not survive the fork (a running profiler)."""
        self._users = max(0, self._users - 1)

    def restart_in_child(self) -> None:
        """Last step in a forked child: serve again if still needed."""
        if self._users > 0:
            with self._lock:
                self._start_unlocked()


service = _Service()

_lifecycle.on_exit(_lifecycle.SERVICE, service.stop)
_lifecycle.on_fork_child(0, service.reset_in_child)
_lifecycle.on_fork_child(_lifecycle.SERVICE, service.restart_in_child)
