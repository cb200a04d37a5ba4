"""``stackwatch.Frame``: one frame of a stack, the one type every part of
stackwatch hands out (profiler samples, watchdog events, run info).

A frame is immutable. It compares, hashes, sorts and unpacks as the tuple
``(name, filename, lineno)``, so ``name, filename, lineno = frame`` and
``frame == ("f", "a.py", 3)`` work; the source line, arguments and locals
ride along without taking part.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Tuple


class Frame:
    """One frame: `name` (the function, qualified on 3.11+), `filename`,
    `lineno` (-1 when unknown), `line` (the source line, "" when unknown
    or not read), `args` (the argument names) and `locals` (variable name
    -> safe repr), both None when the variables were not captured."""

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

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "filename": self.filename,
                "lineno": self.lineno, "line": self.line,
                "args": self.args, "locals": self.locals}

    def __repr__(self) -> str:
        return "Frame(name=%r, filename=%r, lineno=%r)" % self._key()
