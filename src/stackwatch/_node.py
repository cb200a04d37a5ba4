"""Run info's data model: a :class:`Node` is a thread, greenlet, asyncio
loop or task, with its stack (:class:`stackwatch.Frame` objects) and its
children. :class:`stackwatch.runinfo.RunTree` holds the roots.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs too much on the dump autostart path
    from typing import Any, Dict, Iterator, List, Optional

from stackwatch._frame import Frame


class Node:
    """A thread, greenlet, asyncio loop or task. `kind` is "thread",
    "greenlet", "loop" or "task"; `state` says what it does ("running",
    "suspended", "pending", "dead", "failed", ...); `stack` its frames,
    innermost first; `children` what it spawned (greenlets) or awaits
    (tasks); `info` the rest (ident, native id, minimal_ident, spawning
    stack, spawn-tree locals, local dicts, exception, ...)."""

    __slots__ = ("kind", "id", "name", "state", "stack", "children", "info")

    def __init__(self, kind: str, id: Any, name: str, state: str = "",
                 stack: Optional[List[Frame]] = None,
                 info: Optional[Dict[str, Any]] = None) -> None:
        self.kind = kind
        self.id = id
        self.name = name
        self.state = state
        self.stack = stack or []
        self.children: List["Node"] = []
        self.info = info or {}

    def walk(self) -> Iterator["Node"]:
        """This node and every node under it, depth first."""
        todo = [self]
        while todo:
            node = todo.pop()
            yield node
            todo.extend(reversed(node.children))

    def to_dict(self) -> Dict[str, Any]:
        info = {}
        for k, v in self.info.items():
            if isinstance(v, list) and v and isinstance(v[0], Frame):
                v = [f.to_dict() for f in v]
            info[k] = v
        return {"kind": self.kind, "id": self.id, "name": self.name,
                "state": self.state, "info": info,
                "stack": [f.to_dict() for f in self.stack],
                "children": [c.to_dict() for c in self.children]}

    def __repr__(self) -> str:
        return "<%s %s %r (%s)>" % (self.kind, self.id, self.name,
                                    self.state)
