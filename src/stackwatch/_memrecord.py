"""``stackwatch mem record``: runs a script or module, exactly as
``stackwatch record`` and ``python`` do (_runner.py), under the memory
profiler (memory.py), whose files are complete when the target ends:
normally, by an exception, Ctrl-C, SIGTERM or SIGHUP."""

from __future__ import annotations

import atexit
import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import List

from stackwatch import _runner, cli, memory

PROG = "%s mem record" % cli.PROG

#: The options that take a value (the target starts after them).
VALUE_OPTIONS = {"-o", "--output", "--profile", "--interval",
                 "--sample-interval", "--filter"}


def configure(p: "argparse.ArgumentParser") -> None:
    p.description = (
        "Run a script (or -m module) in this interpreter, exactly as python "
        "would, counting per thread the memory taken through Python's "
        "allocators; DIR/<pid>/process.mem and one <thread>.mem per thread "
        "get a line every --interval seconds (docs/memory-format.md), and "
        "with --stacks, <thread>.stack the sampled allocation stacks. "
        "Ctrl-C stops the target and still ends the files.")
    p.usage = ("%(prog)s -o DIR [options] (script.py [args ...] | -m module "
               "[args ...])")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="the directory the profile goes to (DIR/<pid>/; "
                        "created)")
    p.add_argument("--profile", choices=memory.PROFILES, default="both",
                   help="what to count: python (Python's allocators), c "
                        "(what C code takes from the C library directly), "
                        "both (the default)")
    p.add_argument("--filter", action="append", metavar="PREFIX",
                   help="count only the allocations made under code from "
                        "a file whose path starts with PREFIX (again for "
                        "more prefixes)")
    p.add_argument("--interval", type=cli._positive, default=0.02,
                   metavar="S",
                   help="seconds between two lines (default 0.02)")
    p.add_argument("--stacks", action="store_true",
                   help="also sample allocation stacks (one block per "
                        "--sample-interval bytes on average) into "
                        "<thread>.stack")
    p.add_argument("--sample-interval", type=_bytes, metavar="BYTES",
                   default=memory.SAMPLE_INTERVAL,
                   help="mean bytes between two sampled blocks (default "
                        "524288)")
    p.add_argument("--greenlets", action="store_true",
                   help="also count per greenlet: <greenlet label>.mem per "
                        "greenlet, <thread>.ended-greenlets.mem for those "
                        "that ended")
    p.add_argument("--follow-fork", action="store_true",
                   help="profile the children the target forks too, each "
                        "in DIR/<child pid>/")
    p.add_argument("-m", dest="module", metavar="module",
                   help="run a library module as a script")
    p.add_argument("target", nargs="?", metavar="script.py",
                   help="the script to run")


def _bytes(text: str) -> int:
    try:
        return memory.check_sample_interval(int(text))
    except ValueError:
        raise cli._type_error("expected a number of bytes between 1 and "
                              "2**40, not %r" % text) from None


def _end_on_signals(prof: memory.MemoryProfiler) -> None:
    """SIGTERM and SIGHUP end the files, then the process as the signal
    would have (only where the signal has its default action)."""
    def on_signal(signum: int, frame: object) -> None:
        prof.disable()
        cli._exit_by_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, on_signal)


def main(ns: "argparse.Namespace", target_args: List[str]) -> int:
    target_args = cli._target(ns, target_args, PROG)
    profile = cli._option(PROG, "--profile", memory.check_profile,
                          ns.profile)
    interval = cli._option(PROG, "--interval", memory.check_interval,
                           ns.interval)
    filter_ = cli._option(PROG, "--filter", memory.check_filter, ns.filter)
    cli._check_target(ns, PROG)
    out = os.path.abspath(ns.output)  # the target may change directory
    if os.path.exists(out) and not os.path.isdir(out):
        cli.fail("argument -o/--output: %s is not a directory" % ns.output,
                 PROG)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        cli.fail("argument -o/--output: cannot create %s: %s"
                 % (ns.output, e.strerror), PROG)
    if not os.access(out, os.W_OK | os.X_OK):
        cli.fail("argument -o/--output: %s is not writable" % ns.output,
                 PROG)

    prof = memory.MemoryProfiler(out, profile=profile, interval=interval,
                                 filter=filter_, stacks=ns.stacks,
                                 follow_fork=ns.follow_fork,
                                 greenlets=ns.greenlets,
                                 sample_interval=ns.sample_interval)
    interrupted = [False]

    def at_exit() -> None:
        # After the target's own atexit handlers and its non-daemon
        # threads.
        prof.disable()
        if prof.directory is not None and threading.current_thread() is \
                threading.main_thread():
            cli.note("memory profile in %s" % prof.directory)
        if interrupted[0]:
            cli._exit_by_signal()

    try:
        prof.enable()
    except OSError as e:
        cli.fail("argument -o/--output: %s" % e, PROG)
    atexit.register(at_exit)
    _end_on_signals(prof)
    outcome = _runner.run(ns.target, ns.module, target_args)
    interrupted[0] = outcome.interrupted
    if outcome.interrupted:
        return 130
    return outcome.status
