"""Run information (stackwatch.runinfo): format_run_info, print_run_info
and RunTree over real threads, raw greenlets, gevent and asyncio, with
locals through the safe repr (redaction, cuts, failing reprs).

Every scenario is a script under tests/targets/ (runinfo_*.py) run by a
child interpreter; the child prints JSON on its last stdout line, and the
test asserts on it.
"""

import json
import re
import sys

import pytest

from conftest import child_env, line_with, run_target


def run_child(name, env=None):
    """Runs target `name`; returns the completed child."""
    proc = run_target(name, timeout=60, env=env)
    assert proc.returncode == 0, "child failed:\n%s\n%s" % (proc.stdout,
                                                            proc.stderr)
    return proc


def child_json(name, env=None):
    """Runs target `name`; returns the JSON of its last stdout line."""
    out = run_child(name, env).stdout
    return json.loads(out.strip().splitlines()[-1])


def short(name):
    """A frame's function name without the qualifying class (3.11+)."""
    return name.rsplit(".", 1)[-1]


def names(node):
    return [short(f["name"]) for f in node["stack"]]


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n["children"])


def only(nodes, pred, what):
    found = [n for n in walk(nodes) if pred(n)]
    assert len(found) == 1, (what, [(n["kind"], n["name"], n["state"])
                                    for n in walk(nodes)])
    return found[0]


def named(nodes, name):
    return only(nodes, lambda n: n["name"] == name, name)


def text_line(text, start):
    """The one line of text that starts with start after its indentation
    (spaces, and the '|' of a tree)."""
    found = [ln.lstrip(" |").rstrip() for ln in text.splitlines()
             if ln.lstrip(" |").startswith(start)]
    assert len(found) == 1, (start, found, text)
    return found[0]


# ---- 1. threads -------------------------------------------------------------

def test_threads_names_daemon_ids_stacks_and_locals():
    doc = child_json("runinfo_threads")
    tree = doc["tree"]
    assert tree["notes"] == []
    assert tree["greenlets"] == [] and tree["tasks"] == []
    threads = tree["threads"]
    assert [t["name"] for t in threads] == ["MainThread", "blocker"]
    main, blocker = threads
    assert blocker["kind"] == "thread" and blocker["state"] == "alive"
    assert blocker["id"] == doc["ident"] == blocker["info"]["ident"]
    assert blocker["info"]["daemon"] is True
    assert isinstance(blocker["info"]["native_id"], int)
    assert blocker["info"]["native_id"] == doc["native_id"]
    assert main["info"]["daemon"] is False
    assert main["info"]["ident"] == doc["main_ident"]
    assert main["info"]["held_gil"] is True
    assert blocker["info"]["held_gil"] is False

    # The blocked thread: innermost first, threading's wait above ours.
    stack = blocker["stack"]
    assert "blocked_here" in names(blocker)
    i = names(blocker).index("blocked_here")
    assert i > 0 and names(blocker)[i - 1] == "wait"  # Event.wait
    assert names(blocker)[i + 1] == "run"  # Thread.run
    frame = stack[i]
    assert frame["line"] == "stop.wait()"
    assert frame["filename"].endswith("runinfo_threads.py")
    assert frame["lineno"] == line_with("runinfo_threads", "stop.wait()")
    assert frame["args"] == ["x"]
    assert frame["locals"] == {"x": "21", "count": "42", "label": "'hello'"}

    # The calling thread: no stackwatch frames, its own code on top.
    assert names(main)[:2] == ["caller", "<module>"]
    assert main["stack"][0]["line"] == \
        "tree = stackwatch.RunTree(locals=True)"
    assert main["stack"][1]["line"] == "tree, text = caller()"
    pkg = doc["pkg"]
    assert not [f for f in main["stack"] if f["filename"].startswith(pkg)]

    text = doc["text"]
    assert text.startswith("Threads (2), most recent call first:\n")
    assert re.search(r"^Thread blocker \(ident %#x, native id %d, daemon\)$"
                     % (doc["ident"], doc["native_id"]), text, re.M), text
    assert "Thread MainThread (ident %#x, native id " % doc["main_ident"] \
        in text
    assert text_line(text, "Arguments: blocked_here(") == \
        "Arguments: blocked_here(x=21)"
    assert text_line(text, "count =") == "count = 42"
    assert text_line(text, "label =") == "label = 'hello'"
    assert "text = stackwatch.format_run_info(locals=True)" in text
    assert pkg not in text  # no stackwatch frame in the caller's stack


def test_threads_without_locals_and_without_threads():
    doc = child_json("runinfo_threads_plain")
    blocker = named(doc["plain"]["threads"], "blocker")
    frame = blocker["stack"][names(blocker).index("blocked_here")]
    assert frame["line"] == "stop.wait()"
    assert frame["args"] is None and frame["locals"] is None
    assert doc["none"]["threads"] == []
    assert doc["plain"]["threads"], doc["plain"]
    assert "blocked_here" in doc["text"], doc["text"]
    assert "Arguments:" not in doc["text"]
    assert "Local variables:" not in doc["text"]


# ---- 2. redaction -----------------------------------------------------------

# runinfo_secrets.py's secret values. It builds them at run time, so that
# they are in no source line either: finding one in the output means a
# value was shown.
SECRET_VALUES = ("pw-VALUE-1", "ak-VALUE-2", "sid-VALUE-3", "Bearer VALUE-4",
                 "tok-VALUE-5", "pk-VALUE-6", "s3cr3t")


def test_secret_looking_names_are_redacted():
    doc = child_json("runinfo_secrets")
    text = doc["text"]
    for value in SECRET_VALUES:
        assert value not in text, (value, text)
    assert text_line(text, "Arguments: handler(") == \
        "Arguments: handler(token=<redacted>, user='bob')"
    for name in ("password", "api_key", "session_id", "Authorization"):
        assert text_line(text, name + " =") == name + " = <redacted>"
    assert text_line(text, "headers =") == \
        "headers = {'cookie': <redacted>, 'x': 1}"
    assert text_line(text, "nested =") == \
        "nested = [{'Private-Key': <redacted>}, 'ok']"
    assert text_line(text, "plain =") == "plain = 'visible-value'"
    # Not a default pattern.
    assert text_line(text, "customer_email =") == \
        "customer_email = 'alice@example.com'"

    frame = doc["frame"]
    assert frame["name"] == "handler" and frame["args"] == ["token", "user"]
    loc = frame["locals"]
    assert loc["token"] == loc["password"] == loc["api_key"] == \
        loc["session_id"] == loc["Authorization"] == "<redacted>"
    assert loc["user"] == "'bob'"
    assert loc["headers"] == "{'cookie': <redacted>, 'x': 1}"
    assert loc["nested"] == "[{'Private-Key': <redacted>}, 'ok']"
    assert not any(v in json.dumps(frame) for v in SECRET_VALUES)
    # ... and the values that are no secret are all there.
    assert loc["plain"] == "'visible-value'"
    assert loc["customer_email"] == "'alice@example.com'"
    assert loc["billing_addr"] == "'1 Main Street'"

    session, nothing, default = doc["direct"]
    assert session == "{'Session': <redacted>, 'other': 2}"
    assert nothing == "{'password': 1}"
    assert default == "{'password': <redacted>}"
    for name in ("password", "token", "api_key", "cookie", "session",
                 "authorization"):
        assert name in doc["defaults"]


def test_redact_argument_replaces_the_defaults():
    text = child_json("runinfo_secrets")["replaced"]
    assert text_line(text, "password =") == "password = 'pw-VALUE-1'"
    assert text_line(text, "Arguments: handler(") == \
        "Arguments: handler(token='tok-VALUE-5', user='bob')"
    assert text_line(text, "headers =") == \
        "headers = {'cookie': 's3cr3t', 'x': 1}"
    assert text_line(text, "nested =") == \
        "nested = [{'Private-Key': 'pk-VALUE-6'}, 'ok']"
    assert "<redacted>" not in text


def test_stackwatch_redact_adds_patterns():
    doc = child_json("runinfo_secrets", env=child_env(
        STACKWATCH_REDACT="customer, Billing-Addr"))
    text = doc["text"]
    assert text_line(text, "customer_email =") == "customer_email = <redacted>"
    assert text_line(text, "billing_addr =") == "billing_addr = <redacted>"
    assert "alice@example.com" not in text and "1 Main Street" not in text
    # Added to the defaults, not instead of them.
    assert text_line(text, "password =") == "password = <redacted>"
    for value in SECRET_VALUES:
        assert value not in text
    assert doc["frame"]["locals"]["customer_email"] == "<redacted>"
    assert text_line(text, "plain =") == "plain = 'visible-value'"
    # An explicit redact= list wins over the variable too.
    assert text_line(doc["replaced"], "customer_email =") == \
        "customer_email = 'alice@example.com'"


def test_secret_keys_of_dict_subclasses_are_redacted():
    doc = child_json("runinfo_dict_subclasses")
    assert len(doc) == 3, doc
    for shown, key, secret in zip(doc, ("password", "cookie", "token"),
                                  ("hunter2", "c00k", "t0k3n")):
        assert secret not in shown, shown
        # The key is shown, its value replaced.
        assert "'%s'" % key in shown and "<redacted>" in shown, shown


# ---- 3. limits --------------------------------------------------------------

def test_long_and_deep_values_are_cut():
    doc = child_json("runinfo_limits")
    text = doc["text"]
    assert len(text) < 20000, len(text)
    assert doc["defaults"] == [240, 20, 3, 100]

    big_str = repr("a" * 240) + "... <cut: str of 10000000 characters>"
    big_bytes = repr(b"b" * 240) + "... <cut: bytes of 10000000 bytes>"
    many = "[%s, ... <980 more, 1000 in all>]" % ", ".join(
        str(i) for i in range(20))
    assert text_line(text, "big_text =") == "big_text = " + big_str
    assert text_line(text, "big_blob =") == "big_blob = " + big_bytes
    assert text_line(text, "numbers =") == "numbers = " + many
    deep_line = text_line(text, "deep =")
    assert "bottom" not in deep_line and "<list of 1 items>" in deep_line
    long_line = text_line(text, "long_repr =")
    assert long_line == "long_repr = " + "R" * 240 + \
        "... <cut: repr of 1000 characters>"

    assert doc["str"] == big_str
    assert doc["bytes"] == big_bytes
    assert doc["bytearray"] == repr(bytearray(240)) + \
        "... <cut: bytes of 300 bytes>"
    assert doc["list"] == many
    assert doc["dict"] == "{%s, ... <10 more, 30 in all>}" % ", ".join(
        "%d: %d" % (i, i) for i in range(20))
    assert doc["repr"] == "R" * 240 + "... <cut: repr of 1000 characters>"
    # Limits has floors (16 characters).
    assert doc["length16"] == repr("x" * 16) + \
        "... <cut: str of 300 characters>"
    assert doc["items2"] == "(0, 1, ... <3 more, 5 in all>)"
    assert doc["small"] == ["(1,)", "[]", "{}", "{1}", "frozenset({2})",
                            "'s'", "b'b'", "None"]

    # Nesting: each level of depth shows one more level of brackets, a
    # cut level says what it was; deep enough shows it all.
    d2, d3, d4, d10 = doc["deep"]
    assert d10 == repr([[[[["bottom"]]]]])
    for cut in (d2, d3, d4):
        assert "bottom" not in cut and cut.count("<list of 1 items>") == 1
    levels = [s.index("<") for s in (d2, d3, d4)]
    assert levels[1] == levels[0] + 1 and levels[2] == levels[1] + 1
    assert d3 == text_line(text, "deep =")[len("deep = "):]

    # At most `locals` variables a frame, the rest counted.
    few = doc["few"]
    assert list(few) == ["big_text", "big_blob", "numbers", "..."]
    assert few["..."] == "<4 more variables>"  # of 7


# ---- 4. failing reprs -------------------------------------------------------

def test_failing_reprs_show_a_placeholder():
    doc = child_json("runinfo_failing_reprs")
    bad = "<__main__.Raises object at %s; repr() failed: ValueError>" \
        % doc["bad"]
    odd = "<__main__.NotStr object at %s; repr() failed: TypeError>" \
        % doc["odd"]
    arg = "<__main__.Raises object at %s; repr() failed: ValueError>" \
        % doc["arg"]
    loc = doc["locals"]
    assert loc == {"arg": arg, "before": "1", "bad": bad, "odd": odd,
                   "inside": "[1, %s]" % bad, "mapping": "{'k': %s}" % odd,
                   "after": "'still shown'"}
    assert doc["notes"] == []
    assert doc["direct"] == [bad, odd]
    text = doc["text"]
    assert text_line(text, "Arguments: frame(") == "Arguments: frame(arg=%s)" \
        % arg
    assert text_line(text, "bad =") == "bad = " + bad
    assert text_line(text, "odd =") == "odd = " + odd
    assert text_line(text, "before =") == "before = 1"
    assert text_line(text, "after =") == "after = 'still shown'"
    assert "no repr for you" not in text


# ---- 5. raw greenlets -------------------------------------------------------

def test_raw_greenlets_hang_under_their_parent():
    doc = child_json("runinfo_greenlets")
    assert doc["dead"] == [False, True]
    roots = doc["tree"]["greenlets"]
    assert len(roots) == 1, [n["name"] for n in roots]
    root = roots[0]
    assert root["kind"] == "greenlet"
    assert re.match(r"main greenlet #\d+ of thread MainThread$",
                    root["name"]), root["name"]
    assert root["state"] == "running" and root["stack"] == []
    assert root["info"]["thread"] == "MainThread"

    by_state = {n["state"]: n for n in root["children"]}
    assert sorted(by_state) == ["dead", "not started", "suspended"]
    g1 = by_state["suspended"]
    assert re.match(r"greenlet #\d+$", g1["name"])
    assert names(g1) == ["outer_work"]
    assert g1["stack"][0]["line"] == "g2.switch(7)"  # where g1 left off
    assert g1["stack"][0]["locals"]["g2"].startswith("<greenlet.greenlet ")
    assert len(g1["children"]) == 1
    g2 = g1["children"][0]
    assert g2["state"] == "suspended" and g2["children"] == []
    assert names(g2)[0] == "inner_work"
    assert g2["stack"][0]["line"] == "main.switch()"
    assert g2["stack"][0]["args"] == ["n"]
    assert g2["stack"][0]["locals"] == {"n": "7", "depth": "8"}
    dead = by_state["dead"]
    assert dead["stack"] == [] and dead["children"] == []
    assert "function" not in dead["info"]
    fresh = by_state["not started"]
    assert fresh["stack"] == [] and fresh["info"]["function"] == "outer_work"
    ids = [n["id"] for n in walk(roots)]
    assert len(set(ids)) == 5 and all(isinstance(i, int) for i in ids)

    text = doc["text"]
    assert "\nGreenlets, as a tree by spawner:\n" in text
    assert re.search(r"^\+-- main greenlet #\d+ of thread MainThread: "
                     r"running$", text, re.M)
    # (a started greenlet no longer has its `run`: "runs" is optional)
    assert re.search(r"^    \+-- greenlet #%d: suspended( \(runs "
                     r"outer_work\))?$" % g1["id"], text, re.M), text
    assert re.search(r"^        \+-- greenlet #%d: suspended( \(runs "
                     r"inner_work\))?$" % g2["id"], text, re.M), text
    assert re.search(r"^    \+-- greenlet #%d: not started \(runs "
                     r"outer_work\)$" % fresh["id"], text, re.M), text
    assert text_line(text, "Arguments: inner_work(") == \
        "Arguments: inner_work(n=7)"
    assert re.search(r"^    \+-- greenlet #%d: dead$" % dead["id"], text,
                     re.M), text


# ---- 6. gevent --------------------------------------------------------------

def test_gevent_tree_by_spawner_with_details():
    doc = child_json("runinfo_gevent")
    roots = doc["tree"]["greenlets"]
    assert doc["tree"]["notes"] == []
    assert len(roots) == 1
    main = roots[0]
    assert main["name"].endswith(" of thread MainThread")
    assert main["state"] == "running"

    parent = only(roots, lambda n: n["info"].get("gevent_name") == "Parent",
                  "Parent")
    assert parent in main["children"]  # spawned by the main greenlet
    assert parent["name"] == "Parent #%d" % parent["id"]
    assert parent["state"] == "suspended"
    assert parent["info"]["minimal_ident"] == doc["idents"]["parent"]
    assert names(parent)[:2] == ["sleep", "parent"]
    assert parent["stack"][1]["line"] == "gevent.sleep(5)"
    assert parent["stack"][1]["locals"]["kids"].startswith("(<Greenlet ")
    spawned = parent["info"]["spawning_stack"]
    assert short(spawned[0]["name"]) == "<module>"
    assert spawned[0]["line"] == "p = gevent.spawn(parent)"
    assert spawned[0]["filename"].endswith("runinfo_gevent.py")
    assert parent["info"]["spawn_tree_locals"] == {
        "tenant": "'acme'", "session_key": "<redacted>"}

    # In spawning order (minimal_ident is given out lazily, in any order).
    kids = sorted(parent["children"],
                  key=lambda n: n["info"]["spawning_stack"][0]["lineno"])
    assert len(kids) == 2
    idents = [k["info"]["minimal_ident"] for k in kids]
    assert all(isinstance(i, int) for i in idents) and idents[0] != idents[1]
    for n, kid in enumerate(kids):
        info = kid["info"]
        assert info["gevent_name"] == "Greenlet-%d" % info["minimal_ident"]
        assert kid["name"] == "%s #%d" % (info["gevent_name"], kid["id"])
        assert kid["state"] == "suspended" and kid["children"] == []
        assert names(kid)[:2] == ["sleep", "child"]
        assert kid["stack"][1]["locals"] == {"n": str(n)}
        stack = info["spawning_stack"]
        assert [short(f["name"]) for f in stack[:2]] == ["spawn_children",
                                                         "parent"]
        assert stack[0]["line"] == "%s = gevent.spawn(child, %d)" % (
            "ab"[n], n)
        assert stack[1]["line"] == "kids = spawn_children()"
        assert "spawn_tree_locals" not in info  # shown at the tree's root
        dicts = list(info["local_dicts"].values())
        assert dicts == [{"request_id": "'req-%d'" % n,
                          "api_token": "<redacted>"}]

    failed = only(roots, lambda n: n["state"] == "failed", "failed")
    assert failed in main["children"]
    assert failed["info"]["minimal_ident"] == doc["idents"]["failed"]
    assert failed["info"]["exception"] == "ValueError('kaput')"
    assert failed["stack"] == []
    assert failed["info"]["spawning_stack"][0]["line"] == \
        "failed = gevent.spawn(boom)"
    done = only(roots, lambda n: n["info"].get("minimal_ident") ==
                doc["idents"]["done"], "done")
    assert done["state"] == "dead" and done["info"]["value"] == "'ok'"
    hub = only(roots, lambda n: n["name"].startswith("Hub #"), "hub")
    assert hub["info"]["hub_of_thread"] == doc["thread"]

    text = doc["text"]
    assert "tok-HIDDEN" not in text and "sk-HIDDEN" not in text
    # The secrets' names are shown, their values replaced.
    assert "api_token = <redacted>" in text, text
    assert re.search(r"^    \+-- Parent #%d: suspended \(minimal_ident %d, "
                     r"runs parent\)$" % (parent["id"],
                                           doc["idents"]["parent"]),
                     text, re.M)
    for kid in kids:
        assert re.search(r"^        \+-- %s: suspended \(minimal_ident %d, "
                         r"runs child\)$"
                         % (kid["name"], kid["info"]["minimal_ident"]),
                         text, re.M), text
    for words in ("Spawned at:", "Spawn tree locals:", "tenant = 'acme'",
                  "session_key = <redacted>",
                  "Died with exception: ValueError('kaput')",
                  "Finished with value: 'ok'", "request_id = 'req-0'",
                  "request_id = 'req-1'", "p = gevent.spawn(parent)"):
        assert words in text, words


# ---- 7. asyncio -------------------------------------------------------------

def test_asyncio_tasks_as_a_tree_of_awaits():
    doc = child_json("runinfo_asyncio")
    tree = doc["all"]
    assert tree["notes"] == []
    loops = tree["tasks"]
    assert len(loops) == 1
    loop = loops[0]
    assert loop["kind"] == "loop" and loop["state"] == "running"
    assert loop["info"]["thread"] == "MainThread"
    tasks = loop["children"]
    assert all(t["kind"] == "task" for t in walk(tasks))
    expected = {"Task-1", "middle", "waiter", "leaf-1", "leaf-2"}
    if sys.version_info >= (3, 11):
        expected |= {"group", "tg-leaf"}
    assert {t["name"] for t in walk(tasks)} == expected
    assert all(t["state"] == "pending" for t in walk(tasks))

    # Roots are the tasks nobody awaits.
    roots = sorted(t["name"] for t in tasks)
    assert roots == sorted(["Task-1", "waiter"] +
                           (["group"] if sys.version_info >= (3, 11) else []))
    waiter = named(tasks, "waiter")
    assert [c["name"] for c in waiter["children"]] == ["middle"]
    assert waiter["info"]["coroutine"] == "waiter"
    assert "name='middle'" in waiter["info"]["awaiting"]
    assert names(waiter) == ["waiter"]
    assert waiter["stack"][0]["line"] == "await t"
    middle = waiter["children"][0]
    assert sorted(c["name"] for c in middle["children"]) == ["leaf-1",
                                                           "leaf-2"]
    assert middle["info"]["coroutine"] == "middle"
    assert names(middle) == ["middle"]
    assert middle["stack"][0]["line"] == "await asyncio.gather(a, b)"
    assert middle["stack"][0]["locals"]["a"].startswith(
        "<Task pending name='leaf-1'")
    for n, leaf in enumerate(sorted(middle["children"],
                                    key=lambda c: c["name"]), 1):
        assert leaf["children"] == []
        assert leaf["info"]["coroutine"] == "leaf"
        # The whole await chain, innermost first.
        assert names(leaf) == ["sleep", "leaf"]
        assert leaf["stack"][1]["line"] == "await asyncio.sleep(30)"
        assert leaf["stack"][1]["locals"] == {"n": str(n)}
        assert leaf["info"]["awaiting"].startswith("<Future pending")
    main = named(tasks, "Task-1")
    assert main["info"]["coroutine"] == "main"
    assert main["children"] == []
    assert names(main) == ["sleep", "main"]
    if sys.version_info >= (3, 11):
        group = named(tasks, "group")
        assert [c["name"] for c in group["children"]] == ["tg-leaf"]
        assert names(group)[-1] == "in_group"

    text = doc["text"]
    assert "\nasyncio tasks, as a tree of which task awaits which:\n" in text
    assert re.search(r"^\+-- loop \w+EventLoop: running \(in thread "
                     r"MainThread\)$", text, re.M), text
    assert "        +-- Task middle: pending (coroutine middle)\n" in text
    assert "            +-- Task leaf-1: pending (coroutine leaf)\n" in text

    # tasks=False: no task nodes (and the greenlets still listed).
    assert doc["no_tasks"]["tasks"] == []
    assert doc["no_tasks"]["greenlets"] != []
    assert "asyncio tasks" not in doc["text_no_tasks"]
    assert "Greenlets, as a tree by spawner:" in doc["text_no_tasks"]
    # greenlets=False: no greenlet nodes (and the tasks still listed).
    assert tree["greenlets"] != []
    assert doc["no_greenlets"]["greenlets"] == []
    assert doc["no_greenlets"]["tasks"] != []


def test_asyncio_tasks_of_a_uvloop_loop():
    """uvloop's run_forever has no Python frame (from 3.14 the tree finds
    running loops by that frame): a loop the watchdog watches is found all
    the same, from another thread."""
    pytest.importorskip("uvloop")
    doc = child_json("runinfo_asyncio", child_env(RUNINFO_LOOP="uvloop"))
    loops = doc["all"]["tasks"]
    assert len(loops) == 1, doc["text"]
    expected = {"Task-1", "middle", "waiter", "leaf-1", "leaf-2"}
    if sys.version_info >= (3, 11):
        expected |= {"group", "tg-leaf"}
    assert {t["name"] for t in walk(loops[0]["children"])} == expected
    assert re.search(r"^\+-- loop Loop: running \(in thread MainThread\)$",
                     doc["text"], re.M), doc["text"]


def test_asyncio_shield_is_followed():
    doc = child_json("runinfo_asyncio_shield")
    tasks = doc["tasks"][0]["children"]
    shielder = named(tasks, "shielder")
    assert [c["name"] for c in shielder["children"]] == ["shielded"]


# ---- 8. the API -------------------------------------------------------------

def test_api_print_find_iterate_limit_and_json():
    doc = child_json("runinfo_api")
    assert doc["same"] is True
    printed = doc["printed"]
    assert "Thread abc (ident 0x" in printed
    assert text_line(printed, "Arguments: g_c(") == "Arguments: g_c()"
    # print_run_info writes to sys.stderr by default, with the options.
    err = doc["stderr"]
    assert err.startswith("Threads (2), most recent call first:\n")
    assert "Arguments:" not in err
    frames = [ln for ln in err.splitlines()
              if ln.lstrip(" |").startswith("File ")]
    assert len(frames) == 2 + 1  # one frame per thread, one for the greenlet

    kind, name, ident, state, stack = doc["node"]
    assert (kind, name, state) == ("thread", "abc", "alive")
    assert [short(f) for f in stack[:5]] == ["wait", "wait", "c", "b", "a"]
    assert doc["frame"][0] == "Frame" and doc["frame"][1] > 0
    assert doc["by_id"] is True
    assert doc["daemons"] == ["abc"]
    assert doc["first"] == ["thread", "MainThread"]
    glet_name, glet_stack = doc["glet"]
    assert glet_name.startswith("greenlet #")
    assert glet_stack[:3] == ["g_c", "g_b", "g_a"]
    assert doc["missing"] == [True, []]
    assert doc["kinds"] == ["greenlet", "thread"]
    # main greenlet + the suspended one, and two threads
    assert doc["count"] == [4, 4]

    # limit=2 caps every stack (and no stack is empty here but the main
    # greenlet's, which is running).
    short_stacks = dict((n, s) for n, s in doc["short"])
    assert [short(f) for f in short_stacks["abc"]] == ["wait", "wait"]
    assert all(len(s) <= 2 for s in short_stacks.values())
    glet_short = [s for n, s in doc["short"] if n.startswith("greenlet #")]
    assert glet_short == [["g_c", "g_b"]]

    assert doc["json"] is True and doc["indent"] is True
    assert doc["str"] is True and doc["title"] is True
    d = doc["dict"]
    assert sorted(d) == ["greenlets", "notes", "tasks", "threads"]
    node = d["threads"][1]
    assert sorted(node) == ["children", "id", "info", "kind", "name",
                            "stack", "state"]
    assert sorted(node["stack"][0]) == ["args", "filename", "line", "lineno",
                                        "locals", "name"]


def test_default_depth_is_three_levels_and_bytes_keys_are_checked():
    doc = child_json("runinfo_default_depth")
    deep, by_bytes, flat = doc
    assert deep == "[[[<list of 1 items>]]]"
    assert by_bytes == "{b'Authorization': <redacted>}"
    assert flat == "[1, 2, 3]"
