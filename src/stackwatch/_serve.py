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

import socket
import sys
from typing import Optional, Tuple

from stackwatch import _frame, _lifecycle, _native, _service

__all__ = ["serve", "Server", "parse_address"]

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
