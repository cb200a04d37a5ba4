"""Stack dumps: in-process (:func:`dump`) and on request from another
process (``stackwatch dump PID``), without ptrace.

How a request travels (see csrc/dump.c for the target's side):

1. A process that enabled dumps has a registration file
   ``<runtime dir>/<pid>.json`` (signal number, process start time) in a
   directory private to its user (``/tmp/stackwatch-<uid>``, mode 0700,
   or ``$STACKWATCH_RUNTIME_DIR``).
2. The client checks that the process exists, that it may signal it, that
   the registration is the live process's (start time) and that the
   process catches the signal (``SigCgt`` in /proc) -- an uncaught
   real-time signal would kill it -- then listens on a socket
   ``req-<client pid>-<nonce>.sock`` in that directory and sends the
   signal with ``sigqueue``, the nonce and flags in its value.
3. The target's handler wakes its dump thread, which reads every stack
   without the GIL, asks the GIL side for names and run information with a
   bounded wait, and connects to the socket with the answer. The client
   checks the peer's pid with SO_PEERCRED.

The default signal is SIGRTMIN+6: gunicorn, uwsgi and celery use SIGUSR1
and SIGUSR2 (and HUP, TTIN, TTOU, WINCH, ...), never real-time signals.
"""

from __future__ import annotations

import os
import _signal as signal  # (the signal module loads enum: start-up time)
import stat
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, TextIO, Tuple, Union

from stackwatch import _config, _frame, _jsonout, _lifecycle, _native, \
    _saferepr, _service, runinfo

DEFAULT_SIGNAL_NAME = "SIGRTMIN+6"
DEFAULT_GIL_WAIT = 1.0
DEFAULT_TIMEOUT = 5.0


class DumpError(Exception):
    """A dump request that failed; the message is one line."""


class NotEnabled(DumpError):
    """The process did not enable stackwatch (it may still be read from
    outside: stackwatch._outside)."""


class NotPermitted(DumpError):
    """The process belongs to another user: it may not be asked (it may
    still be read from outside, with CAP_SYS_PTRACE)."""


def parse_signal(spec: Union[int, str, None]) -> int:
    """A signal number from 40, "SIGRTMIN+6", "RTMIN+6", "SIGUSR2"...;
    None gives $STACKWATCH_DUMP_SIGNAL or the default."""
    if spec is None:
        spec = _config.text("STACKWATCH_DUMP_SIGNAL") or DEFAULT_SIGNAL_NAME
    if isinstance(spec, int):
        num = spec
    else:
        text = str(spec).strip().upper()
        if text.isdigit():
            num = int(text)
        else:
            if not text.startswith("SIG"):
                text = "SIG" + text
            base, plus, off = text.partition("+")
            try:
                num = int(getattr(signal, base))
                if plus:
                    num += int(off)
            except (AttributeError, ValueError):
                raise ValueError("unknown signal %r" % (spec,)) from None
    if num in (signal.SIGKILL, signal.SIGSTOP) or not 0 < num < signal.NSIG:
        raise ValueError("cannot use signal %s for dumps" % (spec,))
    return num


def runtime_dir(uid: Optional[int] = None) -> str:
    """The directory of registrations and request sockets of user uid."""
    base = _config.text("STACKWATCH_RUNTIME_DIR")
    if base:
        return base
    return "/tmp/stackwatch-%d" % (os.getuid() if uid is None else uid)


def _private_dir(path: str) -> str:
    """Creates path (mode 0700) or checks that it is a directory of ours
    that nobody else can write; raises DumpError."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise DumpError("cannot create %s: %s" % (path, e.strerror)) from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise DumpError("%s is not a directory" % path)
    if st.st_uid != os.getuid():
        raise DumpError("%s belongs to another user" % path)
    if st.st_mode & 0o077:
        raise DumpError("%s is accessible to other users (mode %o)"
                        % (path, stat.S_IMODE(st.st_mode)))
    return path


def _start_time(pid: Union[int, str]) -> Optional[int]:
    """The start time of a process (clock ticks after boot), or None."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after it.
    fields = data[data.rfind(")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 else None


# -- in this process ----------------------------------------------------------

def dump(file: Optional[TextIO] = None, json_format: bool = False, *,
         full_paths: bool = False) -> str:
    """Prints every thread's current stack, read with the same native reader
    as the sampler: thread name and native id, whether it holds the GIL, the
    greenlet it runs (when tracked), then the frames, innermost first.
    Returns the text. `file` defaults to sys.stderr. File names are short
    (without their sys.path entry) unless full_paths; JSON keeps them
    full."""
    _service.refresh_names()
    _frame.ensure_prefixes()
    text = _native.dump_text(json=json_format, full_paths=full_paths)
    out = sys.stderr if file is None else file
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()
    return text


# -- answering requests ----------------------------------------------------------

_state_lock = threading.Lock()
_enabled: Optional[Dict[str, Any]] = None


def seconds_setting(value: Optional[float], env: str, default: float,
                    low: float, high: float, what: str) -> float:
    """value, else the environment variable env, else default, as seconds
    between low and high; raises ValueError naming what is wrong."""
    if value is None:
        text = _config.text(env)
        try:
            value = float(text) if text else default
        except ValueError:
            raise ValueError("%s is not a number: %r" % (env, text)) from None
    value = float(value)
    if not low <= value <= high:
        raise ValueError("%s must be between %g and %g seconds, not %g"
                         % (what, low, high, value))
    return value


def gil_wait_setting(gil_wait: Optional[float] = None) -> float:
    """gil_wait, else $STACKWATCH_DUMP_GIL_WAIT, else 1 s; checked."""
    return seconds_setting(gil_wait, "STACKWATCH_DUMP_GIL_WAIT",
                           DEFAULT_GIL_WAIT, 0, 60, "the GIL wait")


def enable_dump(signal: Union[int, str, None] = None,
                gil_wait: Optional[float] = None) -> int:
    """Makes this process answer ``stackwatch dump PID`` (and a plain
    ``kill -SIG PID``, which dumps to stderr) on `signal` (default
    SIGRTMIN+6, or $STACKWATCH_DUMP_SIGNAL). The stacks are read at once
    without the GIL, even while a thread holds it in a long C call; names
    and run information are added when the GIL can be had within
    `gil_wait` seconds (default 1, or $STACKWATCH_DUMP_GIL_WAIT); when
    it cannot, the dump says which thread holds the GIL, and where, and
    still gives every stack. Returns the signal number."""
    global _enabled
    signum = parse_signal(signal)
    gil_wait = gil_wait_setting(gil_wait)
    with _state_lock:
        directory = _private_dir(runtime_dir())
        _frame.use_sys_path()  # the prefixes that dumps leave out
        # The names whose values --locals hides when it reads them
        # without the GIL (the GIL side uses _saferepr itself).
        _native.set_redact_patterns(_saferepr.redact_patterns())
        _native.dump_enable(signum, directory, float(gil_wait))
        first = _enabled is None
        _enabled = {"signal": signum, "gil_wait": float(gil_wait),
                    "dir": directory}
        _register(directory, signum)
        if first:
            _service.service.acquire()
    return signum


def disable_dump() -> None:
    """Stops answering dump requests and restores the signal's previous
    handler."""
    global _enabled
    with _state_lock:
        if _enabled is None:
            return
        _native.dump_disable()
        _unregister(_enabled["dir"])
        _enabled = None
        _service.service.release()


def _register(directory: str, signum: int) -> None:
    path = os.path.join(directory, "%d.json" % os.getpid())
    info = {"pid": os.getpid(), "signal": signum,
            "start_time": _start_time("self"),
            "python": sys.version.split()[0], "argv": sys.argv[:8]}
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_jsonout.dumps(info))  # (json loads re: start-up time)
    os.replace(tmp, path)


def _unregister(directory: str) -> None:
    try:
        os.unlink(os.path.join(directory, "%d.json" % os.getpid()))
    except OSError:
        pass


def _reenable_in_child() -> None:
    # A forked child answers with its own registration and dump thread.
    global _state_lock, _enabled
    _state_lock = threading.Lock()
    was, _enabled = _enabled, None
    if was is not None:
        _service.service.forget_user_in_child()
        enable_dump(was["signal"], was["gil_wait"])


_lifecycle.on_exit(_lifecycle.DUMP, disable_dump)
_lifecycle.on_fork_child(_lifecycle.DUMP, _reenable_in_child)


def answer_run_info(flags: int) -> str:
    """The GIL side's part of a dump or of a slow-script log snapshot
    (csrc/dump.c asks _service.ASK_RUN_INFO with these flags): with
    locals, every thread's frames with their variables (the stacks without
    them came first, read without the GIL); greenlets and tasks always."""
    want_locals = bool(flags & _native.DUMP_LOCALS)
    full_paths = bool(flags & _native.DUMP_FULL_PATHS)
    # The stacks' text is formatted after this answer: with sys.path as it
    # is now (a script's directory is on it only once it runs).
    _frame.use_sys_path()
    # The GIL holder when the dump's stacks were read (0: nobody).
    tree = runinfo.RunTree(locals=want_locals, threads=want_locals,
                           gil_holder=_native.dump_gil_holder())
    if flags & _native.DUMP_JSON:
        return tree.to_json()
    title = "Full backtrace with local variables:" if want_locals else None
    if not (tree.threads or tree.greenlets or tree.tasks or tree.notes):
        return ""
    return tree.format(title, full_paths=full_paths)


_service._answerers[_service.ASK_RUN_INFO] = answer_run_info


def answer_ondemand_labels(flags: int) -> str:
    """The labels of the on-demand profile's greenlets (csrc/ondemand.c
    asks when it ends): see _ondemand.labels."""
    from stackwatch import _ondemand

    return _ondemand.labels()


_service._answerers[_native.SERVICE_ASK_OD_LABELS] = answer_ondemand_labels


# -- asking another process ------------------------------------------------------

def _status(pid: int) -> Dict[str, str]:
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def request_dump(pid: int, timeout: float = DEFAULT_TIMEOUT,
                 json_format: bool = False, locals: bool = False,
                 signal_spec: Union[int, str, None] = None,
                 full_paths: bool = False) -> str:
    """Asks process `pid` for a dump (see the module's docstring) and
    returns it; the target shortens file names (by its own sys.path)
    unless full_paths. Raises DumpError with a one-line reason."""
    uid, directory, signum = locate(pid, signal_spec)
    return _ask(pid, uid, directory, signum, timeout,
                (_native.DUMP_JSON if json_format else 0)
                | (_native.DUMP_LOCALS if locals else 0)
                | (_native.DUMP_FULL_PATHS if full_paths else 0))


def locate(pid: int, signal_spec: Union[int, str, None] = None
           ) -> "Tuple[int, str, int]":
    """(uid, runtime directory, signal) of process `pid`, which has
    stackwatch enabled; raises DumpError with a one-line reason (no such
    process, permission denied, not enabled)."""
    import json

    if pid <= 0:
        raise DumpError("invalid process id: %d" % pid)
    if not os.path.exists("/proc/%d" % pid):
        raise DumpError("no such process: %d" % pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise DumpError("no such process: %d" % pid) from None
    except PermissionError:
        raise NotPermitted("permission denied: process %d belongs to "
                           "another user (run as that user or root)"
                           % pid) from None
    try:
        status = _status(pid)
        uid = int(status["Uid"].split()[1])
        caught = int(status["SigCgt"], 16)
    except (OSError, KeyError, ValueError):
        raise DumpError("no such process: %d" % pid) from None
    directory = runtime_dir(uid)
    not_enabled = ("stackwatch is not enabled in process %d (enable it with "
                   "stackwatch.enable_dump(), STACKWATCH_DUMP=1 or "
                   "stackwatch record)" % pid)
    try:
        with open(os.path.join(directory, "%d.json" % pid)) as f:
            reg = json.load(f)
        signum = int(reg["signal"])
        started = reg.get("start_time")
    except FileNotFoundError:
        raise NotEnabled(not_enabled) from None
    except PermissionError:
        raise DumpError("permission denied: cannot read %s"
                        % directory) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise DumpError("%s: its registration in %s is unreadable"
                        % (not_enabled, directory)) from None
    if signal_spec is not None and parse_signal(signal_spec) != signum:
        raise DumpError("process %d answers dumps on signal %d, not %s"
                        % (pid, signum, signal_spec))
    if started != _start_time(pid) or not caught & (1 << (signum - 1)):
        # A stale registration (the pid was reused) or a handler removed:
        # the signal would not be caught, and could kill the process.
        raise NotEnabled(not_enabled)
    return uid, directory, signum


def _ask(pid: int, uid: int, directory: str, signum: int, timeout: float,
         flags: int) -> str:
    """Sends a dump request and returns the answer."""
    import socket

    deadline = time.monotonic() + timeout
    with connect(pid, uid, directory, signum, timeout, flags) as conn:
        conn.settimeout(max(1.0, deadline - time.monotonic()))
        chunks = []
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            raise DumpError("timeout: process %d did not finish its "
                            "answer within %g s" % (pid, timeout)) from None
    return b"".join(chunks).decode("utf-8", "replace")


def connect(pid: int, uid: int, directory: str, signum: int, timeout: float,
            flags: int) -> "Any":
    """Sends a request (signal value: a nonce and flags) to process pid
    and returns the socket it connected to us with (checked to be its),
    within timeout; raises DumpError."""
    import random
    import socket
    import struct

    nonce = random.SystemRandom().randrange(1, _native.DUMP_NONCE_MASK + 1)
    path = os.path.join(directory, "req-%d-%05x.sock" % (os.getpid(), nonce))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        try:
            srv.bind(path)
        except OSError as e:
            raise DumpError("cannot listen in %s: %s"
                            % (directory, e.strerror)) from None
        finally:
            os.umask(old_umask)
        if os.getuid() == 0 and uid != 0:
            os.chown(path, uid, -1)  # the target connects as its own user
        srv.listen(1)
        srv.settimeout(timeout)
        try:
            _native.sigqueue(pid, signum, nonce | flags)
        except ProcessLookupError:
            raise DumpError("no such process: %d" % pid) from None
        except PermissionError:
            raise DumpError("permission denied: cannot signal process %d"
                            % pid) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                raise DumpError("timeout: process %d did not answer within "
                                "%g s" % (pid, timeout)) from None
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
            if struct.unpack("3i", creds)[0] == pid:
                break
            conn.close()  # not the process we asked
            srv.settimeout(max(0.01, deadline - time.monotonic()))
        return conn
    finally:
        srv.close()
        try:
            os.unlink(path)
        except OSError:
            pass
