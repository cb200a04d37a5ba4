"""Run info as text: the thread stacks, then the greenlet tree and the
task tree drawn with ``+--`` branches (``str(RunTree)``)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs too much on the dump autostart path
    from typing import List, Optional

from stackwatch import _native
from stackwatch._frame import Frame, ensure_prefixes
from stackwatch._node import Node

if TYPE_CHECKING:
    from stackwatch.runinfo import RunTree


class Formatter:
    def __init__(self, tree: "RunTree", full_paths: bool = False) -> None:
        self.tree = tree
        self.lines: List[str] = []
        self.short = not full_paths
        if self.short:
            ensure_prefixes()

    def text(self, title: Optional[str]) -> str:
        t = self.tree
        out = self.lines
        if title:
            out.append(title)
        if t.threads:
            out.append("Threads (%d), most recent call first:" %
                       len(t.threads))
            for n in t.threads:
                self.thread(n)
        if t.greenlets:
            out.append("")
            out.append("Greenlets, as a tree by spawner:")
            for n in t.greenlets:
                self.node(n, 1)
        if t.tasks:
            out.append("")
            out.append("asyncio tasks, as a tree of which task awaits "
                       "which:")
            for n in t.tasks:
                self.node(n, 1)
        for note in t.notes:
            out.append("")
            out.append("Note: " + note)
        return "\n".join(out) + "\n"

    def thread(self, n: Node) -> None:
        bits = ["ident %#x" % n.info["ident"]]
        if n.info.get("native_id"):
            bits.append("native id %d" % n.info["native_id"])
        if n.info.get("daemon"):
            bits.append("daemon")
        if n.info.get("held_gil"):
            bits.append("held the GIL")
        self.lines.append("")
        self.lines.append("Thread %s (%s)" % (n.name, ", ".join(bits)))
        self.stack(n.stack, "    ")

    def stack(self, frames: List[Frame], pad: str) -> None:
        if not frames:
            self.lines.append(pad + "(no Python frames)")
        for f in frames:
            self.lines.append(pad + _native.format_frame(
                f.name, f.filename, f.lineno, traceback=True,
                short=self.short))
            if f.line:
                self.lines.append(pad + "    " + f.line)
            if f.locals is not None:
                args = ", ".join("%s=%s" % (a, f.locals.get(a, "?"))
                                 for a in (f.args or []))
                self.lines.append(pad + "    Arguments: %s(%s)"
                                  % (f.name.rsplit(".", 1)[-1], args))
                rest = [(k, v) for k, v in f.locals.items()
                        if k not in (f.args or [])]
                if rest:
                    self.lines.append(pad + "    Local variables:")
                    for k, v in rest:
                        self.lines.append(pad + "        %s = %s" % (k, v))

    def node(self, n: Node, depth: int) -> None:
        pad = "    " * (depth - 1)
        head = pad + "+-- "
        body = pad + "|   "
        label = "%s %s: %s" % ("Task" if n.kind == "task" else
                               "loop" if n.kind == "loop" else "", n.name,
                               n.state)
        label = label.strip()
        extra = []
        i = n.info
        if n.kind == "loop" and i.get("thread"):
            extra.append("in thread %s" % i["thread"])
        if i.get("minimal_ident") is not None:
            extra.append("minimal_ident %s" % i["minimal_ident"])
        if i.get("starts_in") is not None:
            extra.append("starts in %.1f s" % i["starts_in"])
        elif i.get("start") == "timer":
            extra.append("starts on a timer")
        elif i.get("start") == "callback":
            extra.append("starts at the hub's next loop iteration")
        if i.get("coroutine"):
            extra.append("coroutine %s" % i["coroutine"])
        if i.get("function"):
            extra.append("runs %s" % i["function"])
        if extra:
            label += " (%s)" % ", ".join(extra)
        self.lines.append(head + label)
        if i.get("exception"):
            self.lines.append(body + "Died with exception: " + i["exception"])
        if i.get("value"):
            self.lines.append(body + "Finished with value: " + i["value"])
        if i.get("awaiting") and n.state == "pending":
            self.lines.append(body + "Awaiting: " + i["awaiting"])
        if n.stack:
            self.lines.append(body + ("Running:" if n.state == "running"
                                      else "Stack:"))
            self.stack(n.stack, body + "  ")
        elif n.state == "running" and n.kind == "greenlet":
            self.lines.append(body + "Running: its thread's stack above")
        if i.get("spawning_stack"):
            self.lines.append(body + "Spawned at:")
            self.stack(i["spawning_stack"], body + "  ")
        if i.get("spawn_tree_locals"):
            self.lines.append(body + "Spawn tree locals:")
            for k, v in i["spawn_tree_locals"].items():
                self.lines.append(body + "    %s = %s" % (k, v))
        for where, values in (i.get("local_dicts") or {}).items():
            self.lines.append(body + "Local %s:" % where)
            for k, v in values.items():
                self.lines.append(body + "    %s = %s" % (k, v))
        for c in n.children:
            self.node(c, depth + 1)
