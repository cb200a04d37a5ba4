"""A small stand-in for a server process, used by `make run`.

Worker threads handle "requests" (parse JSON, render a template, run a
regex, hash a payload, sort records), one thread waits on slow I/O, and the
main thread does a burst of pure-Python number crunching. Run it under the
profiler with:

    stackwatch record --threads -o demo.svg examples/demo.py
"""

import hashlib
import json
import queue
import random
import re
import threading
import time

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")
ROUTE = re.compile(r"^/(?P<section>[a-z]+)/(?P<id>\d+)(?:/(?P<action>\w+))?$")


def make_request(rng: random.Random) -> str:
    body = {"user": rng.choice(WORDS), "items": [
        {"sku": rng.randrange(10_000), "qty": rng.randrange(1, 5),
         "tags": rng.sample(WORDS, 3)} for _ in range(40)]}
    return json.dumps({"path": "/orders/%d/confirm" % rng.randrange(1000),
                       "body": body})


def render(order: dict) -> str:
    rows = []
    for item in order["items"]:
        rows.append("<tr><td>%(sku)s</td><td>%(qty)s</td><td>%(tags)s</td>"
                    "</tr>" % {"sku": item["sku"], "qty": item["qty"],
                               "tags": ", ".join(sorted(item["tags"]))})
    return "<table>%s</table>" % "".join(rows)


def checksum(page: str) -> str:
    digest = page.encode()
    for _ in range(200):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def rank(order: dict) -> list:
    return sorted(order["items"], key=lambda i: (-i["qty"], i["sku"]))


def handle(raw: str) -> str:
    request = json.loads(raw)
    match = ROUTE.match(request["path"])
    assert match is not None
    order = request["body"]
    rank(order)
    return checksum(render(order))


def worker(jobs: "queue.Queue[str]", done: list) -> None:
    while True:
        raw = jobs.get()
        if raw is None:
            return
        done.append(handle(raw))


def slow_backend(stop: threading.Event) -> None:
    while not stop.is_set():
        time.sleep(0.05)  # a blocking call: waiting on a socket, say


def crunch(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def main() -> None:
    rng = random.Random(42)
    jobs: "queue.Queue[str]" = queue.Queue()
    done: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(jobs, done),
                                name="worker-%d" % i) for i in range(3)]
    threads.append(threading.Thread(target=slow_backend, args=(stop,),
                                    name="backend"))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for _ in range(20):
            jobs.put(make_request(rng))
        crunch(200_000)
        while jobs.qsize() > 40:
            time.sleep(0.01)
    for _ in range(3):
        jobs.put(None)
    stop.set()
    for t in threads:
        t.join()
    print("handled %d requests" % len(done))


if __name__ == "__main__":
    main()
