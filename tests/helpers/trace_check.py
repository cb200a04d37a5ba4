"""Reading a Chrome trace-event file the way a viewer does, for the
tracer's tests: B/E events paired per track into slices, with the checks
every trace must pass (balanced, monotonic per track)."""

import gzip
import json
from typing import Any, Dict, List, Optional


class Slice:
    def __init__(self, name: str, args: Dict[str, Any], start: float,
                 depth: int, parent: "Optional[Slice]") -> None:
        self.name = name
        self.args = args
        self.start = start
        self.end: Optional[float] = None
        self.depth = depth
        self.parent = parent
        self.children: List["Slice"] = []

    @property
    def file(self) -> str:
        return self.args.get("file", "")


def load(path: str) -> Dict[str, Any]:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)


def tracks(doc: Dict[str, Any], pid: Optional[int] = None
           ) -> Dict[int, List[Slice]]:
    """{tid: root slices} (of process pid's tracks; of every track when
    None, for one process's trace), after checking that every track's
    B/E events balance and its timestamps never go back (AssertionError
    if not)."""
    roots: Dict[int, List[Slice]] = {}
    open_: Dict[int, List[Slice]] = {}
    last: Dict[int, float] = {}
    for ev in doc["traceEvents"]:
        ph = ev["ph"]
        if ph in ("M", "X"):  # X: complete events, in any order
            continue
        if pid is not None and ev["pid"] != pid:
            continue
        tid = ev["tid"]
        ts = ev["ts"]
        assert ts >= last.get(tid, 0.0), ("time goes back on track", tid, ev)
        last[tid] = ts
        stack = open_.setdefault(tid, [])
        if ph == "B":
            s = Slice(ev["name"], ev.get("args", {}), ts, len(stack),
                      stack[-1] if stack else None)
            (stack[-1].children if stack else roots.setdefault(tid, [])
             ).append(s)
            stack.append(s)
        elif ph == "E":
            assert stack, ("E without B on track", tid, ev)
            stack.pop().end = ts
    for tid, stack in open_.items():
        assert not stack, ("slices left open on track", tid,
                           [s.name for s in stack])
    return roots


def complete(doc: Dict[str, Any], cat: str) -> List[Dict[str, Any]]:
    """The complete ("X") events of category cat."""
    return [ev for ev in doc["traceEvents"]
            if ev["ph"] == "X" and ev.get("cat") == cat]


def thread_names(doc: Dict[str, Any], pid: Optional[int] = None
                 ) -> Dict[int, str]:
    return {ev["tid"]: ev["args"]["name"] for ev in doc["traceEvents"]
            if ev["ph"] == "M" and ev["name"] == "thread_name" and
            (pid is None or ev["pid"] == pid)}


def process_names(doc: Dict[str, Any]) -> Dict[int, str]:
    """{pid: process name} of the trace's processes."""
    return {ev["pid"]: ev["args"]["name"] for ev in doc["traceEvents"]
            if ev["ph"] == "M" and ev["name"] == "process_name"}


def outline(slices: List[Slice], file_suffix: str, indent: int = 0
            ) -> List[str]:
    """The slices of code in files ending with file_suffix as an indented
    outline ("name" per line, two spaces a level); slices of other files
    are left out and their children lifted."""
    out: List[str] = []
    for s in slices:
        if s.file.endswith(file_suffix):
            out.append("  " * indent + s.name)
            out.extend(outline(s.children, file_suffix, indent + 1))
        else:
            out.extend(outline(s.children, file_suffix, indent))
    return out


def all_slices(slices: List[Slice]) -> List[Slice]:
    out: List[Slice] = []
    for s in slices:
        out.append(s)
        out.extend(all_slices(s.children))
    return out


def _ns_exact(text: str) -> int:
    from decimal import Decimal

    return int(Decimal(text) * 1000)


def _ns_rounded(text: str) -> int:
    # Perfetto's trace processor: llround(us * 1000.0).
    return round(float(text) * 1000.0)


def overlaps(path: str) -> List[str]:
    """Every slice of the trace at path (B/E pairs and complete "X"
    events) that overlaps another on its track without nesting, as
    "track: text" lines ([] when every track nests). Checked with the
    exact timestamps and as Perfetto's trace processor converts them
    (microseconds as a double times 1000, rounded: a complete event's end
    is then ts + dur, each converted on its own)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    # Timestamps as their text: each conversion its own way.
    events = json.loads(data, parse_float=str, parse_int=str)["traceEvents"]
    problems: List[str] = []
    for conv in (_ns_exact, _ns_rounded):
        # Per track: (start, end, order in the file, name).
        slices: Dict[Any, List[Any]] = {}
        open_: Dict[Any, List[Any]] = {}
        for i, ev in enumerate(events):
            key = (ev.get("pid"), ev.get("tid"))
            if ev["ph"] == "B":
                open_.setdefault(key, []).append((conv(ev["ts"]), i,
                                                  ev.get("name")))
            elif ev["ph"] == "E":
                start, order, name = open_[key].pop()
                slices.setdefault(key, []).append(
                    (start, conv(ev["ts"]), order, name))
            elif ev["ph"] == "X":
                start = conv(ev["ts"])
                slices.setdefault(key, []).append(
                    (start, start + conv(ev["dur"]), i, ev.get("name")))
        for key, items in slices.items():
            # A viewer's order: by start, then as in the file.
            stack: List[Any] = []
            for s in sorted(items, key=lambda s: (s[0], s[2])):
                while stack and stack[-1][1] <= s[0]:
                    stack.pop()
                if s[1] < s[0]:
                    problems.append("%s (%s): %r ends before it starts"
                                    % (key[1], conv.__name__, s))
                elif stack and s[1] > stack[-1][1]:
                    problems.append("%s (%s): %r overlaps %r"
                                    % (key[1], conv.__name__, s, stack[-1]))
                    continue
                stack.append(s)
    return problems
