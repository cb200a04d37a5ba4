"""The HTTP endpoint: ``serve()`` starts a native server thread that
answers ``/threads``, ``/metrics`` (Prometheus) and the profile endpoints
without the GIL, so it still answers while the program is stuck in a long
C call.

``/runinfo`` (greenlet and task trees) needs the GIL side, with a
bound; ``/debug/pprof/profile`` and ``/profile`` take a profile on demand
(csrc/ondemand.c) without disturbing the program's own.

The address is ``HOST:PORT`` (``127.0.0.1:6060``, ``[::1]:6060``,
``localhost:0`` for any free port, ``:6060`` for 127.0.0.1) or
``unix:/path`` (a socket created with mode 0600). Binding to an address
that is not loopback needs a token: clients then send
``Authorization: Bearer TOKEN``. ``STACKWATCH_HTTP`` (and
``STACKWATCH_HTTP_TOKEN``) start it at interpreter start; ``stackwatch run
--http ADDR`` and ``stackwatch record --http ADDR`` for the command.

One server per process; a forked child has none (the parent keeps
serving). It is stopped at interpreter exit.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Optional, Tuple

from stackwatch import _frame, _lifecycle, _native, _osthread, _service

__all__ = ["serve", "Server", "parse_address", "continuous", "Continuous"]

#: Exit order: before everything the endpoints read is stopped.
_EXIT_ORDER = 5

_server: Optional["Server"] = None


class Server:
    """A running endpoint (what :func:`serve` returns)."""

    def __init__(self, address: str) -> None:
        #: The bound address: ``127.0.0.1:40123``, ``[::1]:6060`` or
        #: ``unix:/path``.
        self.address = address

    @property
    def url(self) -> str:
        """``http://ADDRESS/`` (a unix socket's path stays as is)."""
        return "http://%s/" % self.address

    @property
    def running(self) -> bool:
        return _server is self and _native.http_running()

    def stop(self) -> None:
        """Stops serving (the port is closed; a unix socket removed)."""
        global _server
        if _server is self:
            _native.http_stop()
            _server = None
            _service.service.release()

    def __repr__(self) -> str:
        return "<stackwatch.Server %s>" % self.address


def _check_token(token: Optional[str]) -> str:
    if token is None:
        return ""
    if not isinstance(token, str) or not (1 <= len(token) <= 200) or any(
            not (33 <= ord(c) <= 126) for c in token):
        raise ValueError("the HTTP token must be 1 to 200 visible ASCII "
                         "characters")
    return token


def parse_address(address: str) -> Tuple[str, str, int, str]:
    """(family, numeric host, port, unix path) of an address; family is
    "inet", "inet6" or "unix". Raises ValueError naming the problem."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError("the HTTP address is empty (HOST:PORT or "
                         "unix:/path)")
    address = address.strip()
    if address.startswith("unix:"):
        path = address[5:]
        if not path.startswith("/") or len(path.encode()) > 107:
            raise ValueError("the HTTP address %r: a unix socket needs an "
                             "absolute path of at most 107 bytes" % address)
        return "unix", "", 0, path
    if address.startswith("["):
        host, sep, port_s = address[1:].partition("]:")
        if not sep:
            raise ValueError("the HTTP address %r is not [HOST]:PORT"
                             % address)
    elif ":" in address:
        host, _, port_s = address.rpartition(":")
    else:
        host, port_s = "", address
    try:
        port = int(port_s)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError("the HTTP address %r: the port must be a number "
                         "from 0 to 65535" % address)
    if not host:
        host = "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError("the HTTP address %r: cannot resolve %r (%s)"
                         % (address, host, e)) from None
    fam, _, _, _, sa = infos[0]
    return ("inet6" if fam == socket.AF_INET6 else "inet"), sa[0], port, ""


def _is_loopback(family: str, host: str) -> bool:
    if family == "unix":
        return True
    import ipaddress

    return ipaddress.ip_address(host).is_loopback


def serve(address: str = "127.0.0.1:0", token: Optional[str] = None, *,
          locals: bool = False, gil_wait: Optional[float] = None,
          quiet: bool = False) -> Server:
    """Starts the HTTP endpoint on `address` and returns it (its
    ``.address`` is the bound one, the port filled in). Prints
    ``stackwatch: serving http://ADDRESS/`` on stderr unless `quiet`.
    ``/runinfo`` shows every frame's locals (redacted as elsewhere) only
    with `locals`, and waits up to `gil_wait` seconds for the GIL (default
    1, or $STACKWATCH_DUMP_GIL_WAIT) before it answers without what
    needs it, saying so.

    Raises ValueError for a bad address or token, or an address that is
    not loopback without a token; RuntimeError when a server already
    runs; OSError when the address cannot be bound."""
    global _server
    family, host, port, path = parse_address(address)
    tok = _check_token(token)
    if not tok and not _is_loopback(family, host):
        raise ValueError("the HTTP address %s is not loopback: serving it "
                         "needs a token (token=..., --http-token or "
                         "STACKWATCH_HTTP_TOKEN)" % address)
    if _server is not None and _native.http_running():
        raise RuntimeError("stackwatch is already serving on %s"
                           % _server.address)
    _frame.use_sys_path()  # the prefixes that text leaves out
    # An on-demand profile asks the GIL side for greenlet labels: the
    # answer is registered by dumping.
    from stackwatch import dumping

    wait = dumping.gil_wait_setting(gil_wait)
    bound = _native.http_start(family, port, host, path, tok, bool(locals),
                               float(wait))
    _server = Server(bound)
    # Thread names (and, for /runinfo, answers) come from the service.
    _service.service.acquire()
    if not quiet:
        sys.stderr.write("stackwatch: serving %s\n" % _server.url)
        sys.stderr.flush()
    return _server


def current() -> Optional[Server]:
    """The running server, or None."""
    return _server if _server is not None and _native.http_running() \
        else None


def _stop_at_exit() -> None:
    if _server is not None:
        _server.stop()


def _forget_in_child() -> None:
    global _server
    if _server is not None:
        _server = None
        _service.service.release()


_lifecycle.on_exit(_EXIT_ORDER, _stop_at_exit)
_lifecycle.on_fork_child(_EXIT_ORDER, _forget_in_child)


# -- continuous profiles to files --------------------------------------------

#: Exit order: before the profiler's own step stops every profiler.
_CONTINUOUS_ORDER = 8

_continuous: Optional["Continuous"] = None


class Continuous:
    """Rolling pprof files (what :func:`continuous` returns)."""

    def __init__(self, directory: str, every: float, keep: int,
                 max_bytes: int, rate: float, budget: float) -> None:
        self.directory = directory
        self.every = every
        self.keep = keep
        self.max_bytes = max_bytes
        self.rate = rate
        self.budget = budget
        #: Files written so far, and periods that could not be.
        self.written = 0
        self.errors = 0
        self._stop = _osthread.Event()
        self._thread = _osthread.Thread(self._run, "stackwatch-continuous")

    def _name(self, seq: int) -> str:
        import time

        return "stackwatch-%d-%s-%04d.pb.gz" % (
            os.getpid(), time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), seq)

    def _prune(self) -> None:
        """Keeps the newest `keep` files of this process, and no more
        than max_bytes of them."""
        prefix = "stackwatch-%d-" % os.getpid()
        mine = []
        for name in os.listdir(self.directory):
            if name.startswith(prefix) and name.endswith(".pb.gz"):
                path = os.path.join(self.directory, name)
                try:
                    mine.append((name, path, os.path.getsize(path)))
                except OSError:
                    pass
        mine.sort()  # by time, then sequence: oldest first
        total = sum(size for _, _, size in mine)
        while mine and (len(mine) > self.keep or total > self.max_bytes):
            _, path, size = mine.pop(0)
            total -= size
            try:
                os.unlink(path)
            except OSError:
                pass

    def _period(self, seq: int) -> bool:
        """One profile: sampled for `every` seconds (or until stopped),
        written, the old ones pruned. Returns False when it could not
        sample (another profiler runs)."""
        from stackwatch import _output
        from stackwatch.profiler import Profiler

        prof = Profiler(rate=self.rate, budget=self.budget)
        try:
            prof.start()
        except RuntimeError:
            self.errors += 1
            return False
        self._stop.wait(self.every)
        prof.stop()
        if prof.stats()["samples"] == 0:
            return True
        try:
            _output.write_file(os.path.join(self.directory, self._name(seq)),
                               prof.render("pprof"))
            self.written += 1
        except (_output.OutputError, OSError):
            self.errors += 1
        self._prune()
        return True

    def _run(self) -> None:
        _native.sampler_exclude_current(True)
        try:
            seq = 0
            while not self._stop.is_set():
                if not self._period(seq):
                    # The program records a profile of its own: wait for
                    # it to end, period by period.
                    self._stop.wait(self.every)
                seq += 1
        finally:
            _native.sampler_exclude_current(False)

    def stop(self) -> None:
        """Ends the current period (its file is written) and stops."""
        global _continuous
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if _continuous is self:
            _continuous = None


def continuous(directory: str, every: float = 60, keep: int = 60, *,
               max_bytes: int = 256 * 1024 * 1024, rate: float = 10,
               budget: float = 0.01) -> Continuous:
    """Writes a pprof file of this process every `every` seconds into
    `directory` (``stackwatch-PID-TIME-SEQ.pb.gz``, each put in place by
    an atomic rename), keeping the newest `keep` and at most `max_bytes`
    of them. The sampler runs at `rate` Hz within `budget` (a share of one
    core). Stopped at interpreter exit (the last period written); a
    forked child has none. Raises ValueError for a bad setting and
    RuntimeError when it already runs."""
    global _continuous
    from stackwatch.profiler import check_budget, check_rate

    if not isinstance(directory, str) or not os.path.isdir(directory):
        raise ValueError("continuous profiles need an existing directory, "
                         "not %r" % (directory,))
    if not isinstance(every, (int, float)) or not 1 <= every <= 86400:
        raise ValueError("every must be 1 to 86400 seconds, not %r"
                         % (every,))
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError("keep must be a whole number >= 1, not %r"
                         % (keep,))
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError("max_bytes must be a whole number >= 1, not %r"
                         % (max_bytes,))
    rate = check_rate(rate)
    budget = check_budget(budget)
    if _continuous is not None:
        raise RuntimeError("continuous profiles are already being written "
                           "to %s" % _continuous.directory)
    c = Continuous(os.path.abspath(directory), float(every), keep,
                   max_bytes, rate, budget)
    _continuous = c
    c._thread.start()
    return c


def _stop_continuous_at_exit() -> None:
    if _continuous is not None:
        _continuous.stop()


def _forget_continuous_in_child() -> None:
    global _continuous
    _continuous = None


_lifecycle.on_exit(_CONTINUOUS_ORDER, _stop_continuous_at_exit)
_lifecycle.on_fork_child(_CONTINUOUS_ORDER, _forget_continuous_in_child)
