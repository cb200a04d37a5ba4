"""Putting output files in place without ever leaving a half-written one.

A regular file (or a path that does not exist yet) is written to a
temporary file in the same directory, flushed to disk, given the mode the
target had (or the umask's default) and renamed over the target: readers
see the old file or the new one, never a part. Anything else -- /dev/null,
a pipe, /dev/stdout, a terminal -- cannot be replaced by a rename and is
written in place. "-" means standard output.
"""

import os
import stat
import sys
import tempfile


class OutputError(Exception):
    """An output path that cannot be written; the message is one line."""


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def check_writable(path: str) -> None:
    """Raises OutputError if `path` clearly cannot be written, before any
    work is done (the file itself is not created)."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise OutputError("cannot write %s: it is a directory" % path)
    if os.path.lexists(path):
        if not os.access(path, os.W_OK):
            raise OutputError("cannot write %s: permission denied" % path)
        if stat.S_ISREG(os.stat(path).st_mode):
            # Replaced by a rename: the directory must be writable too.
            _check_dir(path)
        return
    _check_dir(path)


def _check_dir(path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise OutputError("cannot write %s: directory %s does not exist"
                          % (path, d))
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputError("cannot write %s: directory %s is not writable"
                          % (path, d))


def write_file(path: str, data: bytes) -> None:
    """Writes `data` to `path` as described above; raises OutputError."""
    try:
        if path == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "wb") as f:
                f.write(data)
            return
        _replace(path, data, st)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError("cannot write %s: %s"
                          % (path, e.strerror or e)) from None


def _replace(path: str, data: bytes, st: "os.stat_result | None") -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".%s." % os.path.basename(path),
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        mode = stat.S_IMODE(st.st_mode) if st is not None else (
            0o666 & ~_umask())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
