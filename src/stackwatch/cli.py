"""The command line: ``stackwatch`` and ``python -m stackwatch``.

Exit status: 0 on success; 1 when stackwatch itself fails while working
(an output that cannot be written at the end, a dump that gets no answer,
a process that does not exist); 2 for bad input, checked before anything
runs (an unknown option, format or output extension; a value of any
option that is not a number, out of range, 0 where it must be positive; a
malformed PID; a missing script or module; an unwritable output path),
on one line naming the option. ``record`` and ``run`` otherwise exit with
the target's own status, as ``python`` would. Every error is one line on
stderr.
"""

from __future__ import annotations

import atexit
import os
import _signal as signal  # (the signal module loads enum: start-up time)
import sys
import threading
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import (Any, Callable, Dict, List, NoReturn, Optional,
                        Sequence, Tuple)

    from stackwatch import profiler

import stackwatch
from stackwatch import _config, _frame, _native, _output, _runner, dumping

PROG = "stackwatch"

#: (math.isfinite without loading math: start-up time.)
_INF = float("inf")


def _parser_class() -> type:
    """An ArgumentParser whose errors are one line (argparse is imported
    only when a parser is built: see _quick_parse)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            fail(message, self.prog, status=2,
                 hint="see '%s --help'" % self.prog)

    return _Parser


def fail(message: str, prog: str = PROG, status: int = 2,
         hint: Optional[str] = None) -> NoReturn:
    text = "%s: error: %s" % (prog, message)
    if hint:
        text += " (%s)" % hint
    sys.stderr.write(text + "\n")
    sys.exit(status)


def note(message: str) -> None:
    sys.stderr.write("[stackwatch] %s\n" % message)


def _type_error(message: str) -> Exception:
    """argparse's ArgumentTypeError (argparse is imported only on this
    path, or when a parser is built)."""
    import argparse

    return argparse.ArgumentTypeError(message)


def _is_type_error(e: BaseException) -> bool:
    argparse = sys.modules.get("argparse")
    return argparse is not None and isinstance(e, argparse.ArgumentTypeError)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _type_error("not a number: %r" % text) from None
    if not -_INF < value < _INF:  # (neither infinite nor NaN)
        raise _type_error("not a finite number: %r" % text)
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise _type_error("must be more than 0, not %s" % text)
    if value > threading.TIMEOUT_MAX:
        raise _type_error("too large: %s" % text)
    return value


#: The largest process id Linux can give (PID_MAX_LIMIT on 64-bit).
PID_MAX = 1 << 22


def _pid(text: str) -> int:
    try:
        pid = int(text)
    except ValueError:
        pid = 0
    if not 0 < pid <= PID_MAX:
        raise _type_error(
            "not a process id: %r (a number from 1 to %d)" % (text, PID_MAX))
    return pid


def _off(text: Optional[str]) -> bool:
    """Whether an option's value is a word that turns it off ("off",
    "none", ...). A number never is: 0 is refused like any value out of
    range, never read as "off"."""
    if text is None:
        return False
    word = text.strip().lower()
    return word in _config.OFF and word != "0"


def _option(prog: str, option: str, check, *args, hint: str = ""):
    """check(*args), or exit 2 with one line naming the option (a message
    that names a STACKWATCH_* variable, whose value was wrong, as is)."""
    try:
        return check(*args)
    except Exception as e:
        if not isinstance(e, ValueError) and not _is_type_error(e):
            raise
        msg = str(e)
        if not msg.startswith(("STACKWATCH_", option)):
            msg = ("%s: %s" if option.startswith("STACKWATCH_") else
                   "argument %s: %s") % (option, msg)
        fail(msg + hint, prog)


def _path_option(prog: str, option: str, path: Optional[str]) -> None:
    if path is not None and not path.strip():
        fail("argument %s: an empty path" % option, prog)


def _arg(*flags: str, **kw: Any) -> Tuple[Tuple[str, ...], Dict[str, Any]]:
    return flags, kw


#: For argparse.BooleanOptionalAction (--x and --no-x) in the tables below.
_BOOLEAN_OPTIONAL = "boolean optional"


class _ProfilerChoices:
    """The choices of an option of `record`: the names of a table of
    stackwatch.profiler, read when first asked for (only `record` loads
    the profiler: `run` starts without it)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _names(self) -> Tuple[str, ...]:
        from stackwatch import profiler

        return tuple(getattr(profiler, self.table))

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Any:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

#: The options of `record` and of `run`, as add_argument()'s arguments:
#: build_parser() adds them to the parser, _quick_parse() parses them
#: without argparse.
_RECORD_ARGS = [
    _arg("-o", "--output", metavar="OUT",
         help="output file ('-' for stdout; default: "
              "stackwatch-<target>-<date>.<ext> here)"),
    _arg("-f", "--format", choices=_ProfilerChoices("FORMATS"),
         help="speedscope, collapsed (folded stacks), svg or pprof "
              "(default: from the output's extension: .json, "
              ".txt, .svg, .pprof or .pb.gz; svg when it has none; "
              "another extension needs -f)"),
    _arg("-r", "--rate", type=_number, default=100.0,
         help="samples per second, 1-1000 (default 100)"),
    _arg("-d", "--duration", type=_positive, metavar="SECONDS",
         help="stop sampling and write the profile after SECONDS "
              "(the target keeps running)"),
    _arg("--mode", choices=_ProfilerChoices("MODES"),
         help="wall: every thread at every tick, idle ones "
              "included (default); cpu: threads that used CPU; "
              "gil: the GIL holder"),
    _arg("--idle", dest="idle", action="store_true", default=None,
         group="idle",
         help="py-spy's spelling of --mode wall (our default: "
              "idle threads are sampled too)"),
    _arg("--no-idle", dest="idle", action="store_false", group="idle",
         help="py-spy's default, our --mode cpu: only threads "
              "that run (with --mode gil: the GIL holder)"),
    _arg("--function", action="store_true",
         help="merge the lines of each function: frames show "
              "the function's first line (as py-spy --function)"),
    _arg("--nolineno", action="store_true",
         help="no line numbers in frame labels (the lines of a "
              "function merge; as py-spy --nolineno)"),
    _arg("--threads", action="store_true",
         help="split the profile by thread"),
    _arg("--greenlets", nargs="?", const="grouped", default=False,
         metavar="each",
         help="track greenlets and split the profile by what "
              "they run: one group per function ('greenlets "
              "running handle (x50)'); --greenlets=each: one "
              "per greenlet"),
    _arg("--tasks", nargs="?", const="running",
         choices=("running", "all", "each", "all,each"),
         metavar="all|each|all,each",
         help="attribute each sample of a thread running an "
              "asyncio loop to the running task, under the tasks "
              "awaiting it; tasks asyncio named (Task-N) are grouped "
              "by their coroutine ('[task] handle'), 'each' gives "
              "every task its own ('[task] Task-7: handle'); 'all' "
              "also counts every waiting task where it is suspended"),
    _arg("--budget", type=_number, metavar="FRACTION",
         help="the share of one core the sampler may use "
              "(e.g. 0.01); lowers the rate when needed"),
    _arg("--pid", type=_pid, metavar="PID",
         help="profile running process PID instead of a script: if it "
              "has stackwatch enabled (as for `stackwatch dump`), it "
              "samples itself for --duration seconds (default: until "
              "Ctrl-C) and sends the profile back; if not, it is read "
              "from outside where the system allows it (as dump)"),
    _arg("--subprocesses", action="store_true",
         help="also every Python process the script starts (subprocesses, "
              "forks, multiprocessing): one profile, a root frame per "
              "process (as `record -- COMMAND`)"),
    _arg("--per-process", action="store_true",
         help="with --subprocesses or -- COMMAND: one file per process "
              "(OUT.<pid>.ext) instead of one profile"),
    _arg("--outside", action="store_true",
         help="with --pid: read the process from outside "
              "(process_vm_readv) even if it enabled stackwatch"),
]

_RUN_ARGS = [
    _arg("--max-blocking-time", metavar="S",
         help="seconds a loop may block before it is reported "
              "(default 0.1; 'off' to watch memory only)"),
    _arg("--max-memory", metavar="SIZE",
         help="report when the RSS goes above SIZE (bytes, or "
              "500MB, 2GiB...)"),
    _arg("--memory-period", metavar="S",
         help="seconds between memory checks (default 5)"),
    _arg("--report", metavar="PATH",
         help="append reports to PATH (created 0600) instead of "
              "stderr"),
    _arg("--format-run-info", action="store_true",
         help="after a stall report, also write every thread's "
              "stack, the greenlet and asyncio task trees, once "
              "the GIL is free"),
    _arg("--logging", action="store_true",
         help="also send reports to the 'stackwatch' logger"),
    _arg("--no-asyncio", action="store_true",
         help="do not watch asyncio loops automatically"),
    _arg("--interval", metavar="S",
         help="seconds between slow-script log snapshots "
              "(default 5, or STACKWATCH_INTERVAL; 'off' for no "
              "log)"),
    _arg("--log", metavar="PATH",
         help="append the snapshots to PATH (created 0600; "
              "default: a new private temporary file, removed "
              "at exit if empty)"),
    _arg("--log-max", metavar="SIZE",
         help="cap the log at SIZE (bytes, or 512K, 10M...; "
              "default 10M; 0 or off: no cap): a snapshot that "
              "would pass it first renames the log to PATH.1, "
              "replacing an older one, and starts a new log"),
    _arg("--locals", action=_BOOLEAN_OPTIONAL,
         default=True,
         help="show every frame's arguments and local variables "
              "in the log (default; --no-locals: stacks only)"),
    _arg("--gil-wait", metavar="S",
         help="seconds a snapshot waits for the GIL before it "
              "gives the stacks without locals (default 1)"),
]

#: The options of `trace`.
_TRACE_ARGS = [
    _arg("-o", "--output", metavar="OUT",
         help="output file: Chrome trace-event JSON, gzipped when it "
              "ends in .gz ('-' for stdout; default: "
              "stackwatch-trace-<target>-<date>.json here)"),
    _arg("-f", "--format", choices=("chrome", "speedscope"),
         default="chrome",
         help="chrome: trace-event JSON for Perfetto and chrome://tracing "
              "(default); speedscope: its evented format, one profile "
              "per track"),
    _arg("--include", action="append", default=[], metavar="PREFIX",
         help="trace only code under this path or module/package name "
              "(repeatable)"),
    _arg("--exclude", action="append", default=[], metavar="PREFIX",
         help="do not trace code under this path or module/package "
              "name (repeatable); it runs at nearly full speed"),
    _arg("--greenlets", action="store_true",
         help="one track per greenlet: its calls stay open while it is "
              "switched out (gevent greenlets named by name and "
              "function)"),
    _arg("--function", action="append", default=[],
         metavar="MODULE:QUALNAME",
         help="trace only while this function runs in a thread "
              "(repeatable; with the @stackwatch.trace.traced ones)"),
    _arg("--scoped", action="store_true",
         help="trace only while a @stackwatch.trace.traced function runs "
              "in a thread"),
    _arg("--asyncio", action="store_true",
         help="one track per asyncio task: its coroutines' steps move "
              "from the loop's thread to the task's track"),
    _arg("--c-calls", action="store_true",
         help="C functions and builtins (len, time.sleep, list.append...) "
              "are slices too"),
    _arg("--memory", nargs="?", const="0.01", metavar="SECONDS",
         help="counter tracks of the process's RSS and each thread's "
              "live bytes (the memory profiler's counters), sampled "
              "every SECONDS (default 0.01)"),
    _arg("--monitor", action="store_true",
         help="start the watchdog (its defaults, as STACKWATCH_MONITOR=1:"
              " STACKWATCH_MAX_BLOCKING_TIME...): gevent hub, asyncio "
              "loop and deadline stalls become slices on the stalled "
              "tracks"),
    _arg("--ring", type=_positive, metavar="SECONDS",
         help="keep the last SECONDS before the end instead of the first "
              "events that fit the buffer"),
    _arg("--max-depth", type=int, metavar="N",
         help="record calls at most N deep (counting traced frames)"),
    _arg("--buffer", metavar="SIZE",
         help="bound on the trace buffers (default 256MiB; 512M, 1GiB...):"
              " later events are dropped and counted"),
]

#: The options shared by the commands that run a target (then the
#: target, an optional positional argument).
_TARGET_ARGS = [
    _arg("--full-paths", action="store_true",
         help="show files by their full paths (default: without "
              "the sys.path entry they are under)"),
    _arg("--signal", metavar="SIG",
         help="signal for `stackwatch dump` (default SIGRTMIN+6)"),
    _arg("-m", dest="module", metavar="module",
         help="run a library module as a script"),
    _arg("--http", metavar="ADDR",
         help="serve the HTTP endpoint (/threads, /metrics) on ADDR: "
              "HOST:PORT or unix:/path; not loopback only with "
              "STACKWATCH_HTTP_TOKEN set"),
]

_TOP_ARGS = [
    _arg("-r", "--rate", type=_number, default=100.0,
         help="samples per second, 1-1000 (default 100)"),
    _arg("-i", "--interval", type=_positive, default=1.0, metavar="S",
         help="seconds between refreshes (default 1)"),
    _arg("-w", "--window", type=_positive, default=10.0, metavar="S",
         help="the functions' shares are over the last S seconds "
              "(default 10)"),
    _arg("-n", "--rows", type=_positive, default=20, metavar="N",
         help="functions per snapshot when the output is not a terminal "
              "(default 20)"),
    _arg("-d", "--duration", type=_positive, metavar="SECONDS",
         help="stop after SECONDS (default: until q or Ctrl-C)"),
    _arg("--mode", choices=_ProfilerChoices("MODES"),
         help="wall (default), cpu or gil, as for record"),
    _arg("--outside", action="store_true",
         help="with a PID: read the process from outside "
              "(process_vm_readv) even if it enabled stackwatch"),
]

_ARGS = {"record": _RECORD_ARGS + _TARGET_ARGS,
         "run": _RUN_ARGS + _TARGET_ARGS,
         "top": _TOP_ARGS + _TARGET_ARGS,
         "trace": _TRACE_ARGS + _TARGET_ARGS}

#: Options that take a value, per command (to find where the target
#: starts).
_VALUE_OPTS = {command: {flag for flags, kw in args
                         if kw.get("action") in (None, "append")
                         and "nargs" not in kw
                         for flag in flags}
               for command, args in _ARGS.items()}


# Options whose value may be left out: (command, option) -> its values
# (split_target joins "--tasks all" into one word).
_OPTIONAL_VALUE_OPTS = {("record", "--tasks"): ("running", "all", "each",
                                                 "all,each")}


def _add_args(p: argparse.ArgumentParser, command: str) -> None:
    import argparse

    groups: Dict[str, Any] = {}
    for flags, kw in _ARGS[command]:
        if kw.get("action") == _BOOLEAN_OPTIONAL:
            kw = dict(kw, action=argparse.BooleanOptionalAction)
        where = p
        if "group" in kw:
            kw = dict(kw)
            name = kw.pop("group")
            if name not in groups:
                groups[name] = p.add_mutually_exclusive_group()
            where = groups[name]
        where.add_argument(*flags, **kw)
    p.add_argument("target", nargs="?", metavar="script.py",
                   help="the script to run")


def build_parser() -> argparse.ArgumentParser:
    _Parser = _parser_class()
    p = _Parser(prog=PROG, description=(
        "A sampling profiler, stack dumper and watchdog for Python "
        "processes. It reads every thread's stack without the GIL."))
    p.add_argument("--version", action="version",
                   version="%s %s" % (PROG, stackwatch.__version__))
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=_Parser)

    r = sub.add_parser(
        "record", help="run a script or module under the sampling profiler",
        description=(
            "Run a script (or -m module) in this interpreter, exactly as "
            "python would, sampling every thread's stack; write the profile "
            "when it ends (or after --duration). Ctrl-C stops the target and "
            "still writes the profile."),
        usage="%(prog)s [options] (script.py [args ...] | -m module "
              "[args ...] | --pid PID | -- COMMAND [args ...])")
    _add_args(r, "record")

    w = sub.add_parser(
        "run", help="run a script or module under the watchdog and the "
                    "slow-script log",
        description=(
            "Run a script (or -m module) in this interpreter, exactly as "
            "python would, with the watchdog on: a gevent hub or asyncio "
            "loop blocked longer than --max-blocking-time is reported at "
            "once, with the blocking stack, even while the blocking code "
            "holds the GIL; memory above --max-memory is reported. Every "
            "--interval seconds a snapshot of every thread, greenlet and "
            "asyncio task (stacks with source lines, then every frame's "
            "arguments and local variables) is appended to the slow-script "
            "log (--log, or a private temporary file). Settings not given "
            "come from STACKWATCH_MAX_BLOCKING_TIME, "
            "STACKWATCH_MAX_MEMORY_USAGE, STACKWATCH_MEMORY_MONITOR_PERIOD "
            "and STACKWATCH_INTERVAL."),
        usage="%(prog)s [options] (script.py [args ...] | -m module "
              "[args ...])")
    _add_args(w, "run")

    t = sub.add_parser(
        "top", help="a live view of where a running process spends its "
                    "time",
        description=(
            "Show, refreshed every second, the functions a process spends "
            "its time in (share of samples over a sliding window: own and "
            "total, with the share taken holding the GIL and the share on "
            "CPU). PID: a running process with stackwatch enabled (as for "
            "dump); or a script (-m module) started here with stackwatch "
            "enabled. Keys: o/t/G/c sort, a all threads, n next thread, g "
            "greenlets, p pause, q quit. To a pipe: a plain snapshot per "
            "interval."),
        usage="%(prog)s [options] (PID | script.py [args ...] | -m module "
              "[args ...])")
    _add_args(t, "top")

    tr = sub.add_parser(
        "trace", help="run a script or module under the tracer",
        description=(
            "Run a script (or -m module) in this interpreter, exactly as "
            "python would, recording every Python function's start and end "
            "in every thread; write the trace (Chrome trace-event JSON, "
            "for the Perfetto UI or chrome://tracing) when it ends. Ctrl-C "
            "stops the target and still writes the trace."),
        usage="%(prog)s [options] (script.py [args ...] | -m module "
              "[args ...])")
    _add_args(tr, "trace")

    d = sub.add_parser(
        "dump", help="print the stacks of a running Python process",
        description=(
            "Print the current stack of every thread of process PID, read "
            "without ptrace by stackwatch inside that process (it must have "
            "called stackwatch.enable_dump(), run with STACKWATCH_DUMP=1, or "
            "been started by stackwatch record). A process that did not "
            "enable stackwatch is read from outside instead, where the "
            "system allows it (same user, or CAP_SYS_PTRACE), without "
            "stopping it (--outside: even one that did). Works while a "
            "thread holds the GIL in a long C call; a line on stderr says "
            "which way the stacks were read."))
    d.add_argument("pid", type=_pid, metavar="PID")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.add_argument("--tree", action="store_true",
                   help="also every descendant of PID that has stackwatch "
                        "enabled (found in /proc), each under a header "
                        "line '== pid N TITLE ==' (--json: a list)")
    d.add_argument("--locals", action="store_true",
                   help="also every frame's arguments and local variables "
                        "(redacted and cut), with greenlets and tasks")
    d.add_argument("--full-paths", action="store_true",
                   help="show files by their full paths (default: without "
                        "the sys.path entry they are under)")
    d.add_argument("--outside", action="store_true",
                   help="read the process from outside (process_vm_readv: "
                        "the same user, or CAP_SYS_PTRACE) even if it "
                        "enabled stackwatch; it is never stopped")
    d.add_argument("--timeout", type=_positive, default=dumping.DEFAULT_TIMEOUT,
                   help="seconds to wait for the answer (default 5)")
    d.add_argument("--signal", metavar="SIG",
                   help="the signal the process answers on, if not the "
                        "default")
    from stackwatch import _memcli
    _memcli.add_group(sub, _Parser)
    return p


def split_target(args: Sequence[str], command: str = "record"
                 ) -> Tuple[List[str], List[str]]:
    """Splits a command's arguments into its own options and the target
    (script or -m module, and the target's arguments)."""
    value_opts = _VALUE_OPTS[command]
    args = list(args)
    i = 0
    while i < len(args):
        a = args[i]
        values = _OPTIONAL_VALUE_OPTS.get((command, a))
        if values is not None:
            # "--tasks all" or a bare "--tasks": one word, so that the
            # script after a bare one is not taken for its value.
            given = i + 1 < len(args) and args[i + 1] in values
            args[i:i + 1 + given] = ["%s=%s" % (a, args[i + 1] if given
                                                else values[0])]
        if a == "--":
            return list(args[:i]), list(args[i + 1:])
        if a == "-m":
            return list(args[:i + 2]), list(args[i + 2:])
        if a in value_opts:
            i += 2
            continue
        if a.startswith("-") and a != "-":
            i += 1
            continue
        return list(args[:i + 1]), list(args[i + 1:])
    return list(args), []


def _dest(flags: Sequence[str], kw: Dict[str, Any]) -> str:
    """The attribute an option sets, named as argparse names it."""
    if "dest" in kw:
        return kw["dest"]
    long = [f for f in flags if f.startswith("--")]
    return (long or list(flags))[0].lstrip("-").replace("-", "_")


def _quick_parse(command: str, args: Sequence[str]
                 ) -> Optional[types.SimpleNamespace]:
    """What argparse makes of `command`'s own arguments (split_target's
    first part), for the plain command lines that it parses the same way
    (options spelt in full, values as separate words, at most one target),
    without importing argparse or building a parser (start-up time);
    None for any other (then argparse parses them, and says what is
    wrong). tests/test_startup.py compares the two."""
    ns: Dict[str, Any] = {"command": command}
    flags_of: Dict[str, Tuple[str, Dict[str, Any], bool]] = {}
    for flags, kw in _ARGS[command]:
        dest = _dest(flags, kw)
        action = kw.get("action")
        # As argparse: the first option of a dest gives its default.
        ns.setdefault(dest, kw.get("default", False if action == "store_true"
                                   else True if action == "store_false"
                                   else None))
        for flag in flags:
            flags_of[flag] = (dest, kw, True)
            if action == _BOOLEAN_OPTIONAL and flag.startswith("--"):
                flags_of["--no-" + flag[2:]] = (dest, kw, False)
    ns["target"] = None
    groups_seen: Dict[str, str] = {}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("-"):
            if ns["target"] is not None:
                return None
            ns["target"] = word
            continue
        if word not in flags_of:
            return None
        dest, kw, on = flags_of[word]
        action = kw.get("action")
        if "group" in kw:
            if groups_seen.setdefault(kw["group"], word) != word:
                return None  # argparse says which two conflict
        if action in ("store_true", _BOOLEAN_OPTIONAL):
            ns[dest] = on
            continue
        if action == "store_false":
            ns[dest] = False
            continue
        if kw.get("nargs") == "?":
            ns[dest] = kw["const"]  # --x=value goes to argparse
            continue
        if action is not None or i == len(args) or (
                args[i].startswith("-") and args[i] != "-"):
            return None
        value: Any = args[i]
        i += 1
        if "type" in kw:
            try:
                value = kw["type"](value)
            except Exception:
                return None
        if "choices" in kw and value not in kw["choices"]:
            return None
        ns[dest] = value
    return types.SimpleNamespace(**ns)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _VALUE_OPTS:
        own, rest = split_target(argv[1:], argv[0])
        # The parser is built only for a command line the quick parse is
        # not sure of (--help, mistakes...): its messages stay argparse's.
        ns = _quick_parse(argv[0], own)
        if ns is None:
            # The target word after "--": an option with an optional
            # value (--greenlets) must not take it as its value.
            if own and not own[-1].startswith("-") and \
                    own[-2:-1] != ["-m"] and (
                        len(own) < 2 or own[-2] not in _VALUE_OPTS[argv[0]]):
                own = own[:-1] + ["--", own[-1]]
            ns = build_parser().parse_args([argv[0]] + own)
        if argv[0] == "top":
            return top(ns, rest)
        args = argv[1:]
        # `record [options] -- COMMAND`: a process tree (_tree.py).
        ns.command_line = (rest if argv[0] == "record" and
                           len(args) > len(rest) and
                           args[len(args) - len(rest) - 1] == "--"
                           else None)
        return {"record": record, "run": run, "trace": trace}[argv[0]](
            ns, rest)
    if argv and argv[0] == "mem":
        from stackwatch import _memcli
        return _memcli.main(argv[1:], build_parser)
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command == "dump":
        return dump(ns)
    parser.error("no command: give record, run, trace, top, dump or mem")


# -- dump -------------------------------------------------------------------

def dump(ns: argparse.Namespace) -> int:
    prog = "%s dump" % PROG
    if ns.signal is not None:
        _option(prog, "--signal", dumping.parse_signal, ns.signal)
    if ns.tree:
        return _dump_tree(ns, prog)
    if ns.outside:
        text, how = _dump_outside(ns, prog, asked=None)
        note(how)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    try:
        text = dumping.request_dump(ns.pid, timeout=ns.timeout,
                                    json_format=ns.json, locals=ns.locals,
                                    signal_spec=ns.signal,
                                    full_paths=ns.full_paths)
        how = "answered by stackwatch inside process %d" % ns.pid
    except ValueError as e:
        fail(str(e), prog)
    except dumping.NotEnabled:
        text, how = _dump_outside(ns, prog, asked=True)
    except dumping.NotPermitted:
        text, how = _dump_outside(ns, prog, asked=False)
    except dumping.DumpError as e:
        fail(str(e), prog, status=1)
    note(how)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _dump_outside(ns: argparse.Namespace, prog: str, asked: Optional[bool]
                  ) -> Tuple[str, str]:
    """The dump of a process that did not enable stackwatch (asked), or
    that may not be asked (another user's: asked False), or that --outside
    wants read so (asked None), read from outside where the system allows
    it; else fails saying why (and how to enable either path)."""
    from stackwatch import _outside

    if asked is None and not os.path.exists("/proc/%d" % ns.pid):
        fail("no such process: %d" % ns.pid, prog, status=1)
    if not ns.json:
        from stackwatch import _remote

        _remote.use_target_paths(ns.pid, ns.full_paths)
    try:
        text, how = _outside.dump(ns.pid, json_format=ns.json,
                                  locals=ns.locals,
                                  full_paths=ns.full_paths or ns.json)
    except _outside.OutsideError as e:
        if str(e).startswith("no such process"):
            fail(str(e), prog, status=1)
        if asked is None:
            fail("process %d: %s%s" % (
                ns.pid, e, "; " + _outside.how_to() if e.denied else ""),
                prog, status=1)
        if asked:
            fail("stackwatch is not enabled in process %d, and %s; either "
                 "%s, or %s" % (ns.pid, e, _outside.ENABLE,
                                _outside.how_to()), prog, status=1)
        fail("permission denied: process %d belongs to another user, whose "
             "processes this command may not ask for a dump, and %s; %s"
             % (ns.pid, e, _outside.how_to()), prog, status=1)
    if asked is None:
        return text, "process %d: %s" % (ns.pid, how)
    if asked:
        return text, "process %d did not enable stackwatch: %s" % (ns.pid,
                                                                  how)
    return text, "process %d belongs to another user: %s" % (ns.pid, how)


def _dump_tree(ns: argparse.Namespace, prog: str) -> int:
    """dump --tree PID: the process and every descendant that has
    stackwatch enabled, each under a header line (--json: one list)."""
    import json

    from stackwatch import _tree

    try:
        dumping.locate(ns.pid)
    except dumping.DumpError as e:
        if not str(e).startswith("stackwatch is not enabled"):
            fail(str(e), prog, status=1)  # no such process...
    out = []
    passed = errors = 0
    for pid in _tree.descendants(ns.pid):
        try:
            dumping.locate(pid, ns.signal)
        except dumping.DumpError:
            passed += 1  # not enabled (a shell, a non-Python program), gone
            continue
        title = _tree.title(pid)
        try:
            text = dumping.request_dump(pid, timeout=ns.timeout,
                                        json_format=ns.json,
                                        locals=ns.locals,
                                        signal_spec=ns.signal,
                                        full_paths=ns.full_paths)
        except (ValueError, dumping.DumpError) as e:
            note("process %d (%s): %s" % (pid, title, e))
            errors += 1
            continue
        if ns.json:
            out.append({"pid": pid, "title": title,
                        "dump": json.loads(text)})
        else:
            sys.stdout.write("%s== pid %d %s ==\n%s" % (
                "\n" if out else "", pid, title,
                text if text.endswith("\n") else text + "\n"))
            out.append(pid)
        sys.stdout.flush()
    if ns.json and out:
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
    if not out and not errors:
        fail("no process of the tree of %d has stackwatch enabled (enable "
             "it with STACKWATCH_DUMP=1, or start the tree with stackwatch "
             "record -- COMMAND)" % ns.pid, prog, status=1)
    note("%d process%s dumped; %d passed over (not enabled)%s" % (
        len(out), "" if len(out) == 1 else "es", passed,
        "; %d failed" % errors if errors else ""))
    return 1 if errors else 0


# -- record -----------------------------------------------------------------

def _default_output(ns: argparse.Namespace, fmt: Optional[str]) -> str:
    stem = ns.module or os.path.splitext(os.path.basename(
        ns.target.rstrip("/")))[0] or "target"
    ext = {"svg": "svg", "speedscope": "json", "collapsed": "txt",
           "pprof": "pb.gz"}[
        fmt or "svg"]
    import time  # built in: no datetime (start-up time)

    when = time.strftime("%Y%m%d-%H%M%S")
    return "stackwatch-%s-%s.%s" % (stem.replace(".", "_"), when, ext)


class _AfterDelay(threading.Thread):
    """Calls fn after `seconds`, on a daemon thread the sampler skips (it
    is stackwatch's, not the target's)."""

    def __init__(self, seconds: float, fn) -> None:
        super().__init__(name="stackwatch-duration", daemon=True)
        self.seconds = seconds
        self.fn = fn

    def run(self) -> None:
        _native.sampler_exclude_current(True)
        try:
            threading.Event().wait(self.seconds)
            self.fn()
        finally:
            _native.sampler_exclude_current(False)


def _left_out(st: Dict[str, Any]) -> str:
    """What the profile misses, in words: the stacks the sampler left out
    because they changed while it read them (it never records a torn
    stack: bad_frames and bad_threads count these), the samples that
    did not fit the session's tables (dropped), and the ticks the sampler
    could neither take nor make up (missed). read_errors is not among
    them: most failed reads are retried or harmless, and the others end
    in a stack left out, counted here."""
    torn = st["bad_frames"] + st["bad_threads"]
    text = "%d stack%s%s left out of the profile (changed while being " \
        "read)" % (torn, "" if torn == 1 else "s",
                   " (%.1f%%)" % (100.0 * torn / (torn + st["samples"]))
                   if torn else "")
    if st["dropped"]:
        text += ", %d sample%s lost (the profile's tables are full)" % (
            st["dropped"], "" if st["dropped"] == 1 else "s")
    missed = st.get("missed", 0)
    if missed:
        text += ", %d tick%s missed (the sampler could not run then)" % (
            missed, "" if missed == 1 else "s")
    return text


class _WriteOnce:
    """Stops a profiler or tracer (prof) and writes its output once,
    whichever comes first: the --duration timer, the end of the target,
    interpreter exit, SIGTERM/SIGHUP (_write_then_end_on_signals).
    Subclasses write in _finish."""

    def __init__(self, prof: Any, out: str, fmt: str) -> None:
        self.prof = prof
        self.out = out
        self.fmt = fmt
        self.lock = threading.Lock()
        self.done = False
        self.failed = False
        # The thread writing, and a signal that came meanwhile (it ends the
        # process once the write is done: see _write_then_end_on_signals).
        self.owner = 0
        self.pending = 0

    def finish(self) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
            self.owner = threading.get_ident()
            try:
                self._finish()
            finally:
                self.owner = 0
        if self.pending:
            _exit_by_signal(self.pending)

    def _finish(self) -> None:
        raise NotImplementedError


class _Recording(_WriteOnce):
    """The profile of `record`."""

    def __init__(self, prof: profiler.Profiler, out: str, fmt: str) -> None:
        super().__init__(prof, out, fmt)
        self.full_paths = False

    def _finish(self) -> None:
        if self.prof._in_child():
            # A forked child: its samples go to the parent's profile,
            # or to a file of its own, never to the parent's path.
            self.prof._end_in_child(self.out, self.fmt)
            return
        self.prof.stop()
        self.prof._close_forks()
        st = self.prof.stats()
        note("%d samples in %.2f s (%.1f Hz effective, %s mode, %d "
             "thread%s%s); %s; sampler CPU %.2f s"
             % (st["samples"], st["duration_seconds"],
                st["effective_rate"], st["mode"], st["threads"],
                "" if st["threads"] == 1 else "s",
                ", %d processes" % st["processes"]
                if st["processes"] > 1 else "",
                _left_out(st), st["sampler_cpu_seconds"]))
        try:
            self.prof.write(self.out, self.fmt,
                            full_paths=self.full_paths)
        except OSError as e:
            self.failed = True
            sys.stderr.write("%s record: error: %s\n" % (PROG, e))
            return
        where = "stdout" if self.out == "-" else self.out
        note("wrote %s to %s" % ({"svg": "a flame graph (svg)",
                                  "speedscope": "a speedscope profile",
                                  "collapsed": "collapsed stacks",
                                  "pprof": "a pprof profile"}[
                                      self.fmt], where))
        lines = self.prof.summary(full_paths=self.full_paths)
        if lines:
            note("where the samples were (share of samples, share of that "
                 "time on CPU, function and callers):")
            for line in lines:
                note("  " + line)


def _target(ns: argparse.Namespace, target_args: List[str], prog: str
            ) -> List[str]:
    """Sets ns.target or ns.module and returns the target's arguments."""
    if ns.module is None:
        if ns.target is None:
            if not target_args:
                fail("no target: give a script or -m module", prog)
            ns.target, target_args = target_args[0], target_args[1:]
    elif ns.target is not None:
        target_args = [ns.target] + target_args
        ns.target = None
    return target_args


def _check_target(ns: argparse.Namespace, prog: str) -> None:
    try:
        if ns.module is not None:
            _runner.check_module(ns.module)
        else:
            _runner.check_script(ns.target)
    except _runner.TargetError as e:
        fail(str(e), prog)


def _exit_by_signal(signum: int = signal.SIGINT) -> None:
    """Ends the process as signum's default action does (as python does on
    an uncaught KeyboardInterrupt, for SIGINT)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


#: Signals that end a program by default and that `record` catches to
#: write the profile first (SIGINT is KeyboardInterrupt already).
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _write_then_end_on_signals(rec: "_Recording") -> None:
    """SIGTERM and SIGHUP (kill, systemd, docker stop, a closed terminal)
    write the profile, then end the process as the signal would have.
    Only where the signal has its default action: an ignored SIGHUP
    (nohup) stays ignored, and a target that installs its own handler
    decides for itself (the profile is then written at its exit)."""
    def on_signal(signum: int, frame: object) -> None:
        if rec.owner == threading.get_ident() or rec.prof._ending:
            # The write under way was interrupted, in this very thread:
            # it ends first (a forked child's hand-over included).
            rec.pending = signum
            return
        # Wait out a write in progress in another thread (--duration);
        # finish() does nothing the second time.
        if rec.lock.acquire(timeout=10):
            rec.lock.release()
            rec.finish()
        _exit_by_signal(signum)

    for signum in _ENDING_SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, on_signal)


def _write_at_exit(rec: "_WriteOnce", signum: int
                   ) -> "Tuple[Callable[[], None], List[bool]]":
    """Writes rec's output at interpreter exit (after the target's own
    atexit handlers and its non-daemon threads), or first on SIGTERM or
    SIGHUP; exits 1 if it could not be written, and as SIGINT would when
    the target was interrupted (the flag returned, set by _status). Lets
    `stackwatch dump` reach the target. Returns (the atexit function, to
    unregister when the target does not run; the flag)."""
    interrupted = [False]

    def at_exit() -> None:
        rec.finish()
        if rec.failed:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        if interrupted[0]:
            _exit_by_signal()

    atexit.register(at_exit)
    _write_then_end_on_signals(rec)
    _enable_dumps(signum)
    return at_exit, interrupted


def _status(outcome: "_runner.Outcome", interrupted: List[bool]) -> int:
    """The exit status of a run of the target (130: interrupted, and
    interrupted[0] set for the atexit function that ends as SIGINT
    would)."""
    interrupted[0] = outcome.interrupted
    return 130 if outcome.interrupted else outcome.status


def _serve_http(ns: argparse.Namespace, prog: str) -> None:
    """--http ADDR: the endpoint, started before the target runs (a bad
    address or a refused one is one line, status 2)."""
    if ns.http is None:
        return
    from stackwatch import _config, _serve

    try:
        _serve.serve(ns.http, token=_config.text("STACKWATCH_HTTP_TOKEN"))
    except ValueError as e:
        fail("argument --http: %s" % e, prog)
    except OSError as e:
        fail("argument --http: %s" % (e.args[-1] if e.args else e), prog)


def _enable_dumps(signum: int) -> None:
    """Lets `stackwatch dump PID` reach the target; a note if it cannot."""
    try:
        dumping.enable_dump(signum)
    except (OSError, ValueError, RuntimeError, dumping.DumpError) as e:
        note("stack dumps unavailable: %s" % e)


def _paths_of_target(ns: argparse.Namespace) -> None:
    """The path prefixes text leaves out: the target's sys.path, its first
    entry as _runner will set it; none with --full-paths."""
    if ns.full_paths:
        _frame.set_full_paths()
    elif ns.module is not None:
        _frame.use_sys_path(os.getcwd(), pin=True)
    else:
        first = ns.target
        if not os.path.isdir(first):
            first = os.path.dirname(os.path.realpath(first))
        _frame.use_sys_path(first, pin=True)


def _idle_mode(mode: Optional[str], idle: Optional[bool]) -> str:
    if idle is None or mode is None or (mode == "wall") == idle:
        from stackwatch import profiler

        return profiler.resolve_mode(mode, idle)
    raise ValueError("%s contradicts --mode %s (%s)" % (
        "--idle" if idle else "--no-idle", mode,
        "--idle is --mode wall" if idle else "--no-idle is --mode cpu"))


def _greenlets_option(value: Any) -> Any:
    if value in (False, "grouped", "each"):
        return value
    raise ValueError("expected 'each' or 'grouped' (--greenlets=each), not "
                     "%r" % (value,))


def _record_pid(ns: argparse.Namespace, target_args: List[str],
                prog: str) -> int:
    """record --pid PID: the process profiles itself (_remote.py)."""
    from stackwatch import profiler

    for given, what in ((ns.target or target_args or ns.module, "a target"),
                        (ns.tasks, "--tasks"), (ns.budget, "--budget")):
        if given:
            fail("--pid cannot be combined with %s" % what, prog)
    ns.rate = _option(prog, "-r/--rate", profiler.check_rate, ns.rate)
    if ns.signal is not None:
        _option(prog, "--signal", dumping.parse_signal, ns.signal)
    _path_option(prog, "-o/--output", ns.output)
    try:
        ns.fmt = ns.format or (profiler.format_for_path(ns.output, "-f")
                               if ns.output else "svg")
    except ValueError as e:
        fail("argument -o/--output: %s" % e, prog)
    import time  # built in: no datetime (start-up time)

    ns.out = ns.output or "stackwatch-pid%d-%s.%s" % (
        ns.pid, time.strftime("%Y%m%d-%H%M%S"),
        {"svg": "svg", "speedscope": "json", "collapsed": "txt"}[ns.fmt])
    try:
        _output.check_writable(ns.out)
    except _output.OutputError as e:
        fail(str(e), prog)
    ns.mode = _option(prog, "--idle/--no-idle", _idle_mode, ns.mode, ns.idle)
    ns.greenlets = _option(prog, "--greenlets", _greenlets_option,
                           ns.greenlets)
    from stackwatch import _remote

    return _remote.record_pid(ns, prog, fail)


def _script_hint(cmd: str, e: OSError) -> str:
    """After "-- CMD" failed to start: a hint when CMD is a Python script
    here (py-spy's "-- python app.py" habit without the python)."""
    import errno

    if e.errno not in (errno.ENOENT, errno.EACCES) or \
            not cmd.endswith((".py", ".pyw")) or not os.path.isfile(cmd):
        return ""
    return (" (a command after \"--\"; to run the script, give it "
            "without \"--\", or as \"-- python %s\")" % cmd)


def _record_tree(ns: argparse.Namespace, target_args: List[str],
                 prog: str) -> int:
    """record -- COMMAND and record --subprocesses: every Python process
    of the tree samples itself (_tree.py)."""
    from stackwatch import profiler

    if ns.pid is not None:
        fail("--pid cannot be combined with %s" % (
            "a command" if ns.command_line is not None
            else "--subprocesses"), prog)
    if ns.command_line is not None:
        if ns.target is not None or ns.module is not None:
            fail("give a script, -m module or -- COMMAND, not two", prog)
        command = list(ns.command_line)
        if not command:
            fail("no command after --", prog)
        stem = os.path.basename(command[0]) or "command"
    else:
        target_args = _target(ns, target_args, prog)
        _check_target(ns, prog)
        command = [sys.executable] + (
            ["-m", ns.module] if ns.module is not None
            else [ns.target]) + target_args
        stem = ns.module or os.path.splitext(os.path.basename(
            ns.target.rstrip("/")))[0] or "target"
    rate = _option(prog, "-r/--rate", profiler.check_rate, ns.rate)
    if ns.budget is not None:
        fail("--budget cannot be combined with %s" % (
            "a command" if ns.command_line is not None
            else "--subprocesses"), prog)
    if ns.signal is not None:
        _option(prog, "--signal", dumping.parse_signal, ns.signal)
    _path_option(prog, "-o/--output", ns.output)
    try:
        fmt = ns.format or (profiler.format_for_path(ns.output, "-f")
                            if ns.output else "svg")
    except ValueError as e:
        fail("argument -o/--output: %s" % e, prog)
    if ns.output is None:
        ns.module, ns.target = None, stem
        out = _default_output(ns, fmt)
    else:
        out = ns.output
    if out != "-":
        out = os.path.abspath(out)
    if ns.per_process and (out == "-" or out.startswith(("/dev/",
                                                         "/proc/"))):
        fail("--per-process needs an output file name (-o OUT)", prog)
    try:
        _output.check_writable(out)
    except _output.OutputError as e:
        fail(str(e), prog)
    mode = _option(prog, "--idle/--no-idle", _idle_mode, ns.mode, ns.idle)
    greenlets = _option(prog, "--greenlets", _greenlets_option,
                        ns.greenlets)
    from stackwatch import _forks, _tree

    try:
        spool = _forks.make_spool()
    except OSError as e:
        fail("cannot make the spool directory: %s" % e, prog, status=1)
    env = _tree.environment(spool, ns, rate, mode, greenlets, ns.signal)
    try:
        try:
            status, interrupted, seconds, start = _tree.run(
                command, env, ns.duration, note)
        except OSError as e:
            fail("cannot run %s: %s%s" % (command[0], e.strerror or e,
                                          _script_hint(command[0], e)),
                 prog)
        parts = _forks.close(spool)
    finally:
        _forks.remove(spool)
        _forks.remove(spool + ".closed")
    if ns.full_paths:
        _frame.set_full_paths()
    else:
        _frame.use_sys_path(os.getcwd(), pin=True)
    kw = dict(rate=rate, mode=mode, threads=ns.threads, greenlets=greenlets,
              function=ns.function, lineno=not ns.nolineno)
    if not parts:
        note("no Python process of the command sent samples (is stackwatch "
             "installed in the Python it runs?)")
    groups = [parts]
    if ns.per_process:
        groups = [[p] for p in parts]
    failed = False
    for group in groups:
        merged = _tree.Merged(group, seconds, start, **kw)
        path = out
        if ns.per_process:
            path = _forks.own_path(out, group[0][1][0][0])
        rec = _Recording(merged, path, fmt)
        rec.full_paths = ns.full_paths
        rec._finish()
        failed = failed or rec.failed
    if failed:
        return 1
    if interrupted:
        return 130
    return status if status >= 0 else 128 - status


def record(ns: argparse.Namespace, target_args: List[str]) -> int:
    from stackwatch import profiler  # only `record` uses it

    prog = "%s record" % PROG
    if getattr(ns, "command_line", None) is not None or ns.subprocesses:
        if getattr(ns, "command_line", None) is None:
            ns.command_line = None
        return _record_tree(ns, target_args, prog)
    if ns.per_process:
        fail("--per-process needs --subprocesses or -- COMMAND", prog)
    if ns.pid is not None:
        return _record_pid(ns, target_args, prog)
    if ns.outside:
        fail("--outside needs --pid", prog)
    target_args = _target(ns, target_args, prog)
    rate = _option(prog, "-r/--rate", profiler.check_rate, ns.rate)
    budget = _option(prog, "--budget", profiler.check_budget, ns.budget)
    signum = _option(prog, "--signal", dumping.parse_signal, ns.signal)
    _path_option(prog, "-o/--output", ns.output)
    try:
        # -f names the format: then any output name will do.
        fmt = ns.format or (profiler.format_for_path(ns.output, "-f")
                            if ns.output else "svg")
    except ValueError as e:
        fail("argument -o/--output: %s" % e, prog)
    out = ns.output or _default_output(ns, fmt)
    if out != "-":
        out = os.path.abspath(out)  # the target may change directory
    try:
        _output.check_writable(out)
    except _output.OutputError as e:
        fail(str(e), prog)
    _check_target(ns, prog)

    mode = _option(prog, "--idle/--no-idle", _idle_mode, ns.mode, ns.idle)
    greenlets = _option(prog, "--greenlets", _greenlets_option,
                        ns.greenlets)
    _paths_of_target(ns)
    _serve_http(ns, prog)
    prof = profiler.Profiler(rate=rate, mode=mode, budget=budget,
                             threads=ns.threads, greenlets=greenlets,
                             function=ns.function, lineno=not ns.nolineno,
                             tasks=ns.tasks,
                             _roots=_runner.root_codes())
    rec = _Recording(prof, out, fmt)
    rec.full_paths = ns.full_paths
    at_exit, interrupted = _write_at_exit(rec, signum)
    try:
        prof.start()
    except RuntimeError as e:
        if not ns.tasks:
            raise
        atexit.unregister(at_exit)
        fail(str(e), prog)  # --tasks cannot read this interpreter's tasks
    if ns.duration:
        _AfterDelay(ns.duration, rec.finish).start()
    return _status(_runner.run(ns.target, ns.module, target_args),
                   interrupted)


# -- top --------------------------------------------------------------------

def top(ns: argparse.Namespace, target_args: List[str]) -> int:
    from stackwatch import profiler

    prog = "%s top" % PROG
    ns.pid = None
    if ns.module is None and not target_args and ns.target is not None \
            and ns.target.isdigit():
        ns.pid = _option(prog, "PID", _pid, ns.target)
        ns.args = []
    else:
        if ns.outside:
            fail("--outside needs a PID", prog)
        ns.args = _target(ns, target_args, prog)
        _check_target(ns, prog)
    ns.rate = _option(prog, "-r/--rate", profiler.check_rate, ns.rate)
    if ns.signal is not None:
        _option(prog, "--signal", dumping.parse_signal, ns.signal)
    if ns.interval < 0.1:
        fail("argument -i/--interval: at least 0.1 s, not %g" % ns.interval,
             prog)
    if ns.window < ns.interval:
        fail("argument -w/--window: at least the interval (%g s), not %g"
             % (ns.interval, ns.window), prog)
    ns.rows = int(ns.rows)
    ns.mode = ns.mode or "wall"
    from stackwatch import _top

    return _top.run(ns, prog, fail)


# -- trace ------------------------------------------------------------------

class _Tracing(_WriteOnce):
    """The trace of `trace`."""

    def __init__(self, tracer: Any, out: str, fmt: str = "chrome") -> None:
        super().__init__(tracer, out, fmt)

    def _finish(self) -> None:
        tracer = self.prof
        if tracer._in_child():
            # A forked child: its part of the parent's trace.
            tracer._end_in_child()
            return
        if os.getpid() != tracer._pid:
            return  # a forked child not followed: the trace is the parent's
        st = tracer.stop()
        tracer._ending = True
        try:
            tracer.write(self.out, self.fmt)
        except (OSError, _output.OutputError, MemoryError) as e:
            self.failed = True
            sys.stderr.write("%s trace: error: %s\n" % (PROG, e))
            return
        finally:
            tracer._ending = False
            tracer.close_family()
        taken, left = tracer.forked
        note("%d events in %.2f s, %d thread%s, %d dropped%s%s (%s)%s"
             % (st["events"], st["duration_seconds"], st["threads"],
                "" if st["threads"] == 1 else "s", st["dropped"],
                ", %d older ones let go (--ring)" % st["aged"]
                if st["aged"] else "",
                " (the buffer is full: raise --buffer)" if st["dropped"]
                else "", st["engine"] + (" tool id %d" % st["tool_id"]
                                         if st["tool_id"] >= 0 else ""),
                "; and %d forked process%s" % (taken,
                                               "" if taken == 1 else "es")
                if taken else ""))
        if left:
            note("warning: %d forked process%s had not ended (still "
                 "running, killed, or ended by os._exit): not in the trace"
                 % (left, "" if left == 1 else "es"))
        for spec, hits in tracer.filter_hits().items():
            if not hits:
                note("warning: %s matched no code that ran" % spec)
        for spec in tracer.unmatched_functions():
            note("warning: --function %s named no function" % spec)
        where = "stdout" if self.out == "-" else self.out
        if self.fmt == "speedscope":
            note("wrote the trace to %s: open it in "
                 "https://www.speedscope.app" % where)
        else:
            note("wrote the trace to %s: open it in https://ui.perfetto.dev "
                 "(Open trace file) or chrome://tracing" % where)


def trace(ns: argparse.Namespace, target_args: List[str]) -> int:
    from stackwatch import trace as tracing  # only `trace` uses it

    prog = "%s trace" % PROG
    target_args = _target(ns, target_args, prog)
    size = tracing.DEFAULT_BUFFER
    if ns.buffer is not None:
        size = _option(prog, "--buffer", tracing.parse_size, ns.buffer)
    if ns.max_depth is not None and ns.max_depth < 1:
        fail("argument --max-depth: must be at least 1, not %d"
             % ns.max_depth, prog)
    memory = None
    if ns.memory is not None:
        memory = _option(prog, "--memory", _positive, ns.memory)
        if not 0.001 <= memory <= 60:
            fail("argument --memory: the sampling period must be between "
                 "0.001 and 60 seconds, not %s" % ns.memory, prog)
    signum = _option(prog, "--signal", dumping.parse_signal, ns.signal)
    if ns.monitor:
        from stackwatch import monitor

        try:  # the watchdog's settings, from the environment
            monitor._resolve(monitor._UNSET, monitor._UNSET, monitor._UNSET)
        except ValueError as e:
            fail(str(e), prog)
    _path_option(prog, "-o/--output", ns.output)
    out = ns.output
    if out is None:
        stem = ns.module or os.path.splitext(os.path.basename(
            ns.target.rstrip("/")))[0] or "target"
        import time

        out = "stackwatch-trace-%s-%s.json" % (
            stem.replace(".", "_"), time.strftime("%Y%m%d-%H%M%S"))
    if out != "-":
        out = os.path.abspath(out)  # the target may change directory
    try:
        _output.check_writable(out)
    except _output.OutputError as e:
        fail(str(e), prog)
    _check_target(ns, prog)
    _paths_of_target(ns)
    try:
        tracer = tracing.Tracer(out, buffer=size, include=ns.include,
                                exclude=ns.exclude, max_depth=ns.max_depth,
                                full_paths=ns.full_paths,
                                greenlets=ns.greenlets, c_calls=ns.c_calls,
                                memory=memory, ring=ns.ring,
                                asyncio=ns.asyncio,
                                functions=ns.function, scoped=ns.scoped,
                                # (a child's events join a Chrome trace)
                                follow_fork=ns.format == "chrome",
                                # module names: along the target's sys.path
                                search_path=[
                                    os.getcwd() if ns.module is not None
                                    else os.path.dirname(
                                        os.path.realpath(ns.target))]
                                + sys.path)
    except ValueError as e:
        fail(str(e), prog)
    for spec in tracer.unmatched_filters():
        note("warning: %s matches no file or module" % spec)
    rec = _Tracing(tracer, out, ns.format)
    at_exit, interrupted = _write_at_exit(rec, signum)
    try:
        # Filters and tool ids are checked before the target starts ...
        tracer.start()
        tracer.stop()
        tracer.clear()
    except (RuntimeError, ValueError) as e:
        atexit.unregister(at_exit)
        tracer.close_family()
        fail(str(e), prog)
    # ... and tracing (with the watchdog: --monitor) starts just before
    # its code runs.
    tracer.monitor = ns.monitor
    return _status(_runner.run(ns.target, ns.module, target_args,
                               at_start=tracer.start), interrupted)


# -- run --------------------------------------------------------------------

def _log_summary(done: dict, interval: Optional[float]) -> None:
    """The slow-script log's last word (done: slowlog.stop()'s)."""
    n, path = done["snapshots"], done["path"]
    if n == 0:
        note("The script ended before the first snapshot (%f seconds); %s"
             % (interval, ("the empty log %s was removed" if done["removed"]
                           else "the log %s is empty") % path))
        return
    text = "%d snapshot%s written to %s" % (n, "s" if n > 1 else "", path)
    if done["backup"]:
        text += " (the older ones to %s)" % done["backup"]
    if done["errors"]:
        text += "; %d could not be written" % done["errors"]
    note(text)


def run(ns: argparse.Namespace, target_args: List[str]) -> int:
    from stackwatch import monitor, slowlog  # only `run` uses them

    prog = "%s run" % PROG
    target_args = _target(ns, target_args, prog)
    # Every setting is checked before the target starts, each naming its
    # option when it is wrong.
    kw = {}
    if ns.max_blocking_time is not None:
        kw["max_blocking_time"] = None if _off(ns.max_blocking_time) else \
            _option(prog, "--max-blocking-time", monitor.seconds,
                    ns.max_blocking_time, "--max-blocking-time",
                    hint=" ('off' to watch memory only)")
    if ns.max_memory is not None:
        kw["max_memory_usage"] = _option(prog, "--max-memory",
                                         monitor.parse_size, ns.max_memory)
    if ns.memory_period is not None:
        kw["memory_monitor_period"] = _option(
            prog, "--memory-period", monitor.seconds, ns.memory_period,
            "--memory-period")
    _path_option(prog, "--report", ns.report)
    _path_option(prog, "--log", ns.log)
    report_to = sys.stderr
    if ns.report is not None:
        report_to = os.path.abspath(ns.report)
    signum = _option(prog, "--signal", dumping.parse_signal, ns.signal)
    interval = None
    if ns.interval is None:
        interval = _option(prog, "STACKWATCH_INTERVAL",
                           slowlog.interval_setting, None)
    elif not _off(ns.interval):
        interval = _option(prog, "--interval", slowlog.interval_setting,
                           _option(prog, "--interval", _number, ns.interval),
                           hint=" ('off' for no log)")
    if ns.gil_wait is None:
        gil_wait = _option(prog, "STACKWATCH_DUMP_GIL_WAIT",
                           dumping.gil_wait_setting, None)
    else:
        gil_wait = _option(prog, "--gil-wait", dumping.gil_wait_setting,
                           _option(prog, "--gil-wait", _number, ns.gil_wait))
    try:
        log_max = slowlog.max_size_setting(ns.log_max, "--log-max")
        # The watchdog's settings not given, from the environment.
        monitor._resolve(kw.get("max_blocking_time", monitor._UNSET),
                         kw.get("max_memory_usage", monitor._UNSET),
                         kw.get("memory_monitor_period", monitor._UNSET))
    except ValueError as e:
        fail(str(e), prog)
    _check_target(ns, prog)
    _paths_of_target(ns)
    _serve_http(ns, prog)
    opened = None
    if interval is not None:
        try:
            opened = slowlog.open_log(ns.log)
        except OSError as e:
            fail("cannot write the log %s: %s"
                 % (ns.log or "file", e.strerror or e), prog)
    try:
        monitor.start(report_to=report_to, format_run_info=ns.format_run_info,
                      log=ns.logging, asyncio=not ns.no_asyncio,
                      full_paths=ns.full_paths, **kw)
    except (ValueError, RuntimeError) as e:
        if opened is not None:
            os.close(opened[0])
            if ns.log is None:
                os.unlink(opened[1])  # our temporary file, still empty
        fail(str(e), prog, status=2 if isinstance(e, ValueError) else 1)
    if opened is not None:
        try:
            slowlog.start(ns.log, interval, ns.locals, gil_wait,
                          opened=opened, max_size=log_max)
        except (RuntimeError, OSError) as e:
            fail(str(e), prog, status=1)
        note("Sampling every %f seconds" % interval)
        note("Writing output to: %s" % opened[1])
    interrupted = [False]

    def at_exit() -> None:
        # After the target's own atexit handlers: exit as python does on
        # an uncaught KeyboardInterrupt.
        done = slowlog.stop()
        if done is not None:
            _log_summary(done, interval)
        if interrupted[0]:
            monitor.stop()
            _exit_by_signal()

    atexit.register(at_exit)
    _enable_dumps(signum)
    # Dumps and snapshots show the target's frames, not stackwatch's.
    _native.sampler_set_roots(_runner.root_codes())
    return _status(_runner.run(ns.target, ns.module, target_args),
                   interrupted)
