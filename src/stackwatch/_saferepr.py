"""Safe reprs: a bounded repr of any value that never raises, and the
redaction of secret-looking names (run info's locals, the slow-script
log).

Values are bounded in depth, items and length (a cut value says how long
it was); a ``__repr__`` that raises shows a placeholder. The repr of an
object is its own code: an object whose ``__repr__`` does I/O or takes
locks does so when it is shown.
"""

from __future__ import annotations

import _thread
import itertools
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs too much on the dump autostart path
    from typing import Any, Iterable, Optional, Sequence, Tuple

from stackwatch import _config

#: Names whose values are never shown (matched case-insensitively as
#: parts of a name, with '-' read as '_'), unless the value cannot hold a
#: secret (a number, None, a lock...: see can_hold_secret).
#: ``STACKWATCH_REDACT`` (comma separated) adds to them; the ``redact``
#: arguments replace them.
DEFAULT_REDACT = ("password", "passwd", "passphrase", "secret", "token",
                  "api_key", "apikey", "authorization", "cookie", "session",
                  "credential", "private_key", "access_key", "csrf")

REDACTED = "<redacted>"


class Limits:
    """How much of a value is shown: `length` characters of a repr (and
    of a string's or bytes' contents), `items` entries of a container,
    `depth` levels of nested containers, `locals` variables per frame."""

    def __init__(self, length: int = 240, items: int = 20, depth: int = 3,
                 locals: int = 100) -> None:
        self.length = max(16, int(length))
        self.items = max(1, int(items))
        self.depth = max(1, int(depth))
        self.locals = max(1, int(locals))


DEFAULT_LIMITS = Limits()


def redact_patterns(redact: Optional[Iterable[str]] = None
                    ) -> Tuple[str, ...]:
    """The patterns in force: `redact` if given, else the defaults plus
    ``STACKWATCH_REDACT``."""
    if redact is None:
        redact = DEFAULT_REDACT + _config.items("STACKWATCH_REDACT")
    return tuple(p.strip().lower().replace("-", "_") for p in redact
                 if p and p.strip())


def is_secret(name: Any, patterns: Sequence[str]) -> bool:
    """Whether name (a str or bytes) contains one of the patterns."""
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name[:200]).decode("latin-1")
    if not isinstance(name, str):
        return False
    key = name.lower().replace("-", "_")
    return any(p in key for p in patterns)


#: Values that cannot hold a secret, shown even under a secret-looking
#: name: numbers, booleans, None, and objects whose repr shows no value
#: of theirs (a lock -- gevent's ``task_queue_cookie`` is one --, a
#: function, a class, a module). Not bound methods: their repr has their
#: object's.
_PLAIN = (int, float, complex, type(None), type, types.FunctionType,
          types.BuiltinFunctionType, types.ModuleType, types.CodeType,
          type(_thread.allocate_lock()), type(_thread.RLock()))

#: How far can_hold_secret() looks into containers before it gives up
#: (and says yes).
_SECRET_CHECK_ITEMS = 64
_SECRET_CHECK_DEPTH = 3


def can_hold_secret(value: Any) -> bool:
    """Whether value could hold a secret, so that a secret-looking name
    hides it. No for numbers, booleans, None, locks, functions, classes,
    modules and objects with Python's default repr (``<T object at
    0x...>``), and for lists, tuples, sets and dicts (subclasses too) that
    hold only those, looked at to 3 levels and 64 values in all. Yes for
    everything else: strings, bytes, containers holding them or too big
    to look at, objects with a repr of their own (it could show anything:
    ``<Cookie sessionid=... for .example.com/>``). Never raises (yes when
    in doubt)."""
    budget = [_SECRET_CHECK_ITEMS]

    def walk(v: Any, depth: int) -> bool:
        if isinstance(v, _PLAIN):
            return False
        if not isinstance(v, (list, tuple, set, frozenset, dict)):
            return type(v).__repr__ is not object.__repr__
        if depth >= _SECRET_CHECK_DEPTH:
            return True
        # Never more than the budget is copied out of a big container.
        for item in list(itertools.islice(
                dict.items(v) if isinstance(v, dict) else v,
                budget[0] + 1)):
            budget[0] -= 1
            if budget[0] < 0:
                return True
            if isinstance(v, dict):
                if walk(item[0], depth + 1) or walk(item[1], depth + 1):
                    return True
            elif walk(item, depth + 1):
                return True
        return False

    try:
        return walk(value, 0)
    except Exception:
        return True


def hides(name: Any, value: Any, patterns: Sequence[str]) -> bool:
    """Whether the value of name is redacted: the name looks secret (see
    is_secret) and the value could hold a secret (see can_hold_secret)."""
    return is_secret(name, patterns) and can_hold_secret(value)


def _cut(text: str, total: int, limit: int, what: str) -> str:
    return "%s... <cut: %s of %d %s>" % (text, what, total,
                                        "bytes" if what == "bytes"
                                        else "characters")


def type_name(value: Any) -> str:
    """"module.Class" of value ("int" for builtins), never raising."""
    try:
        t = type(value)
        return "%s.%s" % (t.__module__, t.__qualname__) \
            if t.__module__ != "builtins" else t.__qualname__
    except Exception:
        return "object"


_CONTAINERS = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"),
               frozenset: ("frozenset({", "})"), dict: ("{", "}")}


def safe_repr(value: Any, limits: Limits = DEFAULT_LIMITS,
              redact: Optional[Sequence[str]] = None, _depth: int = 0
              ) -> str:
    """A bounded repr of value that never raises. Strings and bytes are
    cut before their repr is made (a 10 MB string costs nothing); the
    builtin containers are walked with limits; dict entries whose key looks
    secret show ``<redacted>`` (unless the value cannot hold a secret: see
    can_hold_secret); anything else is its own repr, cut."""
    patterns = redact_patterns() if redact is None else redact
    try:
        t = type(value)
        if t in (str, bytes, bytearray):
            n = len(value)
            if n > limits.length:
                return _cut(repr(value[:limits.length]), n, limits.length,
                            "str" if t is str else "bytes")
            return repr(value)
        # Every dict, subclasses too (OrderedDict, defaultdict, a headers
        # class...): their own repr would show secret keys' values.
        is_dict = isinstance(value, dict)
        if t in _CONTAINERS or is_dict:
            opening, closing = _CONTAINERS[dict if is_dict else t]
            if is_dict and t is not dict:
                opening, closing = t.__name__ + "({", "})"
            n = len(value)
            if n == 0 and not is_dict:
                return repr(value)
            if _depth >= limits.depth:
                return "<%s of %d items>" % (t.__name__, n)
            parts = []
            if is_dict:
                for i, (k, v) in enumerate(list(dict.items(value))):
                    if i >= limits.items:
                        break
                    shown = REDACTED if hides(k, v, patterns) else \
                        safe_repr(v, limits, patterns, _depth + 1)
                    parts.append("%s: %s" % (
                        safe_repr(k, limits, patterns, _depth + 1), shown))
            else:
                for i, v in enumerate(list(value)):
                    if i >= limits.items:
                        break
                    parts.append(safe_repr(v, limits, patterns, _depth + 1))
            if n > limits.items:
                parts.append("... <%d more, %d in all>"
                             % (n - limits.items, n))
            elif t is tuple and n == 1:
                parts[0] += ","
            text = opening + ", ".join(parts) + closing
        else:
            text = repr(value)
            if not isinstance(text, str):
                raise TypeError("__repr__ returned %s" % type_name(text))
    except Exception as e:
        try:
            return "<%s object at %#x; repr() failed: %s>" % (
                type_name(value), id(value), type(e).__name__)
        except Exception:
            return "<object; repr() failed>"
    if len(text) > limits.length:
        return _cut(text[:limits.length], len(text), limits.length, "repr")
    return text
