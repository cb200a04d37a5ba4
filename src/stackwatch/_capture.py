"""Run info's capture: finding the greenlets and running asyncio loops of
the process, and turning interpreter frames into :class:`stackwatch.Frame`
lists with the source line and, on request, arguments and locals as safe
reprs (redacted, bounded).
"""

from __future__ import annotations

import gc
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

from stackwatch._frame import Frame
from stackwatch._monitor_state import S
from stackwatch._saferepr import REDACTED, Limits, hides, safe_repr


def interesting_objects(greenlets: bool, tasks: bool) -> Dict[str, list]:
    """Greenlets (found in one pass over the objects the garbage collector
    tracks, as gevent's run info does; only when greenlet is imported) and
    running asyncio loops (those of the tasks asyncio registers)."""
    found: Dict[str, list] = {"greenlets": [], "loops": []}
    glet = sys.modules.get("greenlet") if greenlets else None
    gtype = getattr(glet, "greenlet", None)
    if gtype is not None:
        found["greenlets"] = [ob for ob in gc.get_objects()
                              if isinstance(ob, gtype)]
    aio = sys.modules.get("asyncio") if tasks else None
    if aio is not None:
        registered: List[Any] = []
        for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
            for _ in range(10):  # a WeakSet may change while copied
                try:
                    registered += list(getattr(aio.tasks, name, ()))
                    break
                except RuntimeError:
                    continue
        candidates = running_loops(aio)
        for task in registered:
            try:
                candidates.append(task.get_loop())
            except Exception:
                pass
        loops: Dict[int, Any] = {}
        for loop in candidates:
            try:
                if loop.is_running():
                    loops[id(loop)] = loop
            except Exception:
                pass
        found["loops"] = list(loops.values())
    return found


def loop_ident(loop: Any) -> Optional[int]:
    """The ident of the thread running a loop: asyncio's _thread_id, or
    what stackwatch saw when the loop started (uvloop keeps its own out of
    Python's reach); None when not known."""
    ident = getattr(loop, "_thread_id", None)
    if ident is None:
        ident = getattr(loop, "_stackwatch_thread", None)
    return ident


def running_loops(aio: Any) -> List[Any]:
    """The loops whose run_forever() is on a thread's stack, that the
    monitor saw start, or that run in this thread: from 3.14 the C tasks
    are in lists of asyncio's own, not in the sets read above. (Some may
    have stopped: callers ask is_running().)"""
    base = getattr(getattr(aio, "base_events", None), "BaseEventLoop", None)
    func = getattr(base, "run_forever", None)
    codes = set()
    for _ in range(4):  # and the original under the watchdog's wrapper
        codes.add(getattr(func, "__code__", None))
        func = getattr(func, "__wrapped__", None)
    codes.discard(None)
    loops: List[Any] = []
    for frame in sys._current_frames().values() if codes else ():
        while frame is not None:
            if frame.f_code in codes:
                loop = frame.f_locals.get("self")
                if loop is not None:
                    loops.append(loop)
            frame = frame.f_back
    # And the loops seen starting while the monitor ran, and this thread's:
    # a loop whose run_forever is not Python's (uvloop's) has no frame.
    for ref in list(S.started.values()):
        loop = ref()
        if loop is not None:
            loops.append(loop)
    try:
        loop = aio.events._get_running_loop()
        if loop is not None:
            loops.append(loop)
    except Exception:
        pass
    return loops


def _cookie(line: bytes) -> Optional[str]:
    """The encoding a PEP 263 comment on this line names, or None: a
    comment (only blanks before its #) holding "coding:" or "coding="
    and a name of ASCII letters, digits, "-", "_" and "." (the first
    such)."""
    text = line.lstrip(b" \t\f")
    if not text.startswith(b"#"):
        return None
    at = text.find(b"coding")
    while at >= 0:
        rest = text[at + 6:]
        if rest[:1] in (b":", b"="):
            name = rest[1:].lstrip(b" \t")
            end = 0
            while end < len(name) and (name[end:end + 1].isalnum()
                                       or name[end:end + 1] in b"-_."):
                end += 1
            if end:
                return name[:end].decode("ascii")
        at = text.find(b"coding", at + 1)
    return None


def _codec(cookie: str) -> Optional[str]:
    """The codec to decode a file whose cookie names `cookie` with (as
    tokenize names it), or None when that would import: the codecs that
    str decodes itself (UTF-8, Latin-1, ASCII), or one whose module of the
    encodings package is loaded (a file with that cookie compiled from
    source, not read from its .pyc, loaded it)."""
    name = cookie.lower().replace("-", "_").replace(" ", "_")
    if name in ("utf_8", "utf8") or name.startswith("utf_8_"):
        return "utf-8"
    if name in ("latin_1", "latin1", "iso_8859_1", "iso8859_1", "l1",
                "iso_latin_1") or name.startswith(
                    ("latin_1_", "iso_8859_1_", "iso_latin_1_")):
        return "latin-1"
    if name in ("ascii", "us_ascii"):
        return "ascii"
    encodings = sys.modules.get("encodings")
    aliases = getattr(getattr(encodings, "aliases", None), "aliases", {})
    if "encodings." + aliases.get(name, name) in sys.modules:
        return cookie
    return None


def read_source(filename: str) -> Optional[List[str]]:
    """The lines of a source file, decoded as Python reads it (a UTF-8
    BOM, else a PEP 263 cookie on line 1 or 2, else UTF-8; lines end at
    \\n, \\r\\n or \\r), or None. Never imports (our threads call it),
    so linecache, which loads tokenize and re, is not used: the file is
    found as linecache finds it (as named, or a relative name under a
    sys.path entry); None for a pseudo-file ("<string>"), an unreadable
    file, or a cookie whose codec is not loaded."""
    if not filename or (filename.startswith("<")
                        and filename.endswith(">")):
        return None
    candidates = [filename]
    if not os.path.isabs(filename):
        candidates += [os.path.join(d, filename) for d in sys.path
                       if isinstance(d, str)]
    data = None
    for path in candidates:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue  # (a FIFO would block)
            with open(path, "rb") as f:
                data = f.read()
            break
        except (OSError, ValueError):
            continue
    if data is None:
        return None
    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    else:
        first, _, rest = data.partition(b"\n")
        found = _cookie(first)
        blank = first.lstrip(b" \t\f")
        if found is None and (blank in (b"", b"\r") or
                              blank.startswith(b"#")):
            found = _cookie(rest.partition(b"\n")[0])
        if found is not None:
            codec = _codec(found)
            if codec is None:
                return None
            encoding = codec
    try:
        text = data.decode(encoding, "replace")
    except LookupError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class SourceLines:
    """Source lines by file and line number, each file read once (one
    dump's worth). The lines the program gave linecache (doctest, IPython
    cells) are used as they are when linecache is loaded; nothing of it is
    called (its lazy entries would import)."""

    def __init__(self) -> None:
        self._files: Dict[str, Optional[List[str]]] = {}

    def line(self, filename: str, lineno: int) -> str:
        """Line `lineno` (1-based) of the file, stripped, or ""."""
        lines = self._files.get(filename, False)
        if lines is False:
            lines = None
            linecache = sys.modules.get("linecache")
            entry = getattr(linecache, "cache", {}).get(filename)
            if isinstance(entry, tuple) and len(entry) == 4 and \
                    isinstance(entry[2], list):
                lines = entry[2]
            else:
                lines = read_source(filename)
            self._files[filename] = lines
        if lines is None or not 1 <= lineno <= len(lines):
            return ""
        line = lines[lineno - 1]
        return line.strip() if isinstance(line, str) else ""


def code_name(code: Any) -> str:
    return getattr(code, "co_qualname", None) or code.co_name


class Capture:
    """Turns frames into :class:`Frame` lists with the tree's settings."""

    def __init__(self, with_locals: bool, limit: Optional[int],
                 patterns: Sequence[str], limits: Limits) -> None:
        self.with_locals = with_locals
        self.limit = limit if limit is not None and limit > 0 else 1000
        self.patterns = patterns
        self.limits = limits
        # The runner's own frames, when it runs the target (it is imported
        # only on the paths that run one: never import it here).
        runner = sys.modules.get("stackwatch._runner")
        self.roots = set(runner.root_codes()) if runner is not None else set()
        self.source = SourceLines()

    def stack(self, frame: Any, with_locals: bool = True) -> List[Frame]:
        """The frames from `frame` outwards (innermost first), down to
        the target's own when stackwatch runs it (not stackwatch's)."""
        out: List[Frame] = []
        while frame is not None and len(out) < self.limit and \
                frame.f_code not in self.roots:
            out.append(self.frame(frame, with_locals))
            frame = frame.f_back
        return out

    def frame(self, frame: Any, with_locals: bool = True) -> Frame:
        code = frame.f_code
        lineno = frame.f_lineno or 0
        line = self.source.line(code.co_filename, lineno)
        args = locs = None
        if self.with_locals and with_locals:
            args, locs = self.variables(frame, code)
        return Frame(code_name(code), code.co_filename, lineno, line, args,
                     locs)

    def variables(self, frame: Any, code: Any
                  ) -> Tuple[List[str], Dict[str, str]]:
        nargs = code.co_argcount + code.co_kwonlyargcount
        flags = code.co_flags
        nargs += bool(flags & 0x04) + bool(flags & 0x08)  # *args, **kwargs
        args = list(code.co_varnames[:nargs])
        try:
            items = list(frame.f_locals.items())
        except Exception as e:
            return args, {"<locals>": "<unavailable: %s>" % type(e).__name__}
        module_level = code.co_name == "<module>"
        shown: Dict[str, str] = {}
        skipped = 0
        for name, value in items:
            if module_level and (name.startswith("__") or
                                 type(value).__name__ == "module"):
                continue  # the module's globals: imports and dunders
            if len(shown) >= self.limits.locals:
                skipped += 1
                continue
            if hides(name, value, self.patterns):
                shown[name] = REDACTED
            else:
                shown[name] = safe_repr(value, self.limits, self.patterns)
        if skipped:
            shown["..."] = "<%d more variables>" % skipped
        return args, shown

    def repr(self, value: Any) -> str:
        return safe_repr(value, self.limits, self.patterns)

    def dict_repr(self, d: Any) -> Dict[str, str]:
        out: Dict[str, str] = {}
        try:
            items = list(d.items())
        except Exception as e:
            return {"<dict>": "<unavailable: %s>" % type(e).__name__}
        for k, v in items[:self.limits.locals]:
            key = k if isinstance(k, str) else safe_repr(k, self.limits)
            out[key] = REDACTED if hides(k, v, self.patterns) \
                else self.repr(v)
        return out
