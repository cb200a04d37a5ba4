"""Headless Chromium for tests: screenshots, PNG decoding, page scripts.

Standard library only. Tests that need a real browser (the SVG flame
graph's script, what a document looks like) call find_chromium() and skip
when it returns None.

- find_chromium(): the path of Debian's ``chromium`` (or
  ``$STACKWATCH_CHROMIUM``), or None.
- screenshot(path, png_path): renders a file to a PNG.
- png_colors(png_path): (distinct colours, share of non-white pixels) of
  an 8-bit RGB/RGBA PNG, decoded with zlib and struct.
- run_in_page(svg_path, script_js): inlines an SVG document in an HTML
  page (so its own script runs), runs script_js after load and returns
  the JSON the script wrote into the element with id "result".
- run_in_html(html_path, script_js): the same in a copy of an HTML page,
  after the page's own scripts.

Every run uses a private, temporary ``--user-data-dir`` and a timeout, and
maps every host name to nothing, so a document that tries to fetch a
resource cannot reach the network. Run as root, Chromium needs
``--no-sandbox``; it is always passed, since these pages are our own.
"""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

__all__ = [
    "BrowserError",
    "find_chromium",
    "png_colors",
    "run_in_html",
    "run_in_page",
    "screenshot",
]

DEFAULT_TIMEOUT = 90.0

_BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    # Offline: no name resolves, so nothing can be fetched.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


class BrowserError(RuntimeError):
    """Chromium failed, timed out or produced no usable output."""


def find_chromium():
    """The path of the chromium executable, or None.

    ``$STACKWATCH_CHROMIUM`` wins when set to an executable; otherwise
    Debian's ``chromium`` on PATH or at /usr/bin/chromium.
    """
    env = os.environ.get("STACKWATCH_CHROMIUM")
    if env and os.access(env, os.X_OK):
        return env
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return None


def _file_url(path):
    return "file://" + os.path.abspath(path)


def _run_chromium(args, timeout):
    """Runs chromium with the base flags, a private profile and args.

    Returns the CompletedProcess (stdout and stderr as text). Raises
    BrowserError when chromium is missing, times out or exits non-zero.
    """
    exe = find_chromium()
    if exe is None:
        raise BrowserError("chromium not found (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="stackwatch-chromium-")
    cmd = [exe, *_BASE_FLAGS, "--user-data-dir=" + profile, *args]
    try:
        # A sanitizer runtime preloaded for the tests (make asan) is not
        # for the browser.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrowserError(
            "chromium timed out after %.0f s: %s" % (timeout, " ".join(cmd))
        ) from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise BrowserError(
            "chromium exited with %d: %s\n%s"
            % (proc.returncode, " ".join(cmd), err[-2000:])
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def screenshot(path, png_path, width=1300, height=900,
               timeout=DEFAULT_TIMEOUT):
    """Renders the file at path (SVG, HTML, ...) into png_path.

    Returns png_path. Raises BrowserError if no PNG was written.
    """
    png_path = os.path.abspath(png_path)
    if os.path.exists(png_path):
        os.unlink(png_path)
    _run_chromium(
        [
            "--screenshot=" + png_path,
            "--window-size=%d,%d" % (width, height),
            _file_url(path),
        ],
        timeout,
    )
    if not os.path.exists(png_path) or os.path.getsize(png_path) == 0:
        raise BrowserError("chromium wrote no screenshot to " + png_path)
    return png_path


# ---- PNG decoding ------------------------------------------------------


def _paeth(a, b, c):
    p = a + b - c
    pa = abs(p - a)
    pb = abs(p - b)
    pc = abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def _unfilter(kind, line, prev, bpp):
    """Reverses one scanline's filter (PNG filter types 0-4) in place."""
    n = len(line)
    if kind == 0:
        return
    if kind == 1:  # Sub
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:  # Up
        for i in range(n):
            line[i] = (line[i] + prev[i]) & 0xFF
    elif kind == 3:  # Average
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(n):
            if i >= bpp:
                a = line[i - bpp]
                c = prev[i - bpp]
            else:
                a = c = 0
            line[i] = (line[i] + _paeth(a, prev[i], c)) & 0xFF
    else:
        raise ValueError("bad PNG filter type %d" % kind)


def _read_png(png_path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG.

    Returns (width, height, bytes per pixel, list of bytearray rows).
    """
    with open(png_path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s is not a PNG file" % png_path)
    pos = 8
    header = None
    idat = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("%s has no IHDR chunk" % png_path)
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError(
            "%s: only 8-bit RGB/RGBA non-interlaced PNGs are supported "
            "(depth %d, colour type %d, interlace %d)"
            % (png_path, depth, colour, interlace)
        )
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    if len(raw) < height * (stride + 1):
        raise ValueError("%s: truncated image data" % png_path)
    rows = []
    prev = bytearray(stride)
    for y in range(height):
        at = y * (stride + 1)
        line = bytearray(raw[at + 1:at + 1 + stride])
        _unfilter(raw[at], line, prev, bpp)
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def png_colors(png_path):
    """Colour statistics of a PNG screenshot.

    Returns (distinct colours, share of non-white pixels in [0, 1]).
    Colours are RGB triples; in an RGBA image a pixel counts as white when
    it is white or fully transparent.
    """
    width, height, bpp, rows = _read_png(png_path)
    colours = set()
    nonwhite = 0
    white = b"\xff\xff\xff"
    for line in rows:
        for i in range(0, width * bpp, bpp):
            px = bytes(line[i:i + 3])
            colours.add(px)
            if px != white and not (bpp == 4 and line[i + 3] == 0):
                nonwhite += 1
    total = width * height
    return len(colours), (nonwhite / total if total else 0.0)


# ---- scripts in a page -------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>stackwatch test page</title></head>
<body style="margin:0">
%(svg)s
<pre id="result"></pre>
<script>
window.addEventListener("load", function () {
  var out = document.getElementById("result");
  try {
%(script)s
  } catch (err) {
    out.textContent = JSON.stringify({
      "__error__": String(err), "stack": String(err && err.stack)});
  }
  if (!out.textContent) {
    out.textContent = JSON.stringify({"__error__": "script wrote no result"});
  }
});
</script>
</body></html>
"""

_PROLOG = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.I)
_RESULT = re.compile(r'<pre id="result">(.*?)</pre>', re.S)


def _run_page(page, timeout):
    """Loads the HTML text `page` in headless Chromium, once it has
    loaded, and returns the JSON its script wrote into the element with
    id "result" (run_in_page, run_in_html). Raises BrowserError when the
    script threw, wrote nothing or wrote no JSON."""
    tmp = tempfile.mkdtemp(prefix="stackwatch-page-")
    try:
        page_path = os.path.join(tmp, "page.html")
        with open(page_path, "w", encoding="utf-8") as f:
            f.write(page)
        proc = _run_chromium(
            [
                "--dump-dom",
                "--virtual-time-budget=5000",
                "--window-size=1300,900",
                _file_url(page_path),
            ],
            timeout,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m = _RESULT.search(proc.stdout)
    if m is None:
        raise BrowserError(
            "no result element in the dumped page; stderr:\n"
            + proc.stderr[-2000:]
        )
    text = html.unescape(m.group(1))
    try:
        result = json.loads(text)
    except ValueError as exc:
        raise BrowserError("result is not JSON: %r" % text[:500]) from exc
    if isinstance(result, dict) and "__error__" in result:
        raise BrowserError(
            "page script failed: %s\n%s"
            % (result["__error__"], result.get("stack", ""))
        )
    return result


def run_in_page(svg_path, script_js, timeout=DEFAULT_TIMEOUT):
    """Runs script_js in a page that inlines the SVG document at svg_path.

    The SVG's own script runs as the page is parsed; script_js runs in the
    page's load handler and must write its result as JSON text into the
    element with id "result" (``out`` is bound to it). Returns the parsed
    JSON. Raises BrowserError when the script throws or writes nothing.
    """
    with open(svg_path, encoding="utf-8") as f:
        svg = _PROLOG.sub("", f.read(), count=1)
    if "</script" in script_js.lower():
        raise ValueError("script_js must not contain </script>")
    return _run_page(_PAGE % {"svg": svg, "script": script_js}, timeout)


def run_in_html(html_path, script_js, timeout=DEFAULT_TIMEOUT):
    """Runs script_js in a copy of the HTML page at html_path, after the
    page's own scripts, once it has loaded; like run_in_page, the script
    writes JSON into the element with id "result" (``out``, added to the
    copy) and the parsed JSON is returned."""
    with open(html_path, encoding="utf-8") as f:
        page = f.read()
    if "</script" in script_js.lower():
        raise ValueError("script_js must not contain </script>")
    tail = _PAGE.split("%(svg)s", 1)[1] % {"script": script_js}
    at = page.lower().rfind("</body>")
    if at < 0:
        raise ValueError("%s has no </body>" % html_path)
    page = page[:at] + tail.split("</body>", 1)[0] + page[at:]
    return _run_page(page, timeout)

