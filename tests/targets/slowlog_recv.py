"""Blocks in sock.recv until a timer thread sends, 1.2 s later, then
prints what it got and its arguments. Its frame has a secret local
(password) and a plain one (request_id).

The tests expect `stackwatch run`'s snapshots to show wait_for_data at the
recv line with its source, its arguments and locals, the password
redacted, and the script's own output and exit status untouched.
"""
import socket
import sys
import threading


def wait_for_data(sock, buffer_size):
    password = "hunter2-do-not-show"
    request_id = 4242
    assert password and request_id  # both shown in the snapshots
    return sock.recv(buffer_size)


a, b = socket.socketpair()
threading.Timer(1.2, b.send, (b"payload",)).start()
print("got", wait_for_data(a, 4096), sys.argv[1:])  # print-got
