"""A WSGI app for gunicorn (`gunicorn_app:app`). Each request to "/"
computes fib_handler(22) in pure Python, so a profile of the workers
under load is dominated by fib_handler and fib. "/pool" runs pool_work()
(busy 2 s) in gevent's threadpool, a thread started without threading;
"/block" keeps the worker's hub busy in block_hub() for 1 s (a stall for
the watchdog).

The gunicorn tests record gunicorn with gevent workers serving this app
under a load the test makes and look for fib_handler in the profile;
the naming tests dump a worker (and read its watchdog report) while
pool_work or block_hub runs.
"""
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_handler(environ):
    return b"%d\n" % fib(22)


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def pool_work():
    busy(2.0)
    return b"pool done\n"


def block_hub():
    busy(1.0)
    return b"blocked\n"


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/pool":
        import gevent

        body = gevent.get_hub().threadpool.spawn(pool_work).get()
    elif path == "/block":
        body = block_hub()
    else:
        body = fib_handler(environ)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
