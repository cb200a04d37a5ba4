"""Small HTTP clients for the endpoint's tests: a plain GET (status,
headers, body), raw bytes in and out, and the address from a child's
"serving http://ADDRESS/" line."""

import re
import socket
import time
from typing import Dict, Optional, Tuple


def connect(address: str, timeout: float = 10.0) -> socket.socket:
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
        return s
    host, _, port = address.rpartition(":")
    s = socket.create_connection((host.strip("[]"), int(port)),
                                 timeout=timeout)
    return s


def raw(address: str, data: bytes, timeout: float = 10.0) -> bytes:
    """Sends data, returns everything received until the server closes."""
    s = connect(address, timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


def parse(resp: bytes) -> Tuple[int, Dict[str, str], bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def get(address: str, path: str, token: Optional[str] = None,
        timeout: float = 10.0) -> Tuple[int, Dict[str, str], bytes]:
    req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
    if token is not None:
        req += "Authorization: Bearer %s\r\n" % token
    return parse(raw(address, (req + "\r\n").encode(), timeout))


def timed_get(address: str, path: str) -> Tuple[float, int, bytes]:
    t = time.monotonic()
    status, _, body = get(address, path)
    return time.monotonic() - t, status, body


def serving_address(line: str) -> Optional[str]:
    m = re.search(r"stackwatch: serving http://(\S+)/", line)
    return m.group(1) if m else None
