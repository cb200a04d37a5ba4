"""The slow-script log (Tripod's idea, without its two blind spots).

Every `interval` seconds stackwatch's native dump thread appends a
timestamped snapshot to the log: every thread's stack with source lines,
read without the GIL -- so a script stuck in a GIL-holding C call or a
tight loop is still seen -- then, once the GIL can be had within a bounded
wait, ``Full backtrace with local variables`` (each frame's arguments and
locals, redacted and cut), every greenlet as a tree by spawner and every
asyncio task. When the GIL is not released in time, the snapshot says so
and which thread holds it, and still has the stacks.

The log file is the caller's (``path``, opened for appending and created
0600) or a private temporary file. Nothing is written to the target's
stdout; the snapshots never interrupt the script. A forked child does not
write to its parent's log.
"""

import os
import threading
from typing import Any, Dict, Optional, Tuple

from stackwatch import _lifecycle, _native, _service, dumping

DEFAULT_INTERVAL = 5.0

_lock = threading.Lock()
_state: Optional[Dict[str, Any]] = None


def interval_setting(interval: Optional[float] = None) -> float:
    """interval, else $STACKWATCH_INTERVAL, else 5 s; checked."""
    return dumping.seconds_setting(interval, "STACKWATCH_INTERVAL",
                                   DEFAULT_INTERVAL, 0.01, 86400,
                                   "the interval")


def open_log(path: Optional[str] = None) -> Tuple[int, str]:
    """(fd, path) of the log: path opened for appending (created 0600), or
    a new private temporary file. Raises OSError."""
    if path is None:
        import tempfile

        fd, path = tempfile.mkstemp(prefix="stackwatch-slow-", suffix=".log")
        return fd, path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                 0o600)
    return fd, os.path.abspath(path)


def start(path: Optional[str] = None, interval: Optional[float] = None,
          locals: bool = True, gil_wait: Optional[float] = None,
          opened: Optional[Tuple[int, str]] = None) -> str:
    """Starts appending a snapshot every `interval` seconds (default 5, or
    $STACKWATCH_INTERVAL) to `path` (default: a new private temporary
    file); `locals` adds each frame's arguments and local variables;
    `gil_wait` bounds the wait for the GIL per snapshot (default 1 s or
    $STACKWATCH_DUMP_GIL_WAIT, at most the interval). Returns the log's
    path. `opened` is a log already opened by :func:`open_log` (then
    path is ignored; the fd is the log's from now on, closed on failure).
    Raises ValueError (bad settings), OSError (the file)."""
    global _state
    try:
        interval = interval_setting(interval)
        wait = min(dumping.gil_wait_setting(gil_wait), interval)
        if _state is not None:
            raise RuntimeError("the slow-script log is already running "
                               "(to %s)" % _state["path"])
    except Exception:
        if opened is not None:
            os.close(opened[0])
        raise
    with _lock:
        fd, real_path = opened if opened is not None else open_log(path)
        flags = _native.DUMP_SOURCE | (_native.DUMP_LOCALS if locals else 0)
        _service.service.acquire()
        try:
            _native.dump_log_start(fd, interval, wait, flags)
        except Exception:
            _service.service.release()
            os.close(fd)
            raise
        _state = {"fd": fd, "path": real_path, "interval": interval,
                  "locals": bool(locals), "gil_wait": wait}
    return real_path


def stop() -> Optional[Dict[str, Any]]:
    """Stops the log (after a snapshot being written). Returns its path,
    the number of snapshots written and of failed writes, or None when it
    was not running."""
    global _state
    with _lock:
        if _state is None:
            return None
        state, _state = _state, None
        count, errors = _native.dump_log_stop()
        try:
            os.close(state["fd"])
        except OSError:
            pass
        _service.service.release()
    return {"path": state["path"], "snapshots": count, "errors": errors}


def is_running() -> bool:
    return _state is not None


def _forget_in_child() -> None:
    global _lock, _state
    _lock = threading.Lock()
    if _state is not None:
        try:
            os.close(_state["fd"])
        except OSError:
            pass
        _state = None
        _service.service.forget_user_in_child()


_lifecycle.on_exit(_lifecycle.SLOWLOG, stop)
_lifecycle.on_fork_child(_lifecycle.SLOWLOG, _forget_in_child)
