"""A load client: CONNECTIONS (argv[2], default 50) threads, each making
keep-alive GET requests on its own connection to 127.0.0.1:PORT (argv[1])
until the server closes it. Prints the number of answered requests."""
import http.client
import sys
import threading

port = int(sys.argv[1])
connections = int(sys.argv[2]) if len(sys.argv) > 2 else 50
done = []
lock = threading.Lock()


def client():
    n = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while True:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                break
            n += 1
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
        with lock:
            done.append(n)


threads = [threading.Thread(target=client) for _ in range(connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(done), len([n for n in done if n]))
