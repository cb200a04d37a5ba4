"""A gevent.pywsgi server whose handler spends its time in a CPU function
(fib), for tests/test_flamegraph_greenlets.py: recorded with
`stackwatch record --greenlets` while tests/targets/fg_load_client.py
keeps 50 connections busy.

Prints its port, serves until SECONDS (argv[1], default 4) after the
first request, then stops (closing the keep-alive connections) and exits,
so the recording ends and writes the profile."""
import sys

import gevent
from gevent.pywsgi import WSGIServer

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)  # fib


def handle_request(environ, start_response):
    if not started:
        started.append(1)
        gevent.spawn_later(SECONDS, server.stop, 1)
    body = b"%d\n" % fib(20)  # handler
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


started = []
# SERVER_NAME given: else pywsgi asks socket.getfqdn() for it, in gevent's
# thread pool, whose idle thread would then take half of a wall-mode
# profile.
server = WSGIServer(("127.0.0.1", 0), handle_request, log=None,
                    environ={"SERVER_NAME": "localhost"})
server.start()
print(server.server_port, flush=True)
server.serve_forever()
