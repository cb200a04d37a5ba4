"""Profiles of forked children: the spool, the hand-over and the merge.

A profiler that is sampling when its process forks keeps sampling in the
child, into a fresh profile (profiler.py restarts it). The child never
writes the parent's output; it hands its samples to the parent:

- Just before the first fork, the parent makes a private spool directory
  (mode 0700, in the temporary directory) that every forked child
  inherits the name of.
- A child that ends (or writes) puts its samples there as one part,
  written under a temporary name and renamed into place, so the parent
  sees a whole part or none.
- The parent reads the parts present whenever it renders, and at its
  final write closes the spool: it renames the directory first (a
  child's rename into the old name then fails, and that child writes its
  own file instead, see `own_path`), reads the parts and removes the
  directory. A part that does not read back whole is skipped with one
  warning line.

A part is a line of text naming the format, then one JSON document:
the child's stats and its rows. A row is one aggregated stack of one
thread (and greenlet) of one process; a child that merged its own
children's parts passes their rows on, each keeping its process id. When
rows of more than one process end up in one profile, each stack gets a
root frame ``process <pid>``.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    #: (pid, thread key, ident, tid, thread name or None, greenlet id,
    #:  greenlet label or None, frames ((name, file, line, first line)
    #:  root first; the first line 0 when unknown, missing in the parts of
    #:  an older stackwatch), count, wall ns, cpu ns, gil count, greenlet
    #:  group text or None)
    Row = Tuple[int, int, int, int, Optional[str], int, Optional[str],
                Tuple[Tuple[Any, ...], ...], int, int, int, int,
                Optional[str]]

MAGIC = "stackwatch-fork-part 1"
PART_SUFFIX = ".part"

#: The stats a part carries, summed over processes in a merged profile.
SUMMED = ("samples", "dropped", "read_errors", "bad_frames", "bad_threads",
          "sampler_cpu_seconds", "passes", "reused", "labels_dropped",
          "missed", "rereads")


def warn(text: str) -> None:
    sys.stderr.write("[stackwatch] %s\n" % text)


def make_spool() -> str:
    """A new private directory (0700) for the parts of this process's
    children."""
    import tempfile

    return tempfile.mkdtemp(prefix="stackwatch-forks-%d-" % os.getpid())


def own_path(path: str, pid: int) -> str:
    """out.svg -> out.<pid>.svg: where a child that outlived its parent's
    profile writes its own."""
    root, ext = os.path.splitext(path)
    return "%s.%d%s" % (root, pid, ext)


def hand_over(spool: str, stats: "Dict[str, Any]", rows: "List[Row]"
              ) -> bool:
    """Puts this process's part in the parent's spool. Returns False when
    the spool is closed or gone (the parent has written its profile, or
    ended), or cannot be written: the caller writes its own file then."""
    import json

    frames: "Dict[Tuple[str, str, int], int]" = {}
    out_rows = []
    for (pid, key, ident, tid, tname, gid, glabel, stack, count, wall, cpu,
         gil, gtext) in rows:
        idx = [frames.setdefault(f, len(frames)) for f in stack]
        out_rows.append([pid, key, ident, tid, tname, gid, glabel, idx,
                         count, wall, cpu, gil, gtext])
    doc = {"pid": os.getpid(),
           "stats": {k: stats.get(k, 0) for k in SUMMED},
           "frames": [list(f) for f in frames],
           "rows": out_rows}
    if stats.get("title") is not None:
        # The process's title (_tree.py: a process of `record --`).
        doc["titles"] = {str(os.getpid()): stats["title"]}
    data = (MAGIC + "\n" + json.dumps(doc, separators=(",", ":"))
            + "\n").encode()
    me = os.getpid()
    tmp = os.path.join(spool, ".%d.tmp" % me)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                     | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(spool, "%d%s" % (me, PART_SUFFIX)))
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def _check_row(row: "Any", nframes: int) -> "Row":
    (pid, key, ident, tid, tname, gid, glabel, idx, count, wall, cpu,
     gil, gtext) = row
    ints = (pid, key, ident, tid, gid, count, wall, cpu, gil)
    if (not all(type(v) is int and 0 <= v < 1 << 64 for v in ints)
            or count == 0
            or gid > 0xFFFFF):
        raise ValueError("a bad number")
    for text in (tname, glabel, gtext):
        if text is not None and type(text) is not str:
            raise ValueError("a bad label")
    if (type(idx) is not list or not idx
            or not all(type(i) is int and 0 <= i < nframes for i in idx)):
        raise ValueError("a bad stack")
    return (pid, key, ident, tid, tname, gid, glabel, tuple(idx), count,
            wall, cpu, gil, gtext)


def doc_rows(doc: "Dict[str, Any]") -> "List[Row]":
    """The rows of a part's JSON document, each with its stack's frames
    (name, file, line, first line); ValueError (or KeyError, TypeError)
    when a frame or row is not well-formed."""
    frames = []
    for f in doc["frames"]:
        if type(f) is not list or len(f) not in (3, 4):
            raise ValueError("a bad frame")
        name, file, line, first = f if len(f) == 4 else f + [0]
        if type(name) is not str or type(file) is not str or \
                type(line) is not int or type(first) is not int:
            raise ValueError("a bad frame")
        frames.append((name, file, line, first))
    rows = []
    for row in doc["rows"]:
        r = _check_row(row, len(frames))
        rows.append(r[:7] + (tuple(frames[i] for i in r[7]),) + r[8:])
    return rows


def read_part(path: str) -> "Optional[Tuple[Dict[str, Any], List[Row]]]":
    """(stats, rows) of one part, or None (one warning line) when it does
    not read back whole and well-formed."""
    import json

    try:
        with open(path, "rb") as f:
            data = f.read()
        head, sep, body = data.partition(b"\n")
        if head.decode("ascii", "replace") != MAGIC or not sep:
            raise ValueError("not a part of this stackwatch")
        doc = json.loads(body.decode("utf-8"))
        if type(doc) is not dict:
            raise ValueError("not a part of this stackwatch")
        rows = doc_rows(doc)
        stats = doc["stats"]
        if type(stats) is not dict or not all(
                type(stats.get(k, 0)) in (int, float) for k in SUMMED):
            raise ValueError("bad totals")
        titles = doc.get("titles", {})
        if type(titles) is not dict or not all(
                type(k) is str and k.isdigit() and type(v) is str
                for k, v in titles.items()):
            raise ValueError("bad titles")
        out = {k: stats.get(k, 0) for k in SUMMED}
        if titles:
            out["titles"] = {int(k): v for k, v in titles.items()}
        return out, rows
    except (OSError, ValueError, KeyError, TypeError, UnicodeError) as e:
        warn("skipped a forked child's profile that did not read back whole "
             "(%s: %s)" % (os.path.basename(path), e))
        return None


def read_parts(spool: str) -> "List[Tuple[Dict[str, Any], List[Row]]]":
    """Every whole part in the spool (temporary names are left alone)."""
    try:
        names = sorted(os.listdir(spool))
    except OSError:
        return []
    out = []
    for name in names:
        if name.endswith(PART_SUFFIX) and not name.startswith("."):
            part = read_part(os.path.join(spool, name))
            if part is not None:
                out.append(part)
    return out


def close(spool: str) -> "List[Tuple[Dict[str, Any], List[Row]]]":
    """Closes the spool (children write their own files from now on),
    returns its parts and removes it."""
    closed = spool + ".closed"
    try:
        os.rename(spool, closed)
    except OSError:
        return []
    try:
        return read_parts(closed)
    finally:
        remove(closed)


def remove(spool: str) -> None:
    import shutil

    shutil.rmtree(spool, ignore_errors=True)


def merge(rows: "List[Row]", titles: "Optional[Dict[int, str]]" = None
          ) -> "Any":
    """A new native session holding the rows; each stack under a root
    frame ``process <pid>`` when more than one process contributed, or,
    given titles (a process tree's: _tree.py), always under ``pid <pid>
    <title>``. Thread and greenlet labels are kept (greenlet ids are
    renumbered: each process numbers its own)."""
    from stackwatch import _native

    session = _native.Session()
    several = len({r[0] for r in rows}) > 1 or titles is not None
    keys: "Dict[Tuple[int, int], int]" = {}
    gids: "Dict[Tuple[int, int], int]" = {}
    grouped = set()
    for (pid, key, ident, tid, tname, gid, glabel, stack, count, wall, cpu,
         gil, gtext) in rows:
        tkey = keys.setdefault((pid, key), len(keys) + 1)
        new_gid = gids.setdefault((pid, gid), len(gids) + 1) if gid else 0
        if new_gid > 0xFFFFF:
            new_gid = 0
        if titles is not None:
            root = ("pid %d %s" % (pid, titles.get(pid, ""))).rstrip()
            stack = ((root, "", -1),) + tuple(stack)
        elif several:
            stack = (("process %d" % pid, "", -1),) + tuple(stack)
        session.add_stack(tkey, ident, tid, tname, new_gid, glabel, stack,
                          count, wall, cpu, gil)
        if new_gid and glabel is not None and gtext is not None and \
                new_gid not in grouped:
            # What --greenlets groups it under (its function, its gevent
            # name pattern), as its own process grouped it.
            session.label_greenlet(new_gid, glabel, gtext)
            grouped.add(new_gid)
    return session


def total_stats(own: "Dict[str, Any]", parts: "List[Dict[str, Any]]"
                ) -> "Dict[str, Any]":
    """own's stats with the children's counters added."""
    out = dict(own)
    for st in parts:
        for k in SUMMED:
            out[k] = out.get(k, 0) + st.get(k, 0)
    return out
