"""Reading a memory profile directory ``DIR/<pid>/`` (docs/memory-format.md).

Strict: the first problem in a file is a MemFormatError whose message is
one line naming the file and the line (``process.mem: line 7: ...``).
With ``partial=True`` a file is kept up to the line before its first
problem (a file whose version line is wrong is left out whole), and each
such cut is reported through ``note`` instead. A file without its
``# end`` line (the process was killed) is read whole, with a note.

Speed: a ``.mem`` file's data lines are parsed in C (csrc/memfile.c:
Python's own parsing took 17 s for a 10-minute profile of 100 threads at
20 ms, bench/memread.py); only the line it stops at is looked at here, to
say what is wrong with it. A ``.stack`` file's records are parsed in C
too (its stacks' frames decoded here); line by line here only to say
where a bad one is wrong.
"""

from __future__ import annotations

import os
import re
from array import array

from stackwatch import _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

VERSION = b"1"
MAGIC = b"# stackwatch-mem "

#: The columns a reader needs, per kind of .mem file (others are allowed).
NEEDED = {
    "process": ("t", "rss", "py_live", "c_live", "py_alloc", "c_alloc"),
    "thread": ("t", "py_live", "c_live", "py_alloc", "c_alloc"),
    "greenlet": ("t", "py_live", "c_live", "py_alloc", "c_alloc"),
}

#: The most columns a .mem file may have (csrc/memfile.h).
MAX_COLS = 64

_NUM_T = rb"\d+(?:\.\d+)?"
_NUM_I = rb"-?\d+"
_HEADER_KEY = re.compile(rb"# ([A-Za-z_][A-Za-z0-9_]*)(?: (.*))?\Z")
_END = re.compile(rb"# end (\d+(?:\.\d+)?)\Z")


class MemFormatError(Exception):
    """A file of the profile that cannot be read; str() is one line."""


def _show(raw: bytes, limit: int = 40) -> str:
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Series:
    """One ``.mem`` file: its headers and its needed columns (NEEDED).

    ``t`` holds the times (seconds), ``col(name)`` another needed column
    (bytes; arrays of doubles, exact below 2**53). ``ended`` is the time of ``# end`` or None."""

    def __init__(self, path: str, kind: str, headers: "Dict[str, str]",
                 columns: "List[str]") -> None:
        self.path = path
        self.kind = kind
        self.headers = headers
        self.columns = columns
        self.t: "array" = array("d")
        self._cols: "Dict[str, array]" = {}
        self.ended: "Optional[float]" = None
        self.dropped = 0  # lines left out by --partial
        self.label: "Optional[str]" = None  # set when two share a name

    @property
    def name(self) -> str:
        if self.label is not None:
            return self.label
        name = self.headers.get("name")
        if name:
            return name
        return os.path.splitext(os.path.basename(self.path))[0]

    def col(self, name: str) -> "array":
        return self._cols[name]

    def live(self) -> "array":
        """py_live + c_live at each time."""
        return self._cols["live"]

    def last(self, name: str) -> float:
        """The column's last value (0 when the file has no data line)."""
        c = self._cols[name]
        return c[-1] if len(c) else 0.0

    def __len__(self) -> int:
        return len(self.t)


class Stacks:
    """One ``.stack`` file: the stacks it defines (id -> frames, root
    first, each ``name (file:line)``) and its sampled blocks, in file
    order: when each was allocated (``t_alloc``), its stack and weight,
    and when it was freed (``t_free``, infinity when it was not)."""

    def __init__(self, path: str, headers: "Dict[str, str]") -> None:
        self.path = path
        self.headers = headers
        self.stacks: "Dict[int, List[str]]" = {}
        self.t_alloc = array("d")
        self.stack = array("q")
        self.weight = array("q")
        self.t_free = array("d")
        self._blocks = array("q")  # block ids, in the same order
        self.ended: "Optional[float]" = None
        self.dropped = 0

    @property
    def name(self) -> str:
        return self.headers.get("name") or os.path.splitext(
            os.path.basename(self.path))[0]

    def live_at(self, t: float) -> "Dict[int, int]":
        """Estimated live bytes per stack id at time t."""
        return _native.mem_live_at(self.t_alloc, self.t_free, self.stack,
                                   self.weight, t)

    def allocated(self) -> "Dict[int, int]":
        """Sampled bytes allocated per stack id over the whole run."""
        out: "Dict[int, int]" = {}
        for sid, w in zip(self.stack, self.weight):
            out[sid] = out.get(sid, 0) + w
        return out

    def _free(self, blocks: "array", times: "array") -> None:
        """Sets t_free of the blocks freed (a free of a block this file
        did not allocate is left out)."""
        # The block ids of this file, in order (an id is unique within
        # the process).
        where = dict(zip(self._blocks, range(len(self._blocks))))
        t_free = self.t_free
        for i, t in zip(map(where.get, blocks), times):
            if i is not None:
                t_free[i] = t


class Profile:
    """A profile directory: process.mem, thread and greenlet files, and
    the .stack files (keyed by the file's stem, as its .mem file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.process: "Optional[Series]" = None
        self.threads: "List[Series]" = []
        self.greenlets: "List[Series]" = []
        self.stacks: "Dict[str, Stacks]" = {}

    @property
    def pid(self) -> str:
        return (self.process.headers.get("pid") if self.process else None
                ) or os.path.basename(os.path.normpath(self.path))

    @property
    def duration(self) -> float:
        ends = [s.t[-1] for s in [self.process] + self.threads
                + self.greenlets if s is not None and len(s)]
        return max(ends) if ends else 0.0


# -- files -------------------------------------------------------------------

class _Cut(Exception):
    """The first problem of a file: its line number and what it is."""

    def __init__(self, lineno: int, problem: str) -> None:
        super().__init__(problem)
        self.lineno = lineno
        self.problem = problem


def _split_head(data: bytes, kinds: "Tuple[str, ...]"
                ) -> "Tuple[str, Dict[str, str], int, int]":
    """Checks the version line and reads the headers. Returns (kind,
    headers, offset of the first line after them, its line number)."""
    nl = data.find(b"\n")
    first = data if nl < 0 else data[:nl]
    if nl < 0 and not data:
        raise _Cut(1, "empty file (no version line)")
    want = "'# stackwatch-mem %s %s'" % (VERSION.decode(), "|".join(kinds))
    if not first.startswith(MAGIC):
        raise _Cut(1, "not a stackwatch memory file: version line %s, "
                      "expected %s" % (_show(first), want))
    words = first[len(MAGIC):].split(b" ")
    if len(words) != 2 or words[0] != VERSION:
        raise _Cut(1, "wrong version line %s, expected %s (format %s)"
                   % (_show(first), want, VERSION.decode()))
    kind = words[1].decode("ascii", "replace")
    if kind not in kinds:
        raise _Cut(1, "a '%s' file where a %s file was expected"
                   % (kind, " or ".join(kinds)))
    if nl < 0:
        raise _Cut(1, "the version line is cut (no end of line)")
    headers: "Dict[str, str]" = {}
    pos, lineno = nl + 1, 2
    while data.startswith(b"# ", pos) and not _END.match(
            data, pos, _line_end(data, pos)):
        end = data.find(b"\n", pos)
        if end < 0:
            raise _Cut(lineno, "the line is cut mid-way (no end of line)")
        m = _HEADER_KEY.match(data, pos, end)
        if m is None:
            raise _Cut(lineno, "a header that is not '# <key> <value>': %s"
                       % _show(data[pos:end]))
        try:
            headers[m.group(1).decode("ascii")] = (
                m.group(2) or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise _Cut(lineno, "a header that is not UTF-8") from None
        pos, lineno = end + 1, lineno + 1
    return kind, headers, pos, lineno


def _line_end(data: bytes, pos: int) -> int:
    end = data.find(b"\n", pos)
    return len(data) if end < 0 else end


def _body_end(data: bytes, pos: int) -> "Tuple[int, Optional[float]]":
    """Where the data lines end, and the time of '# end' if the file's
    last line is one."""
    if data.endswith(b"\n"):
        start = data.rfind(b"\n", 0, len(data) - 1) + 1
        if start >= pos:
            m = _END.match(data, start, len(data) - 1)
            if m is not None:
                return start, float(m.group(1))
    return len(data), None


def _bad_line(data: bytes, pos: int, lineno: int, end: int, ncols: int,
              what: str) -> _Cut:
    """Says what is wrong with the line at pos (the first one the
    pattern refused)."""
    nl = data.find(b"\n", pos)
    if nl < 0:
        return _Cut(lineno, "the line is cut mid-way (no end of line): %s"
                    % _show(data[pos:]))
    line = data[pos:nl]
    if line.startswith(b"# end"):
        return _Cut(lineno, "'# end' is not the last line")
    if line.startswith(b"#"):
        return _Cut(lineno, "a header after the data lines: %s" % _show(line))
    fields = line.split(b" ")
    if len(fields) != ncols:
        return _Cut(lineno, "%d fields, expected %d (%s): %s"
                    % (len(fields), ncols, what, _show(line)))
    for i, f in enumerate(fields):
        pattern = _NUM_T if i == 0 else _NUM_I
        if re.fullmatch(pattern, f) is None:
            return _Cut(lineno, "field %d is not %s: %s" % (
                i + 1, "a time in seconds" if i == 0 else "an integer",
                _show(f)))
        if len(f.lstrip(b"-").split(b".")[0]) > 18:
            return _Cut(lineno, "field %d is too large: %s" % (i + 1,
                                                               _show(f)))
    return _Cut(lineno, "garbage: %s" % _show(line))


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise MemFormatError("%s: cannot read: %s" % (path, e.strerror or e)
                             ) from None


def read_series(path: str, kinds: "Tuple[str, ...]", partial: bool = False,
                note: "Callable[[str], None]" = lambda s: None
                ) -> "Optional[Series]":
    """Reads one .mem file (see the module's docstring); None when
    partial and the file is unreadable from its first lines."""
    data = _read_bytes(path)
    try:
        kind, headers, pos, lineno = _split_head(data, kinds)
        cols = headers.get("columns", "").split()
        missing = [c for c in NEEDED[kind] if c not in cols]
        if not cols:
            raise _Cut(lineno, "no '# columns' header before the data")
        if cols[0] != "t" or missing:
            raise _Cut(lineno, "the '# columns' header lacks %s" % (
                " ".join(missing) if missing else "'t' first"))
    except _Cut as cut:
        msg = "%s: line %d: %s" % (path, cut.lineno, cut.problem)
        if not partial:
            raise MemFormatError(msg) from None
        note("%s; --partial: the file is left out" % msg)
        return None
    series = Series(path, kind, headers, cols)
    ncols = len(cols)
    if ncols > MAX_COLS:
        msg = "%s: line %d: %d columns, at most %d" % (
            path, lineno - 1, ncols, MAX_COLS)
        if not partial:
            raise MemFormatError(msg)
        note("%s; --partial: the file is left out" % msg)
        return None
    end, ended = _body_end(data, pos)
    want = [cols.index(name) for name in NEEDED[kind]]
    live = (NEEDED[kind].index("py_live"), NEEDED[kind].index("c_live"))
    parsed, stop = _native.mem_parse_rows(data, pos, end, ncols, want,
                                          [live])
    if stop < end:
        bad_line = lineno + data.count(b"\n", pos, stop)
        cut = _bad_line(data, stop, bad_line, end, ncols, " ".join(cols))
        msg = "%s: line %d: %s" % (path, cut.lineno, cut.problem)
        if not partial:
            raise MemFormatError(msg)
        series.dropped = data.count(b"\n", stop) + (
            0 if data.endswith(b"\n") else 1)
        note("%s; --partial: kept the %d lines before it, dropped %d"
             % (msg, bad_line - 1, series.dropped))
        ended = None
    elif ended is None:
        note("%s has no '# end' line (the process was stopped before it "
             "closed the file): its %d data lines are used"
             % (path, data.count(b"\n", pos, stop)))
    series.ended = ended
    for name, raw in zip(NEEDED[kind] + ("live",), parsed):
        a = array("d")
        a.frombytes(raw)
        if name == "t":
            series.t = a
        else:
            series._cols[name] = a
    return series


_ID = rb"\d{1,18}"
_STACK_DEF = re.compile(rb"s (" + _ID + rb") (.+)\Z")
_ALLOC = re.compile(rb"\+ (\d{1,18}(?:\.\d+)?) (" + _ID + rb") (" + _ID +
                    rb") (" + _ID + rb")\Z")
_FREE = re.compile(rb"- (\d{1,18}(?:\.\d+)?) (" + _ID + rb")\Z")
INF = float("inf")


def _stacks_from_c(st: Stacks, data: bytes, allocs: "Tuple[bytes, ...]",
                   frees: "Tuple[bytes, bytes]",
                   defs: "List[Tuple[int, int, int]]") -> bool:
    """Fills st from what _native.mem_parse_stacks read. False when the
    frames of a stack are not UTF-8."""
    try:
        for sid, off, n in defs:
            st.stacks.setdefault(
                sid, data[off:off + n].decode("utf-8").split(";"))
    except UnicodeDecodeError:
        return False
    t, blocks, sids, weights = allocs
    st.t_alloc.frombytes(t)
    st.stack.frombytes(sids)
    st.weight.frombytes(weights)
    st._blocks = array("q")
    st._blocks.frombytes(blocks)
    st.t_free = array("d", [INF]) * len(st.t_alloc)
    ft, fb = array("d"), array("q")
    ft.frombytes(frees[0])
    fb.frombytes(frees[1])
    st._free(fb, ft)
    return True


def read_stacks(path: str, partial: bool = False,
                note: "Callable[[str], None]" = lambda s: None
                ) -> "Optional[Stacks]":
    """Reads one .stack file (see the module's docstring)."""
    data = _read_bytes(path)
    try:
        _, headers, pos, lineno = _split_head(data, ("stacks",))
    except _Cut as cut:
        msg = "%s: line %d: %s" % (path, cut.lineno, cut.problem)
        if not partial:
            raise MemFormatError(msg) from None
        note("%s; --partial: the file is left out" % msg)
        return None
    st = Stacks(path, headers)
    end, ended = _body_end(data, pos)
    status, stop, allocs, frees, defs = _native.mem_parse_stacks(
        data, pos, end)
    if status == 0 and _stacks_from_c(st, data, allocs, frees, defs):
        if ended is None:
            note("%s has no '# end' line (the process was stopped before "
                 "it closed the file): its records are used" % path)
        st.ended = ended
        return st
    # Line by line, to find the first bad line (and keep those before).
    st = Stacks(path, headers)
    blocks: "Dict[int, int]" = {}  # block id -> its index in st
    first_bad: "Optional[_Cut]" = None
    while pos < end:
        nl = data.find(b"\n", pos, end)
        if nl < 0:
            first_bad = _Cut(lineno, "the line is cut mid-way (no end of "
                                     "line): %s" % _show(data[pos:end]))
            break
        line = data[pos:nl]
        kind = line[:1]
        m = None
        if kind == b"+":
            m = _ALLOC.match(line)
            if m is not None:
                sid = int(m.group(3))
                if sid not in st.stacks:
                    first_bad = _Cut(lineno, "stack %d is used before it "
                                             "is defined" % sid)
                    break
                blocks[int(m.group(2))] = len(st.stack)
                st._blocks.append(int(m.group(2)))
                st.t_alloc.append(float(m.group(1)))
                st.stack.append(sid)
                st.weight.append(int(m.group(4)))
                st.t_free.append(INF)
        elif kind == b"-":
            m = _FREE.match(line)
            if m is not None:
                i = blocks.get(int(m.group(2)))
                # A free whose allocation is not in this file (not
                # sampled here) is left out.
                if i is not None:
                    st.t_free[i] = float(m.group(1))
        elif kind == b"s":
            m = _STACK_DEF.match(line)
            if m is not None:
                try:
                    frames = m.group(2).decode("utf-8").split(";")
                except UnicodeDecodeError:
                    first_bad = _Cut(lineno, "frames that are not UTF-8")
                    break
                st.stacks.setdefault(int(m.group(1)), frames)
        if m is None:
            if line.startswith(b"# end"):
                problem = "'# end' is not the last line"
            elif line.startswith(b"#"):
                problem = "a header after the records: %s" % _show(line)
            else:
                problem = ("not a record ('s <id> <frames>', '+ <t> <block> "
                           "<stack> <weight>' or '- <t> <block>'): %s"
                           % _show(line))
            first_bad = _Cut(lineno, problem)
            break
        pos, lineno = nl + 1, lineno + 1
    if first_bad is None and status != 0:
        # (Not expected: the two readers refuse the same lines.)
        first_bad = _Cut(lineno, "a record that does not parse")
    if first_bad is not None:
        msg = "%s: line %d: %s" % (path, first_bad.lineno, first_bad.problem)
        if not partial:
            raise MemFormatError(msg)
        st.dropped = data.count(b"\n", pos) + (
            0 if data.endswith(b"\n") else 1)
        note("%s; --partial: kept the %d lines before it, dropped %d"
             % (msg, first_bad.lineno - 1, st.dropped))
        ended = None
    elif ended is None:
        note("%s has no '# end' line (the process was stopped before it "
             "closed the file): its records are used" % path)
    st.ended = ended
    return st


# -- the directory -----------------------------------------------------------

def _not_a_profile(path: str, why: str) -> MemFormatError:
    hint = ""
    try:
        pids = sorted(
            (d for d in os.listdir(path) if d.isdigit()
             and os.path.isfile(os.path.join(path, d, "process.mem"))),
            key=int)
    except OSError:
        pids = []
    if pids:
        hint = " (it holds the profiles of process%s %s: give %s)" % (
            "es" if len(pids) > 1 else "", ", ".join(pids[:5]) + (
                "..." if len(pids) > 5 else ""),
            os.path.join(path, pids[0]))
    return MemFormatError("%s is not a memory profile directory: %s%s"
                          % (path, why, hint))


def read_profile(path: str, partial: bool = False,
                 note: "Callable[[str], None]" = lambda s: None) -> Profile:
    """Reads the profile directory `path` (``DIR/<pid>``)."""
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise MemFormatError("%s does not exist" % path)
        raise MemFormatError("%s is not a memory profile directory: not a "
                             "directory" % path)
    proc = os.path.join(path, "process.mem")
    if not os.path.isfile(proc):
        raise _not_a_profile(path, "no process.mem")
    prof = Profile(path)
    prof.process = read_series(proc, ("process",), partial, note)
    if prof.process is None:
        raise MemFormatError("%s: nothing readable in process.mem" % path)
    names = sorted(os.listdir(path))
    for name in names:
        full = os.path.join(path, name)
        if name == "process.mem" or not os.path.isfile(full):
            continue
        if name.endswith(".mem"):
            s = read_series(full, ("thread", "greenlet"), partial, note)
            if s is not None:
                (prof.greenlets if s.kind == "greenlet"
                 else prof.threads).append(s)
        elif name.endswith(".stack"):
            st = read_stacks(full, partial, note)
            if st is not None:
                prof.stacks[name[:-len(".stack")]] = st
    # MainThread first, then by name with numbers in numeric order
    # (Thread-2 before Thread-10).
    for group in (prof.threads, prof.greenlets):
        group.sort(key=lambda s: (s.name != "MainThread", [
            (0, int(w), "") if w.isdigit() else (1, 0, w)
            for w in re.split(r"(\d+)", s.name)]))
    for group in (prof.threads, prof.greenlets):
        names = [s.name for s in group]
        for s in group:
            if names.count(s.name) > 1:
                # Two threads with one name: told apart by native id.
                s.label = "%s (tid %s)" % (s.name, s.headers.get(
                    "native_id") or s.headers.get("greenlet_id") or
                    os.path.basename(s.path))
    return prof


def _short_frame(frame: str) -> str:
    """ "name (path:line)" with the path as profiles show it (a module's
    path under sys.path from its package: "aiohttp/web_app.py")."""
    head, sep, tail = frame.rpartition(" (")
    path, colon, line = tail.rpartition(":")
    if not sep or not colon or not line.endswith(")"):
        return frame
    from stackwatch import _frame

    return "%s (%s:%s" % (head, _frame.short_path(path), line)


def stack_label(frames: "List[str]", depth: int = 4) -> str:
    """A stack on one line, the allocating frame first, paths short."""
    leaf = [_short_frame(f) for f in reversed(frames)]
    text = " <- ".join(leaf[:depth])
    if len(leaf) > depth:
        text += " <- ... (%d more)" % (len(leaf) - depth)
    return text
