"""Putting output files in place without ever leaving a half-written one.

A regular file (or a path that does not exist yet) is written to a
temporary file in the same directory, flushed to disk, given the mode the
target had (or the umask's default) and renamed over the target: readers
see the old file or the new one, never a part. A symbolic link keeps
pointing where it did: the file it points to is the one replaced.

Anything that is not a regular file -- /dev/null, a pipe, a terminal --
cannot be replaced by a rename and is written in place, and so is any path
under /dev or /proc (/dev/stdout is a link to /proc/self/fd/1: renaming
over it would replace the link, and what it leads to may be a file the
target already wrote to, so it is appended to). "-" means standard output.
"""

import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


class OutputError(Exception):
    """An output path that cannot be written; the message is one line."""


def _mkstemp(d: str, prefix: str, suffix: str = "") -> "tuple[int, str]":
    """A new file of ours in d, mode 0600, opened for writing: (fd, path).
    (What tempfile.mkstemp does, without the cost of importing tempfile,
    shutil and random on every command's start-up.)"""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        path = os.path.join(d, prefix + os.urandom(6).hex() + suffix)
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError("no unused temporary name in %s" % d)


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _through_dev_or_proc(path: str) -> bool:
    """Whether path, or a link on the way from it, is under /dev or /proc.
    Hop by hop: os.path.realpath would follow /proc/self/fd/1 to the file
    it stands for, and the rename would then swap that file."""
    p = os.path.abspath(path)
    for _ in range(40):
        if p.startswith(("/dev/", "/proc/")):
            return True
        if not os.path.islink(p):
            return False
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    return True  # a loop: let the open() report it


def _in_place(path: str) -> bool:
    """Whether `path` must be written in place rather than replaced."""
    if _through_dev_or_proc(path):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def check_writable(path: str) -> None:
    """Raises OutputError if `path` cannot be written, before any work is
    done: in place, it must be writable; otherwise a file must be creatable
    in the directory that will hold it (tried for real: permissions say
    nothing of read-only file systems, nor of root)."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise OutputError("cannot write %s: it is a directory" % path)
    if _in_place(path):
        if not os.access(path, os.W_OK) and os.path.exists(path):
            raise OutputError("cannot write %s: permission denied" % path)
        if not os.path.exists(path):
            _probe_dir(path, os.path.realpath(path))
        return
    _probe_dir(path, os.path.realpath(path))


def _probe_dir(path: str, real: str) -> None:
    d = os.path.dirname(real)
    if not os.path.isdir(d):
        raise OutputError("cannot write %s: directory %s does not exist"
                          % (path, d))
    try:
        fd, tmp = _mkstemp(d, ".stackwatch-probe-")
    except OSError as e:
        raise OutputError("cannot write %s: %s" % (path, e.strerror or e)
                          ) from None
    os.close(fd)
    os.unlink(tmp)


def write_file(path: str, data: bytes) -> None:
    """Writes `data` to `path` as described above; raises OutputError."""
    if path == "-":
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except OSError as e:
            raise OutputError("cannot write %s: %s"
                              % (path, e.strerror or e)) from None
        return
    write_stream(path, lambda fd: _write_all(fd, data))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_stream(path: str, fill: "Callable[[int], None]") -> None:
    """As write_file, for output too big to hold in memory: fill(fd)
    writes it to the file descriptor given (a temporary file renamed over
    the target once fill returns, or the target itself when it is written
    in place). An exception from fill leaves no partial file behind a
    rename; OSError becomes OutputError."""
    try:
        if path == "-":
            sys.stdout.flush()
            fill(sys.stdout.fileno())
            return
        if _in_place(path):
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | os.O_CLOEXEC, 0o666)
            try:
                fill(fd)
            finally:
                os.close(fd)
            return
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            st = None
        d = os.path.dirname(os.path.abspath(real))
        fd, tmp = _mkstemp(d, ".%s." % os.path.basename(real), ".tmp")
        try:
            try:
                fill(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None
                     else 0o666 & ~_umask())
            os.replace(tmp, real)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OutputError:
        raise
    except OSError as e:
        raise OutputError("cannot write %s: %s"
                          % (path, e.strerror or e)) from None
