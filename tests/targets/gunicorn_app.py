"""A WSGI app for gunicorn (`gunicorn_app:app`): each request computes
fib_handler(22) in pure Python, so a profile of the workers under load
is dominated by fib_handler and fib.

The gunicorn tests record gunicorn with 2 gevent workers serving this app
under a load the test makes, and look for fib_handler in the profile.
"""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_handler(environ):
    return b"%d\n" % fib(22)


def app(environ, start_response):
    body = fib_handler(environ)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
