"""A gevent StreamServer answering three clients (gevent's own greenlets
in one process), for `stackwatch trace --greenlets`: each connection's
handler (handle -> answer) must land on its own greenlet's track, named
by gevent's name and the handler."""

import gevent
from gevent import socket
from gevent.server import StreamServer


def answer(data):
    return data.upper()


def handle(sock, addr):
    data = sock.recv(100)
    sock.sendall(answer(data))
    sock.close()


def client(port, text):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(text)
    reply = s.recv(100)
    s.close()
    return reply


def main():
    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    jobs = [gevent.spawn(client, server.server_port, b"hi %d" % i)
            for i in range(3)]
    gevent.joinall(jobs, timeout=10)
    assert [j.value for j in jobs] == [b"HI %d" % i for i in range(3)]
    server.stop()


main()
