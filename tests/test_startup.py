"""Start-up cost of `stackwatch record` and `run` (issue 12, item 15): what
they load before the target runs (not timing based: the figures are
bench/startup.py's), and the quick parse of their command lines, which
must give what argparse gives."""

import sys

import pytest

from conftest import child_env, run_cli, run_target, target_path
from stackwatch import cli

#: Costly modules that neither command loads for a program that does not
#: (argparse with gettext, locale and shutil; typing; tempfile with random;
#: asyncio and greenlet are the program's to import: test_run_unchanged).
#: (runpy is not imported for a script either, but the tests run
#: `python -m stackwatch`, and python's -m imports it.)
NOT_LOADED = ["argparse", "gettext", "locale", "shutil", "typing",
              "tempfile", "random", "asyncio", "greenlet", "datetime",
              "weakref", "math"]

#: What dumps used to load at start (and so did every command and process
#: with dumps enabled): json with re and enum; linecache with tokenize;
#: signal with enum. Our threads must not import while the program runs,
#: so the dumps' JSON (stackwatch._jsonout), source lines
#: (stackwatch._capture.read_source) and signal numbers (_signal) do
#: without them.
DUMP_FREE = ["json", "re", "enum", "linecache", "tokenize", "signal",
             "traceback"]


def loaded_under(*command: str, env=None):
    proc = run_cli(*command, target_path("imports_loaded"), "nothing",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.splitlines())


@pytest.mark.parametrize("command", [
    ["record", "-f", "collapsed", "-o", "OUT"],
    ["record", "--threads", "-r", "200", "-o", "OUT"],
    ["run"],
    ["run", "--max-blocking-time", "0.2", "--interval", "1", "--no-locals"],
])
def test_record_and_run_load_no_costly_module(tmp_path, command):
    command = [str(tmp_path / "p.txt") if a == "OUT" else a for a in command]
    names = loaded_under(*command, env=child_env(TMPDIR=str(tmp_path)))
    assert "stackwatch.cli" in names and "dumping enabled: True" in names
    # (On 3.9, runpy, which runs the target, imports typing (with re and
    # enum) itself, and with pkgutil, weakref: the tests run `python -m
    # stackwatch`. test_dump_autostart_loads_no_json_re_or_linecache
    # checks those on 3.9 too.)
    runpy_39 = {"typing", "weakref", "re", "enum"} \
        if sys.version_info < (3, 10) else set()
    assert sorted(names & (set(NOT_LOADED) - runpy_39)) == []
    assert sorted(names & (set(DUMP_FREE) - runpy_39)) == []
    # `run` samples nothing: no profiler (nor its fork hand-over).
    assert ("stackwatch.profiler" in names) == (command[0] == "record")


def test_dump_autostart_loads_no_json_re_or_linecache():
    proc = run_target("imports_loaded", "nothing",
                      env=child_env(STACKWATCH_DUMP="1"))
    names = set(proc.stdout.splitlines())
    assert "dumping enabled: True" in names
    assert "stackwatch.runinfo" in names  # (loaded for our threads)
    assert sorted(names & set(DUMP_FREE + NOT_LOADED)) == []
    # Nor importlib (with warnings): the public names load without it.
    assert "importlib" not in names


def test_monitor_autostart_loads_no_costly_module():
    proc = run_target("imports_loaded", "nothing",
                      env=child_env(STACKWATCH_MONITOR="1"))
    names = set(proc.stdout.splitlines())
    assert "stackwatch.monitor" in names
    assert sorted(names & set(NOT_LOADED)) == []
    # Nor what only dumps need (the run information's source lines:
    # linecache, with tokenize and re), nor traceback.
    assert sorted(names & {"re", "linecache", "tokenize", "traceback",
                           "textwrap", "json"}) == []


def argparse_namespace(command, own):
    return vars(cli.build_parser().parse_args([command] + own))


#: Command lines (each command's own part, up to the target) that the
#: quick parse takes.
PLAIN = [
    ("record", ["x.py"]),
    ("record", ["-o", "out.svg", "x.py"]),
    ("record", ["-o", "-", "-f", "collapsed", "x.py"]),
    ("record", ["--output", "o.json", "--format", "speedscope", "-r", "250",
                "-d", "1.5", "--mode", "cpu", "--threads", "--greenlets",
                "--budget", "0.02", "--signal", "SIGUSR2", "x.py"]),
    ("record", ["-r", "10", "-r", "20", "-m", "http.server"]),
    ("record", ["--threads"]),
    ("record", []),
    ("run", ["x.py"]),
    ("run", ["--max-blocking-time", "off", "--max-memory", "1G",
             "--memory-period", "2", "--report", "r.log",
             "--format-run-info", "--logging", "--no-asyncio",
             "--interval", "0.5", "--log", "l.log", "--log-max", "1M",
             "--no-locals", "--gil-wait", "0.1", "--signal", "40", "x.py"]),
    ("run", ["--no-locals", "--locals", "-m", "pkg.mod"]),
]

#: Command lines the quick parse leaves to argparse (other spellings, and
#: mistakes, whose messages are argparse's).
OTHERS = [
    ("record", ["--out", "x.svg", "x.py"]),    # an abbreviation
    ("record", ["--output=x.svg", "x.py"]),
    ("record", ["-ox.svg", "x.py"]),
    ("record", ["-h"]),
    ("record", ["--rate", "abc", "x.py"]),
    ("record", ["-f", "pdf", "x.py"]),
    ("record", ["-d", "-1", "x.py"]),
    ("record", ["-o"]),
    ("record", ["--nope", "x.py"]),
    ("record", ["x.py", "y.py"]),
    ("run", ["--interval", "-1", "x.py"]),
    ("run", ["--help"]),
]


@pytest.mark.parametrize("command, own", PLAIN)
def test_the_quick_parse_gives_what_argparse_gives(command, own):
    quick = cli._quick_parse(command, own)
    assert quick is not None
    assert vars(quick) == argparse_namespace(command, own)


@pytest.mark.parametrize("command, own", OTHERS)
def test_other_command_lines_are_left_to_argparse(command, own):
    assert cli._quick_parse(command, own) is None


def test_record_and_run_messages_stay_argparses(tmp_path):
    """A command line left to argparse is parsed, and refused, as before."""
    proc = run_cli("record", "--rate", "abc", "x.py")
    assert proc.returncode == 2
    assert proc.stderr == ("stackwatch record: error: argument -r/--rate: "
                           "not a number: 'abc' (see 'stackwatch record "
                           "--help')\n")
    proc = run_cli("run", "--out", "x.py")
    assert proc.returncode == 2
    assert proc.stderr == ("stackwatch: error: unrecognized arguments: "
                           "--out (see 'stackwatch --help')\n")
    assert "usage:" in run_cli("record", "--help").stdout
    assert sys.modules.get("argparse") is not None  # (this test built one)


class _Custom(Exception):
    pass


def _raise_chain():
    try:
        {}["key"]
    except KeyError as e:
        try:
            raise _Custom("while handling") from e
        except _Custom:
            raise ValueError()


def test_errors_of_ours_are_shown_as_traceback_shows_them():
    """_service.format_exception (reports of stackwatch's own errors,
    without importing traceback) gives traceback's text: chained
    exceptions, qualified names, empty messages, source lines."""
    import traceback

    from stackwatch import _service

    for raise_it in (_raise_chain, lambda: 1 / 0):
        try:
            raise_it()
        except Exception as e:
            exc = e
        theirs = "".join(traceback.format_exception(type(exc), exc,
                                                    exc.__traceback__))
        # (3.11+ marks the failing expression with ^~~ lines: left out.)
        theirs = "".join(line for line in theirs.splitlines(True)
                         if line.strip(" ~^\n") or not line.strip())
        assert _service.format_exception(exc) == theirs


@pytest.mark.parametrize("how", ["STACKWATCH_DUMP=1", "run"])
def test_our_threads_import_nothing_while_the_program_runs(tmp_path, how):
    """What the dump, service and monitor threads use is imported at
    start: a dump with locals (text and JSON) and the slow-script log's
    snapshots load no module (3.13's linecache imports tokenize on first
    use: pre-imported)."""
    import subprocess

    from conftest import stackwatch_cmd, wait_for

    done = tmp_path / "done"
    target = [target_path("startup_no_lazy_imports"), str(done)]
    if how == "run":
        cmd = stackwatch_cmd("run", "--interval", "0.1",
                             "--max-blocking-time", "0.1", *target)
        env = child_env(TMPDIR=str(tmp_path))
    else:
        cmd = [sys.executable] + target
        env = child_env(STACKWATCH_DUMP="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline() == "ready\n"
        for args in (["--locals"], ["--json", "--locals"], []):
            dump = run_cli("dump", *args, str(proc.pid))
            assert dump.returncode == 0, dump.stderr
        if how == "run":  # two snapshots with locals
            wait_for(lambda: sum(
                log.read_text().count("Full backtrace with local variables")
                for log in tmp_path.glob("stackwatch-slow-*.log")) >= 2)
        done.write_text("")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.split("new:\n", 1)[1] == "", out


#: Values of every kind run information's JSON holds, and json's corners.
JSON_VALUES = [
    {}, [], (), "", 0, -1, 10 ** 30, 1.5, -0.0, 1e300, float("nan"),
    float("inf"), float("-inf"), True, False, None,
    "plain", "quote \" backslash \\ slash / tab \t nl \n cr \r nul \x00",
    "\x1f \x7f \u00e9 \u2028 \U0001f600 \ud800",
    {"a": 1, "b": [1, 2, {"c": None}], "d": {"e": {}}, "f": []},
    {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    [object, ValueError("bad"), b"bytes", {1, 2}.__class__],
    {"threads": [{"kind": "thread", "frames": [{"line": 3, "file": "x.py",
                                                 "locals": {"k": "'v'"}}],
                  "info": {"held_gil": True, "native_id": 1234}}],
     "notes": ["a note"]},
]


@pytest.mark.parametrize("indent", [None, 0, 2, 4])
def test_dump_json_is_jsons_text(indent):
    """stackwatch._jsonout (the dumps' JSON without the json package)
    writes what json.dumps(..., default=str) writes."""
    import json

    from stackwatch import _jsonout

    for value in JSON_VALUES + [JSON_VALUES]:
        assert _jsonout.dumps(value, indent=indent) == json.dumps(
            value, indent=indent, default=str), value


def test_dump_json_refuses_what_json_refuses():
    from stackwatch import _jsonout

    loop: list = [1]
    loop.append({"back": loop})
    with pytest.raises(ValueError, match="Circular reference"):
        _jsonout.dumps(loop)
    with pytest.raises(TypeError, match="keys must be"):
        _jsonout.dumps({(1, 2): "tuple key"})


#: Source files as bytes (name, content) and the encoding python reads
#: each with: cookies on line 1 or 2 (only after a comment or blank line),
#: a BOM, line ends of every kind.
SOURCES = [
    ("plain", "x = 1\ny = 'caf\u00e9'\n\n  z = 3  \n".encode()),
    ("crlf", b"a = 1\r\nb = 2\rc = 3\r\n\r\nd = 4"),
    ("latin1", "# -*- coding: latin-1 -*-\ns = '\u00e9t\u00e9'\n"
     .encode("latin-1")),
    ("second", "#!/usr/bin/env python\n# vim: set fileencoding=iso-8859-1 :"
     "\ns = '\u00ff'\n".encode("latin-1")),
    ("blank first", "\n# coding=latin-1\ns = '\u00e0'\n".encode("latin-1")),
    ("code first", "x = 1\n# coding: latin-1\ns = 'caf\u00e9'\n".encode()),
    ("bom", "\ufeffs = 'caf\u00e9'\n".encode("utf-8")),
    ("utf8 cookie", "# coding: utf-8\ns = '\u2603'\n".encode()),
    ("cp1252", "# coding: cp1252\ns = '\u20ac'\n".encode("cp1252")),
    ("two cookies", "# codingX coding: latin-1 coding: utf-8\ns = '\u00e9'\n"
     .encode("latin-1")),
]


@pytest.mark.parametrize("name, data", SOURCES, ids=[s[0] for s in SOURCES])
def test_source_lines_are_linecaches(tmp_path, name, data):
    """Run information's source lines (read without linecache, which loads
    tokenize and re) are linecache's, line by line."""
    import codecs
    import linecache

    from stackwatch._capture import SourceLines, read_source

    path = tmp_path / (name.replace(" ", "_") + ".py")
    path.write_bytes(data)
    codecs.lookup("cp1252")  # (loaded, as compiling such a file does)
    expected = linecache.getlines(str(path))
    assert expected  # (linecache could read it)
    ours = read_source(str(path))
    assert ours is not None
    for n in range(0, len(expected) + 3):
        theirs = expected[n - 1] if 1 <= n <= len(expected) else ""
        mine = ours[n - 1] if 1 <= n <= len(ours) else ""
        assert mine.rstrip("\n") == theirs.rstrip("\n"), n
        assert SourceLines().line(str(path), n) == theirs.strip()


def test_source_lines_without_importing(tmp_path, monkeypatch):
    """A relative name is looked for under sys.path, as linecache does;
    pseudo-files, FIFOs and cookies whose codec is not loaded (decoding
    would import it) give no line; the lines the program gave linecache
    are used."""
    import os
    import sys

    from stackwatch import _capture

    (tmp_path / "rel.py").write_text("first\nsecond\n")
    monkeypatch.setattr(sys, "path", ["/nonexistent", str(tmp_path)])
    assert _capture.read_source("rel.py")[:2] == ["first", "second"]
    assert _capture.read_source("<string>") is None
    assert _capture.read_source(str(tmp_path / "missing.py")) is None
    os.mkfifo(str(tmp_path / "fifo.py"))
    assert _capture.read_source(str(tmp_path / "fifo.py")) is None
    (tmp_path / "odd.py").write_bytes(b"# coding: iso2022_jp_ext\nx = 1\n")
    assert "encodings.iso2022_jp_ext" not in sys.modules
    assert _capture.read_source(str(tmp_path / "odd.py")) is None
    assert "encodings.iso2022_jp_ext" not in sys.modules
    import linecache

    monkeypatch.setitem(linecache.cache, "<cell 1>",
                        (10, None, ["a = 1\n", "  b = 2\n"], "<cell 1>"))
    assert _capture.SourceLines().line("<cell 1>", 2) == "b = 2"


@pytest.mark.parametrize("how", ["python", "record", "run"])
def test_the_target_is_compiled_without_compiles_first_call_cost(tmp_path,
                                                                  how):
    """The builtin compile() builds the ast module's node types on its
    first call (~10 M instructions): python does not to run a script, nor
    do `stackwatch record` and `run` (csrc/runner_py.c)."""
    target = target_path("startup_ast_types")
    if how == "python":
        proc = run_target("startup_ast_types", check=True)
    elif how == "record":
        proc = run_cli("record", "-f", "collapsed", "-o",
                       str(tmp_path / "p.txt"), target)
    else:
        proc = run_cli("run", target, env=child_env(TMPDIR=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["before: False",
                                        "after compile(): True"]


#: Sources compile_file must compile as compile(source, path, "exec",
#: dont_inherit=True) does: cookies, a BOM, future imports, CRLF.
COMPILE_SOURCES = [
    b"x = 1\ndef f(a, *, b=2):\n    return a + b\n",
    "# -*- coding: latin-1 -*-\ns = 'caf\u00e9'\n".encode("latin-1"),
    "\ufeffs = '\u2603'\n".encode("utf-8"),
    b"from __future__ import annotations\ndef f(x: Undefined) -> 1: pass\n",
    b"a = 1\r\nb = [a,\r\n  2]\r\n",
    b"",
]


def test_compile_file_is_compile():
    import marshal

    from stackwatch import _native

    for source in COMPILE_SOURCES:
        ours = _native.compile_file(source, "/some/where/t.py")
        theirs = compile(source, "/some/where/t.py", "exec",
                         dont_inherit=True)
        assert marshal.dumps(ours) == marshal.dumps(theirs), source
    for bad in (b"x = (\n", b"def f(:\n    pass\n",
                b"# coding: latin-1\n\xef\xbb\xbfx = 1\n", b"\xff = 1\n"):
        with pytest.raises(SyntaxError) as ours:
            _native.compile_file(bad, "t.py")
        with pytest.raises(SyntaxError) as theirs:
            compile(bad, "t.py", "exec", dont_inherit=True)
        assert ours.value.args == theirs.value.args
    # A NUL byte: the caller lets compile() say so in its own words.
    assert _native.compile_file(b"x = 1\0\n", "t.py") is None
