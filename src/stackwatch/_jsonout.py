"""JSON text without the json package: the dumps' JSON (run information
with ``--json``, on the service thread) and the dump registration file
(written at start-up by every process with dumps enabled).

The json package imports re (with enum) when loaded, and our threads
must not import while the program runs: loading it at start cost every
``STACKWATCH_DUMP=1`` process, and ``stackwatch record`` and ``run``,
several milliseconds. This writes what ``json.dumps(obj, indent=indent,
default=str)`` writes, character for character (tests/test_startup.py
compares them), for the values run information holds: dicts, lists,
tuples, strings, numbers, booleans, None, and anything else as its str().
Strings are escaped by ``_json`` (json's own C escaper, a built-in
extension that imports nothing).
"""

from __future__ import annotations

from _json import encode_basestring_ascii as _string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Set


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    """A dict key as json writes it (str, int, float, bool, None)."""
    if isinstance(key, str):
        return _string(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return '"%s"' % int.__repr__(key)
    if isinstance(key, float):
        return '"%s"' % _float(key)
    raise TypeError("keys must be str, int, float, bool or None, not %s"
                    % type(key).__name__)


def dumps(obj: Any, indent: Optional[int] = None) -> str:
    """obj as json.dumps(obj, indent=indent, default=str) writes it;
    raises ValueError on a circular reference, as json does."""
    out: List[str] = []
    _write(obj, out, None if indent is None else " " * indent, 0, set())
    return "".join(out)


def _write(obj: Any, out: List[str], indent: Optional[str], level: int,
           seen: Set[int]) -> None:
    if isinstance(obj, str):
        out.append(_string(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, (list, tuple, dict)):
        if id(obj) in seen:
            raise ValueError("Circular reference detected")
        seen.add(id(obj))
        is_dict = isinstance(obj, dict)
        items = list(obj.items()) if is_dict else list(obj)
        opening, closing = ("{", "}") if is_dict else ("[", "]")
        if not items:
            out.append(opening + closing)
        else:
            if indent is None:
                sep, first, last = ", ", "", ""
            else:
                first = "\n" + indent * (level + 1)
                sep, last = "," + first, "\n" + indent * level
            out.append(opening + first)
            for i, item in enumerate(items):
                if i:
                    out.append(sep)
                if is_dict:
                    out.append(_key(item[0]) + ": ")
                    item = item[1]
                _write(item, out, indent, level + 1, seen)
            out.append(last + closing)
        seen.discard(id(obj))
    else:
        # default=str: the str() of the object, written as a string.
        _write(str(obj), out, indent, level, seen)
