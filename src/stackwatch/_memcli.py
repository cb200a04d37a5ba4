"""``stackwatch mem``: the memory profiler's subcommands.

Each subcommand lives in a module of its own, named in COMMANDS; the
module has ``configure(parser)`` (its arguments and help, on the
subparser made for it) and ``main(ns, target_args) -> int``. Adding a
subcommand is one line in COMMANDS. ``record`` runs a target: the words
from the target on (script or -m module, then the target's arguments)
are cut off before argparse sees them (``split``).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import List, Optional, Sequence, Tuple

#: name -> (module, one-line help)
COMMANDS = {
    "record": ("stackwatch._memrecord",
               "run a script or module under the memory profiler"),
}
#: The readers of a profile directory, all in stackwatch._memview (its
#: add_parsers and main).
READERS = ("graph", "peaks", "report")


def add_group(sub: "argparse._SubParsersAction", parser_class: type) -> None:
    """Adds ``mem`` and its subcommands to the top-level subparsers."""
    m = sub.add_parser(
        "mem", help="the memory profiler: record per-thread memory",
        description="The memory profiler: record per-thread memory over "
                    "time (docs/memory-format.md), then chart it, find its "
                    "peaks, write a report page.")
    msub = m.add_subparsers(dest="mem_command", metavar="SUBCOMMAND",
                            parser_class=parser_class)
    for name, (module, text) in COMMANDS.items():
        p = msub.add_parser(name, help=text)
        importlib.import_module(module).configure(p)
    importlib.import_module("stackwatch._memview").add_parsers(msub)


def split(module: str, args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The subcommand's own words and the target's (for subcommands that
    run a target: their module has VALUE_OPTIONS)."""
    mod = importlib.import_module(module)
    value_opts = getattr(mod, "VALUE_OPTIONS", None)
    args = list(args)
    if value_opts is None:
        return args, []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[:i], args[i + 1:]
        if a == "-m":
            return args[:i + 2], args[i + 2:]
        if a in value_opts:
            i += 2
            continue
        if a.startswith("-") and a != "-":
            i += 1
            continue
        return args[:i + 1], args[i + 1:]
    return args, []


def main(argv: Sequence[str], build_parser) -> int:
    """``stackwatch mem ...`` (argv: the words after ``mem``)."""
    argv = list(argv)
    rest: List[str] = []
    if argv and argv[0] in COMMANDS:
        own, rest = split(COMMANDS[argv[0]][0], argv[1:])
        # The target word after "--", so that argparse never takes it for
        # an option's value.
        if own and not own[-1].startswith("-") and own[-2:-1] != ["-m"]:
            mod = importlib.import_module(COMMANDS[argv[0]][0])
            if getattr(mod, "VALUE_OPTIONS", None) is not None and (
                    len(own) < 2 or own[-2] not in mod.VALUE_OPTIONS):
                own = own[:-1] + ["--", own[-1]]
        argv = [argv[0]] + own
    parser = build_parser()
    ns = parser.parse_args(["mem"] + argv)
    if ns.mem_command is None:
        from stackwatch import cli
        cli.fail("no subcommand: give %s" % ", ".join(
            list(COMMANDS) + list(READERS)), "%s mem" % cli.PROG)
    if ns.mem_command in READERS:
        return importlib.import_module("stackwatch._memview").main(ns)
    module = importlib.import_module(COMMANDS[ns.mem_command][0])
    return module.main(ns, rest)
