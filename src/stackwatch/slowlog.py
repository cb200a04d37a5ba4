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
0600) or a private temporary file, removed at the end if it is still
empty. Its size is capped (``max_size``, 10 MiB by default): a snapshot
that would take it past the cap first renames it to ``<path>.1``
(replacing an older one, as ``logging.handlers.RotatingFileHandler``
does with one backup) and a new log starts at ``path``; the native dump
thread does this. Nothing is written to the target's stdout; the
snapshots never interrupt the script. A forked child does not write to
its parent's log.
"""

import os
import threading
import time
from typing import Any, Dict, Optional, Tuple

from stackwatch import _frame, _lifecycle, _monitor_settings, _native, \
    _service, dumping

DEFAULT_INTERVAL = 5.0
#: The log's default size cap (bytes); 0 means none.
DEFAULT_MAX_SIZE = 10 << 20
#: The smallest cap: a few snapshots' worth would rotate at every one.
MIN_MAX_SIZE = 1 << 10

_lock = threading.Lock()
_state: Optional[Dict[str, Any]] = None


def interval_setting(interval: Optional[float] = None) -> float:
    """interval, else $STACKWATCH_INTERVAL, else 5 s; checked."""
    return dumping.seconds_setting(interval, "STACKWATCH_INTERVAL",
                                   DEFAULT_INTERVAL, 0.01, 86400,
                                   "the interval")


def max_size_setting(value: Any = None, what: str = "max_size") -> int:
    """value as the log's size cap in bytes: None for the default
    (10 MiB), bytes or a size like "512K", "10M", "1GiB" (K, M, G are
    powers of 1024, as ps means them; KB, MB powers of 1000), 0 or "off"
    for no cap. Raises ValueError naming `what`."""
    if value is None:
        return DEFAULT_MAX_SIZE
    if isinstance(value, str) and value.strip().lower() in \
            _monitor_settings.OFF:
        return 0
    if value == 0 and not isinstance(value, bool):
        return 0
    try:
        size = _monitor_settings.parse_size(value)
    except ValueError:
        raise ValueError("%s must be a size (bytes, or 512K, 10M...; 0 or "
                         "off: no cap), not %r" % (what, value)) from None
    if size < MIN_MAX_SIZE:
        raise ValueError("%s must be at least 1K (or 0 or off: no cap), "
                         "not %r" % (what, value))
    return size


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
          opened: Optional[Tuple[int, str]] = None,
          max_size: Any = None, *, full_paths: bool = False) -> str:
    """Starts appending a snapshot every `interval` seconds (default 5, or
    $STACKWATCH_INTERVAL) to `path` (default: a new private temporary
    file, removed by :func:`stop` if still empty); `locals` adds each
    frame's arguments and local variables; `gil_wait` bounds the wait for
    the GIL per snapshot (default 1 s or $STACKWATCH_DUMP_GIL_WAIT, at
    most the interval); `max_size` caps the log's size (see
    :func:`max_size_setting`; past it the log becomes ``<path>.1``);
    file names are short (without their sys.path entry) unless
    `full_paths`.
    Returns the log's path. `opened` is a log already opened by
    :func:`open_log` (then path only tells whether it is the caller's,
    not None, or a temporary file; the fd is the log's from now on,
    closed on failure). Raises ValueError (bad settings), OSError (the
    file)."""
    global _state
    try:
        interval = interval_setting(interval)
        wait = min(dumping.gil_wait_setting(gil_wait), interval)
        cap = max_size_setting(max_size)
        if _state is not None:
            raise RuntimeError("the slow-script log is already running "
                               "(to %s)" % _state["path"])
    except Exception:
        if opened is not None:
            os.close(opened[0])
        raise
    with _lock:
        fd, real_path = opened if opened is not None else open_log(path)
        flags = (_native.DUMP_SOURCE
                 | (_native.DUMP_LOCALS if locals else 0)
                 | (_native.DUMP_FULL_PATHS if full_paths else 0))
        _frame.ensure_prefixes()
        _service.service.acquire()
        try:
            _native.dump_log_start(fd, interval, wait, flags, cap,
                                   real_path)
        except Exception:
            _service.service.release()
            os.close(fd)
            raise
        _state = {"fd": fd, "path": real_path, "interval": interval,
                  "locals": bool(locals), "gil_wait": wait,
                  "max_size": cap, "temporary": path is None,
                  "started": time.time()}
    return real_path


def stop() -> Optional[Dict[str, Any]]:
    """Stops the log (after a snapshot being written). Returns its path,
    the number of snapshots written and of failed writes (or rotations),
    whether it was removed (a temporary log still empty) and the backup
    holding older snapshots (``<path>.1``, None if it did not rotate),
    or None when it was not running."""
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
        removed = False
        backup: Optional[str] = state["path"] + ".1"
        try:
            if os.stat(backup).st_mtime < state["started"] - 1:
                backup = None  # an older run's
        except OSError:
            backup = None
        if state["temporary"]:
            try:
                if os.path.getsize(state["path"]) == 0:
                    os.unlink(state["path"])
                    removed = True
            except OSError:
                pass
    return {"path": state["path"], "snapshots": count, "errors": errors,
            "removed": removed, "backup": backup}


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
