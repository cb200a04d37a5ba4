"""A gevent WSGI server under stackwatch.MemoryProfiler(argv[1],
greenlets=True): one handler, /grow, appends 1 MiB to a global list at
every request (kept); /echo allocates 1 MiB and lets it go. A client
thread (a real thread: gevent is not patched) opens three keep-alive
connections, each served by a connection greenlet of its own: 24
requests to /grow on the first, 24 to /echo on each of the others. The
profile ends while the connections are still open. Prints "served N".

argv: DIR."""
import http.client
import sys
import threading

import gevent
from gevent.pywsgi import WSGIServer

import stackwatch

CHUNK = 4096
MiB = 1024 * 1024
REQUESTS = 24
grown = []


def app(environ, start_response):
    blocks = [bytes(CHUNK) for _ in range(MiB // CHUNK)]
    if environ["PATH_INFO"] == "/grow":
        grown.append(blocks)
    body = b"%d\n" % len(blocks)
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


done = threading.Event()
close = threading.Event()
served = []


def client(port):
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)
             for _ in range(3)]
    for i in range(REQUESTS):
        for conn, path in zip(conns, ("/grow", "/echo", "/echo")):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            served.append(resp.status)
    done.set()
    close.wait(30)
    for conn in conns:
        conn.close()


prof = stackwatch.MemoryProfiler(sys.argv[1], greenlets=True)
prof.enable()
server = WSGIServer(("127.0.0.1", 0), app, log=None)
server.start()
t = threading.Thread(target=client, args=(server.server_port,),
                     name="client")
t.start()
while not done.is_set():
    gevent.sleep(0.02)
gevent.sleep(0.1)
prof.disable()
close.set()
while t.is_alive():
    gevent.sleep(0.02)
server.stop()
print("served %d" % served.count(200), flush=True)
