"""Reading a process that did not enable stackwatch, from outside: its
stacks through ``process_vm_readv`` on its pid (``_native.outside_dump``,
csrc/outside_py.c), where the operating system allows it, and exactly why
not where it does not.

The kernel lets one process read another's memory under the ptrace
access rule (PTRACE_MODE_ATTACH): the same user (real, effective and
saved ids), the target dumpable, and Yama's ``kernel.yama.ptrace_scope``
0 (or 1 when the reader is an ancestor of the target); or
``CAP_SYS_PTRACE``. Nothing is attached and the target is never stopped.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

from stackwatch import _native

CAP_SYS_PTRACE = 19

ENABLE = ("enable stackwatch in it (stackwatch.enable_dump(), "
          "STACKWATCH_DUMP=1, or start it with stackwatch record)")


class OutsideError(Exception):
    """The process cannot be read from outside; the message is one line
    saying why. `denied`: the system does not permit it."""

    def __init__(self, message: str, denied: bool = False) -> None:
        super().__init__(message)
        self.denied = denied


def _status(pid: int) -> Dict[str, str]:
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def _ptrace_scope() -> Optional[int]:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None  # no Yama


def _has_cap_ptrace() -> bool:
    try:
        caps = int(_status(os.getpid())["CapEff"], 16)
    except (OSError, KeyError, ValueError):
        return False
    return bool(caps & (1 << CAP_SYS_PTRACE))


def _is_ancestor(pid: int) -> bool:
    me, seen = os.getpid(), 0
    while pid > 1 and seen < 4096:
        try:
            pid = int(_status(pid)["PPid"])
        except (OSError, KeyError, ValueError):
            return False
        if pid == me:
            return True
        seen += 1
    return False


def why_not(pid: int) -> str:
    """Why this process may not read process pid from outside (what the
    kernel's ptrace access rule would refuse), as words for a message."""
    scope = _ptrace_scope()
    if scope == 3:
        return ("kernel.yama.ptrace_scope is 3: no process may read "
                "another's memory on this system")
    if _has_cap_ptrace():
        if scope is not None and scope >= 2:
            return "kernel.yama.ptrace_scope is %d" % scope
        return ("the system refused although this command has "
                "CAP_SYS_PTRACE (a seccomp filter or a security module)")
    try:
        st = _status(pid)
        uids = [int(u) for u in st["Uid"].split()[:3]]
        gids = [int(g) for g in st["Gid"].split()[:3]]
    except (OSError, KeyError, ValueError):
        uids = gids = []
    me = os.geteuid()
    if uids and any(u != me for u in uids):
        owner = uids[1] if uids[0] == uids[1] else uids[0]
        return ("it runs as uid %d and this command as uid %d, without "
                "CAP_SYS_PTRACE" % (owner, me))
    if gids and any(g != os.getegid() for g in gids):
        return ("it runs as gid %d and this command as gid %d, without "
                "CAP_SYS_PTRACE" % (gids[1], os.getegid()))
    if scope == 2:
        return ("kernel.yama.ptrace_scope is 2: only processes with "
                "CAP_SYS_PTRACE may read another's memory")
    if scope == 1 and not _is_ancestor(pid):
        return ("kernel.yama.ptrace_scope is 1: only its ancestors (or "
                "CAP_SYS_PTRACE) may read its memory, and this command is "
                "not one")
    return ("it is not dumpable (it changed user, or called "
            "prctl(PR_SET_DUMPABLE, 0)), or a seccomp filter or security "
            "module refused; CAP_SYS_PTRACE would be needed")


def how_to(command: str = "dump") -> str:
    """How to be allowed, as words for a message."""
    return ("run stackwatch %s as the process's user (with "
            "kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE "
            "(root, or docker run --cap-add SYS_PTRACE)" % command)


def _refused(e: Exception, pid: int) -> OutsideError:
    """The OutsideError for the native reader's OSError or ValueError on
    pid: no such process, not permitted (and why), or not readable."""
    if isinstance(e, OSError):
        if e.errno in (errno.ESRCH, errno.ENOENT):
            return OutsideError("no such process: %d" % pid)
        if e.errno in (errno.EPERM, errno.EACCES):
            return OutsideError("reading it from outside is not permitted: "
                                "%s" % why_not(pid), denied=True)
        return OutsideError("it could not be read from outside: %s"
                            % (e.strerror or e))
    return OutsideError("it could not be read from outside: %s" % e)


def dump(pid: int, json_format: bool = False, locals: bool = False,
         full_paths: bool = True) -> Tuple[str, str]:
    """Process pid's stacks read from outside, and a line saying how
    (version and file of its interpreter); with locals, each frame's
    local variables read natively (simple types; the rest as their type
    and address; secret-looking names redacted by _saferepr's patterns).
    full_paths False: the text's files without the prefixes set
    (_frame.use_sys_path). Raises OutsideError with the reason in one
    line: not allowed
    (why_not), gone, or not a CPython stackwatch knows."""
    if locals:
        from stackwatch import _saferepr

        _native.set_redact_patterns(_saferepr.redact_patterns())
    try:
        res = _native.outside_dump(pid, json=json_format, locals=locals,
                                   full_paths=full_paths)
    except (OSError, ValueError) as e:
        raise _refused(e, pid) from None
    how = ("read from outside with process_vm_readv (CPython %s, %s); the "
           "process was not stopped" % (res["python"], res["binary"]))
    if json_format:
        # The shape of the in-process dump's JSON: what only stackwatch
        # inside can give is absent.
        import json

        text = ('{"pid": %d, "python": %s, "gil_answered": false, '
                '"outside": true,\n"stacks": %s,\n"run_info": null}\n'
                % (pid, json.dumps(res["python"]), res["text"]))
    else:
        text = "Process %d: %s\nPython %s (read from outside)\n\n%s" % (
            pid, _cmdline(pid), res["python"], res["text"])
    return text, how


def _cmdline(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            data = f.read(512)
    except OSError:
        return "?"
    return data.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8",
                                                          "replace")



#: Sampling modes, as profiler.MODES: the native mode number and the
#: weight the writers give a sample.
MODES = {"wall": (0, 1), "cpu": (1, 2), "gil": (2, 1)}


class Recording:
    """A profile of a process read from outside (record()): the session,
    how it was read, and whether it ended early."""

    def __init__(self, session, info, pid, rate, mode, seconds):
        self.session = session
        self.python = info["python"]
        self.binary = info["binary"]
        self.exited = info["exited"]
        self.interrupted = info["interrupted"]
        self.pid = pid
        self.rate = rate
        self.mode = mode
        self.seconds = seconds

    def render(self, fmt: str, threads: bool = False,
               full_paths: bool = True) -> bytes:
        """The profile in fmt (svg, speedscope, collapsed)."""
        import time

        from stackwatch import __version__

        st = self.session.stats()
        when = time.strftime("%Y-%m-%d %H:%M:%S",
                             time.localtime(st["start_time"] or 0))
        subtitle = ("%d samples of %d thread%s over %.1f s at %g Hz "
                    "(%.1f Hz effective), %s mode, read from outside, "
                    "Python %s, %s"
                    % (st["samples"], st["threads"],
                       "" if st["threads"] == 1 else "s",
                       st["duration_seconds"], self.rate,
                       st["passes"] / st["duration_seconds"]
                       if st["duration_seconds"] else 0.0,
                       self.mode, self.python, when))
        return self.session.write(
            fmt, by_thread=threads, by_greenlet=0,
            weight=MODES[self.mode][1],
            title="stackwatch: process %d: %s" % (self.pid,
                                                 _cmdline(self.pid)),
            subtitle=subtitle, exporter="stackwatch@%s" % __version__,
            full_paths=full_paths)


def record(pid: int, seconds: float, rate: float = 100, mode: str = "wall",
           lines: str = "current") -> Recording:
    """Profiles process pid from outside for `seconds` (0: until Ctrl-C)
    at `rate` Hz: every thread (wall), the threads that ran (cpu), or the
    thread holding the GIL (gil). Ctrl-C ends it early, keeping what was
    sampled (Recording.interrupted); so does the process's exit
    (Recording.exited). Raises OutsideError as dump() does, ValueError for
    a bad rate, mode or duration."""
    from stackwatch import profiler

    profiler.check_rate(rate)
    if mode not in MODES:
        raise ValueError("mode must be one of wall, cpu, gil, not %r"
                         % (mode,))
    if not 0 <= seconds <= 1e7:
        raise ValueError("seconds must be from 0 to 1e7, not %r"
                         % (seconds,))
    session = _native.Session(lines=profiler.LINES[lines])
    try:
        info = _native.outside_record(pid, session, float(seconds),
                                      float(rate), MODES[mode][0])
    except (OSError, ValueError) as e:
        raise _refused(e, pid) from None
    return Recording(session, info, pid, rate, mode, seconds)
