"""``stackwatch.Frame``: one frame of a stack, the one type every part of
stackwatch hands out (profiler samples, watchdog events, run info).

A frame is immutable. It compares, hashes, sorts and unpacks as the tuple
``(name, filename, lineno)``, so ``name, filename, lineno = frame`` and
``frame == ("f", "a.py", 3)`` work; the source line, arguments and locals
ride along without taking part.

A frame carries the full file name (``filename``: what the code object
says, what JSON and programs get); ``short_filename`` is how text shows it,
without the longest path prefix it is under. The prefixes are the
process's ``sys.path`` entries (and the current directory), resolved when
recording or dumping starts (:func:`use_sys_path`) and kept in the C
formatter (csrc/stackfmt.c), which applies the one rule for every text.
"""

from __future__ import annotations

import os
import sys

from stackwatch import _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

_resolved = False  # the prefix table was set in this process
_pinned = False    # by the command line: starts of the API keep it
_full = False      # --full-paths: no prefixes at all


def path_prefixes(path: Optional[Sequence[Any]] = None,
                  first: Optional[str] = None, cwd: bool = True) -> List[str]:
    """The directories that text leaves out of file names: the entries of
    `path` (default sys.path; `first` instead of its first entry, as the
    target will see it), "" as the current directory, then the current
    directory itself; each absolute and, when different, also resolved
    (symbolic links). Only entries that exist (directories, or archives
    such as python311.zip, whose files are "archive/name"). cwd=False:
    without the current directory."""
    entries = list(sys.path if path is None else path)
    if first is not None:
        entries[:1] = [first]
    if cwd:
        try:
            entries.append(os.getcwd())
        except OSError:
            pass
    out: List[str] = []
    for e in entries:
        if not isinstance(e, str):
            continue
        try:
            p = os.path.abspath(e or os.curdir)
            if not os.path.exists(p):
                continue
            real = os.path.realpath(p)
        except (OSError, ValueError):
            continue
        out.append(p)
        if real != p:
            out.append(real)
    return out


def use_sys_path(first: Optional[str] = None, pin: bool = False,
                 extra: Sequence[str] = ()) -> None:
    """Resolves the prefixes now (see path_prefixes) for every text this
    process writes, with the absolute directories `extra` too (another
    process's, which need not exist in this one's view). The command line
    pins them (pin=True: the target's sys.path, resolved before it runs);
    the API's starts then keep them."""
    global _resolved, _pinned
    if _full or (_pinned and not pin):
        return
    _native.set_path_prefixes(path_prefixes(first=first) +
                              [e for e in extra if os.path.isabs(e)])
    _resolved = True
    _pinned = _pinned or pin


def ensure_prefixes() -> None:
    """Resolves the prefixes if nothing did yet in this process."""
    if not _resolved:
        use_sys_path()


def set_full_paths() -> None:
    """Every text of this process shows full paths (`--full-paths` of
    `stackwatch run`: stall reports and the slow-script log included)."""
    global _full, _resolved
    _full = True
    _resolved = True
    _native.set_path_prefixes([])


def short_path(filename: str) -> str:
    """`filename` without its path prefix (the one rule, in C)."""
    ensure_prefixes()
    return _native.short_path(filename)


class Frame:
    """One frame: `name` (the function, qualified on 3.11+), `filename`,
    `lineno` (-1 when unknown), `line` (the source line, "" when unknown
    or not read), `args` (the argument names) and `locals` (variable name
    -> safe repr), both None when the variables were not captured.
    `filename` is the full path; `short_filename` the one text shows."""

    __slots__ = ("name", "filename", "lineno", "line", "args", "locals")

    name: str
    filename: str
    lineno: int
    line: str
    args: Optional[List[str]]
    locals: Optional[Dict[str, str]]

    def __init__(self, name: str, filename: str, lineno: int,
                 line: str = "", args: Optional[List[str]] = None,
                 locals: Optional[Dict[str, str]] = None) -> None:
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "filename", filename)
        set_(self, "lineno", lineno)
        set_(self, "line", line or "")
        set_(self, "args", args)
        set_(self, "locals", locals)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("stackwatch.Frame is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("stackwatch.Frame is immutable")

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Frame, (self.name, self.filename, self.lineno, self.line,
                        self.args, self.locals))

    # -- the 3-tuple (name, filename, lineno) --

    def _key(self) -> Tuple[str, str, int]:
        return (self.name, self.filename, self.lineno)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._key())

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: Any) -> Any:
        return self._key()[index]

    def __hash__(self) -> int:
        return hash(self._key())

    @staticmethod
    def _other(other: Any) -> Optional[Tuple[Any, ...]]:
        if isinstance(other, Frame):
            return other._key()
        if isinstance(other, tuple):
            return other
        return None

    def __eq__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() == o

    def __ne__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() != o

    def __lt__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() < o

    def __le__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() <= o

    def __gt__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() > o

    def __ge__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._key() >= o

    # -- the rest --

    @property
    def short_filename(self) -> str:
        """The file as stackwatch's text shows it: without the longest
        sys.path entry (or current directory) it is under, e.g.
        "gevent/hub.py"; a file under none as it is."""
        return short_path(self.filename)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "filename": self.filename,
                "lineno": self.lineno, "line": self.line,
                "args": self.args, "locals": self.locals}

    def __repr__(self) -> str:
        return "Frame(name=%r, filename=%r, lineno=%r)" % self._key()
