"""A gevent program that monkey-patched everything, for the tracer's
thread and greenlet track names (issue 15): three greenlets ticking on
gevent.sleep, a StreamServer answering four clients on loopback (their
connects resolve through gevent's threadpool: native threads of
gevent's that threading does not know), and the main greenlet waiting.

Under patching, threading's idea of the current thread inside a
greenlet (or in one of those native threads) is a dummy thread, whose
name ("Dummy-1") is no OS thread's. With "api" as argv[1] the tracer is
started here, after patching (threading's idents are then greenlets'),
and writes to argv[2]; else it runs under `stackwatch trace`. Prints
the names threading knows at the end and the main thread's kernel id
(JSON): the tracer must not have added any."""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

import gevent  # noqa: E402
from gevent import socket  # noqa: E402
from gevent.server import StreamServer  # noqa: E402


def handle(sock, addr):
    data = sock.recv(100)
    sock.sendall(b"ok " + data)
    sock.close()


def ticker(n):
    for _ in range(n):
        gevent.sleep(0.001)


def client(port, i):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"%d" % i)
    reply = s.recv(100)
    s.close()
    return reply


def main():
    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    jobs = [gevent.spawn(ticker, 20) for _ in range(3)]
    clients = [gevent.spawn(client, server.server_port, i) for i in range(4)]
    gevent.joinall(jobs + clients, timeout=30)
    assert [c.value for c in clients] == [b"ok %d" % i for i in range(4)]
    server.stop()


if sys.argv[1:2] == ["api"]:
    import stackwatch

    with stackwatch.Tracer(sys.argv[2], greenlets=True):
        main()
else:
    main()
print(json.dumps({"threads": sorted(t.name for t in threading.enumerate()),
                  "tid": threading.main_thread().native_id}))
