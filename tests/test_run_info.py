"""Run information in the process itself: stackwatch.format_run_info,
print_run_info and RunTree over real threads, greenlets, gevent and
asyncio, with locals through the safe repr (redaction, cuts, failing
reprs). Each scenario runs in a child interpreter that prints JSON."""

import json
import subprocess
import sys
import textwrap

from conftest import child_env


def child_json(tmp_path, code, env=None):
    """Runs code as a script file (so frames have source lines) and
    returns the JSON of its last output line."""
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(code))
    proc = subprocess.run([sys.executable, "-X", "faulthandler", str(path)],
                          capture_output=True, text=True, timeout=60,
                          env=env or child_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def frame_names(node):
    return [f["name"].rsplit(".", 1)[-1] for f in node["stack"]]


def walk(nodes):
    for n in nodes:
        yield n
        yield from walk(n["children"])


def by_name(nodes, name):
    found = [n for n in walk(nodes) if n["name"] == name]
    assert len(found) == 1, [n["name"] for n in walk(nodes)]
    return found[0]


def test_threads_with_stacks_source_and_locals(tmp_path):
    doc = child_json(tmp_path, """
    import json, os, stackwatch, threading
    ready, stop = threading.Event(), threading.Event()
    def blocked_here(x):
        count = x * 2
        ready.set()
        stop.wait()
    t = threading.Thread(target=blocked_here, args=(21,), name="blocker",
                         daemon=True)
    t.start(); ready.wait()
    tree = stackwatch.RunTree(locals=True)
    here = os.path.dirname(stackwatch.__file__)
    print(json.dumps({"tree": tree.to_dict(), "pkg": here,
                      "native": t.native_id}))
    stop.set()
    """)
    threads = doc["tree"]["threads"]
    assert [t["name"] for t in threads] == ["MainThread", "blocker"]
    main, blocker = threads
    assert blocker["info"]["daemon"] is True
    assert blocker["info"]["native_id"] == doc["native"]
    assert main["info"]["held_gil"] is True  # the caller
    assert blocker["info"]["held_gil"] is False
    top = [f for f in blocker["stack"] if f["name"] == "blocked_here"]
    assert len(top) == 1, frame_names(blocker)
    f = top[0]
    assert f["line"] == "stop.wait()"
    assert f["args"] == ["x"]
    assert f["locals"]["x"] == "21" and f["locals"]["count"] == "42"
    # The caller's stack has no stackwatch frames.
    assert main["stack"][0]["name"] == "<module>"
    assert not any(fr["filename"].startswith(doc["pkg"])
                   for fr in main["stack"])


SECRETS = """
import json, stackwatch
class Holder:
    pass
def handler(token, user):
    password = "pw-VALUE-1"
    api_key = "key-VALUE-2"
    session_id = "sess-VALUE-3"
    Authorization = "Bearer VALUE-4"
    customer_email = "alice@example.com"
    headers = {"cookie": "cookie-VALUE-5", "x": 1}
    return stackwatch.format_run_info(locals=True, **KW)
print(json.dumps(handler("tok-VALUE-%d" % 6, "bob")))
"""


def test_secret_looking_names_are_redacted(tmp_path):
    text = child_json(tmp_path, SECRETS.replace("**KW", ""))
    for n in range(1, 7):
        assert "VALUE-%d" % n not in text, text
    assert "Arguments: handler(token=<redacted>, user='bob')" in text
    for name in ("password", "api_key", "session_id", "Authorization"):
        assert "%s = <redacted>" % name in text
    assert "headers = {'cookie': <redacted>, 'x': 1}" in text
    assert "customer_email = 'alice@example.com'" in text


def test_redaction_is_configurable(tmp_path):
    text = child_json(tmp_path, SECRETS.replace("**KW", ""),
                      env=child_env(STACKWATCH_REDACT="customer"))
    assert "customer_email = <redacted>" in text
    assert "VALUE-1" not in text  # the defaults still apply
    text = child_json(tmp_path, SECRETS.replace("**KW", "redact=['customer']"))
    assert "customer_email = <redacted>" in text
    assert "password = 'pw-VALUE-1'" in text  # replaced, not added to


def test_long_values_are_cut_and_failing_reprs_are_contained(tmp_path):
    doc = child_json(tmp_path, """
    import json, stackwatch
    from stackwatch import runinfo
    class Raises:
        def __repr__(self):
            raise ValueError("no repr")
    class NotStr:
        def __repr__(self):
            return 42
    def frame():
        big = "x" * 10_000_000
        blob = b"y" * 10_000_000
        many = list(range(1000))
        deep = [[[[["bottom"]]]]]
        bad = Raises()
        odd = NotStr()
        after = "still shown"
        return stackwatch.format_run_info(locals=True)
    text = frame()
    lim = runinfo.Limits(length=50, items=5, depth=2)
    direct = [runinfo.safe_repr("z" * 1000, lim),
              runinfo.safe_repr(list(range(10)), lim),
              runinfo.safe_repr({"a": [1, 2]}, lim),
              runinfo.safe_repr(Raises())]
    print(json.dumps({"text": text, "direct": direct}))
    """)
    text = doc["text"]
    assert len(text) < 20000
    line = [ln for ln in text.splitlines() if ln.strip().startswith("big =")]
    assert len(line) == 1
    assert line[0].endswith("'... <cut: str of 10000000 characters>")
    assert "... <cut: bytes of 10000000 bytes>" in text
    assert "<980 more, 1000 in all>" in text
    assert "deep = [[<list of 1 items>]]" in text
    assert "bad = <__main__.Raises object at 0x" in text
    assert "; repr() failed: ValueError>" in text
    assert "odd = <__main__.NotStr object at 0x" in text
    assert "; repr() failed: TypeError>" in text
    assert "after = 'still shown'" in text
    cut, items, nested, raises = doc["direct"]
    assert cut == repr("z" * 50) + "... <cut: str of 1000 characters>"
    assert items == "[0, 1, 2, 3, 4, ... <5 more, 10 in all>]"
    assert nested == "{'a': <list of 2 items>}"
    assert raises.startswith("<__main__.Raises object at 0x")


def test_raw_greenlets_as_a_tree_with_states(tmp_path):
    doc = child_json(tmp_path, """
    import json, greenlet, stackwatch
    main = greenlet.getcurrent()
    def inner_work():
        main.switch()
    def outer_work():
        g2 = greenlet.greenlet(inner_work)
        g2.switch()
        main.switch()
    g1 = greenlet.greenlet(outer_work)
    g1.switch()
    done = greenlet.greenlet(lambda: None)
    done.switch()
    tree = stackwatch.RunTree()
    print(json.dumps(tree.to_dict()))
    """)
    roots = doc["greenlets"]
    assert len(roots) == 1
    root = roots[0]
    assert root["name"].startswith("main greenlet #")
    assert root["name"].endswith("of thread MainThread")
    assert root["state"] == "running"
    # Raw greenlets hang under their parent: g1 and the finished one under
    # main, g2 (created while g1 ran) under g1.
    kids = sorted(root["children"], key=lambda n: n["state"])
    assert [n["state"] for n in kids] == ["dead", "suspended"]
    assert kids[0]["stack"] == []
    g1 = kids[1]
    assert g1["name"].startswith("greenlet #")
    assert frame_names(g1)[0] == "outer_work"
    assert g1["stack"][0]["line"] == "g2.switch()"  # where g1 left off
    assert len(g1["children"]) == 1
    g2 = g1["children"][0]
    assert g2["state"] == "suspended"
    assert frame_names(g2) == ["inner_work"]


def test_gevent_tree_names_spawning_stacks_locals_and_failures(tmp_path):
    doc = child_json(tmp_path, """
    import json, gevent, gevent.local, stackwatch
    loc = gevent.local.local()
    def child(n):
        loc.request_id = "req-%d" % n
        gevent.sleep(5)
    def boom():
        raise ValueError("kaput")
    def parent():
        gevent.getcurrent().spawn_tree_locals["user"] = "alice"
        kids = [gevent.spawn(child, i) for i in range(2)]
        gevent.sleep(5)
    p = gevent.spawn(parent)
    p.name = "Parent"
    b = gevent.spawn(boom)
    b.name = "Boom"
    gevent.sleep(0.05)
    tree = stackwatch.RunTree()
    print(json.dumps({"tree": tree.to_dict(), "text": tree.format()}))
    """)
    roots = doc["tree"]["greenlets"]
    found = [n for n in walk(roots) if n["name"].startswith("Parent #")]
    assert len(found) == 1, [n["name"] for n in walk(roots)]
    parent = found[0]
    assert parent["state"] == "suspended"
    assert "parent" in frame_names(parent)
    assert isinstance(parent["info"]["minimal_ident"], int)
    assert parent["info"]["spawn_tree_locals"] == {"user": "'alice'"}
    spawned_at = parent["info"]["spawning_stack"]
    assert spawned_at[0]["line"] == "p = gevent.spawn(parent)"
    kids = parent["children"]
    assert len(kids) == 2
    for k, n in zip(sorted(kids, key=lambda c: c["info"]["minimal_ident"]),
                    (0, 1)):
        assert k["name"].startswith("Greenlet-")
        assert k["state"] == "suspended"
        assert "child" in frame_names(k)
        assert k["info"]["spawning_stack"][0]["name"].rsplit(".")[-1] in (
            "parent", "<listcomp>")
        dicts = list(k["info"]["local_dicts"].values())
        assert dicts == [{"request_id": "'req-%d'" % n}]
        assert "spawn_tree_locals" not in k["info"]  # shown at the root
    boom = [n for n in walk(roots) if n["name"].startswith("Boom")]
    assert len(boom) == 1 and boom[0]["state"] == "failed"
    assert boom[0]["info"]["exception"] == "ValueError('kaput')"
    text = doc["text"]
    for words in ("Spawned at:", "Spawn tree locals:",
                  "Died with exception: ValueError('kaput')",
                  "request_id = 'req-0'"):
        assert words in text


ASYNCIO = """
import asyncio, json, sys, threading, time, stackwatch

async def leaf(n):
    await asyncio.sleep(5)

async def middle():
    await asyncio.gather(asyncio.create_task(leaf(1), name="leaf-1"),
                         asyncio.create_task(leaf(2), name="leaf-2"))

async def waiter(t):
    await t

async def in_group():
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(3), name="tg-leaf")

async def main():
    m = asyncio.create_task(middle(), name="middle")
    asyncio.create_task(waiter(m), name="waiter")
    if sys.version_info >= (3, 11):
        asyncio.create_task(in_group(), name="group")
    await asyncio.sleep(5)

def look():
    time.sleep(0.3)
    out = {"all": stackwatch.RunTree(locals=True).to_dict(),
           "no_tasks": stackwatch.RunTree(tasks=False).to_dict(),
           "no_greenlets": stackwatch.RunTree(greenlets=False).to_dict()}
    print(json.dumps(out), flush=True)
    import os
    os._exit(0)

threading.Thread(target=look, daemon=True).start()
asyncio.run(main())
"""


def test_asyncio_tasks_as_a_tree_of_awaits(tmp_path):
    doc = child_json(tmp_path, ASYNCIO)
    loops = doc["all"]["tasks"]
    assert len(loops) == 1 and loops[0]["kind"] == "loop"
    assert loops[0]["info"]["thread"] == "MainThread"
    tasks = loops[0]["children"]
    waiter = by_name(tasks, "waiter")
    assert waiter in tasks  # a root: nobody awaits it
    assert [c["name"] for c in waiter["children"]] == ["middle"]
    middle = waiter["children"][0]
    assert sorted(c["name"] for c in middle["children"]) == ["leaf-1",
                                                           "leaf-2"]
    leaf = by_name(tasks, "leaf-1")
    assert leaf["state"] == "pending"
    assert leaf["info"]["coroutine"] == "leaf"
    # The whole await chain, innermost first, with lines and locals.
    assert frame_names(leaf) == ["sleep", "leaf"]
    assert leaf["stack"][1]["line"] == "await asyncio.sleep(5)"
    assert leaf["stack"][1]["locals"] == {"n": "1"}
    assert frame_names(middle) == ["middle"]
    if sys.version_info >= (3, 11):
        group = by_name(tasks, "group")
        assert [c["name"] for c in group["children"]] == ["tg-leaf"]
    main = by_name(tasks, "Task-1")
    assert main["info"]["coroutine"] == "main"
    assert doc["no_tasks"]["tasks"] == []
    assert doc["no_greenlets"]["greenlets"] == []
    assert doc["no_greenlets"]["tasks"] != []


def test_api_print_find_limit_and_json(tmp_path):
    doc = child_json(tmp_path, """
    import io, json, stackwatch, threading, time
    def a(): b()
    def b(): c()
    def c(): time.sleep(5)
    t = threading.Thread(target=a, name="abc", daemon=True)
    t.start()
    time.sleep(0.1)
    buf = io.StringIO()
    stackwatch.print_run_info(file=buf)
    text = stackwatch.format_run_info()
    tree = stackwatch.RunTree(limit=2)
    node = tree.find("abc")
    by_kind = tree.find(kind="thread")
    many = tree.find_all(predicate=lambda n: n.kind == "thread")
    print(json.dumps({
        "same": buf.getvalue().splitlines()[-8:] == text.splitlines()[-8:],
        "text": text,
        "found": [node.name, node.kind, len(node.stack),
                  [f.name for f in node.stack]],
        "first_kind": by_kind.kind, "threads": len(many),
        "missing": tree.find("nope") is None,
        "iter": sorted(n.name for n in tree),
        "json": json.loads(tree.to_json()) == tree.to_dict()}))
    """)
    assert doc["same"] is True
    assert 'Thread abc (ident 0x' in doc["text"]
    name, kind, depth, frames = doc["found"]
    assert (name, kind, depth) == ("abc", "thread", 2)
    assert frames == ["c", "b"]
    assert doc["first_kind"] == "thread" and doc["threads"] == 2
    assert doc["missing"] is True
    assert doc["iter"] == ["MainThread", "abc"]
    assert doc["json"] is True
