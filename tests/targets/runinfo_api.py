"""The run-info API over a thread "abc" blocked in a() -> b() -> c() and
a suspended greenlet in g_a() -> g_b() -> g_c(): print_run_info to a
file and to sys.stderr, format_run_info, RunTree's find/find_all,
iteration, limit, to_json, str and format. Prints the results (JSON).

The test expects each call to give what the API documents.
"""
import io
import json
import sys
import threading

import greenlet

import stackwatch

ready = threading.Event()


def a():
    b()


def b():
    c()


def c():
    ready.set()
    threading.Event().wait()


t = threading.Thread(target=a, name="abc", daemon=True)
t.start()
ready.wait()

main = greenlet.getcurrent()


def g_a():
    g_b()


def g_b():
    g_c()


def g_c():
    main.switch()


glet = greenlet.greenlet(g_a)
glet.switch()

# Both on one line: the calling frame's line is the same in both texts.
buf = io.StringIO(); stackwatch.print_run_info(file=buf, locals=True); text = stackwatch.format_run_info(locals=True)  # noqa: E501,E702
err = io.StringIO()
sys.stderr, saved = err, sys.stderr
stackwatch.print_run_info(limit=1)
sys.stderr = saved

tree = stackwatch.RunTree(locals=True)
short = stackwatch.RunTree(limit=2)
node = tree.find("abc")
daemons = tree.find_all(predicate=lambda n: n.info.get("daemon") is True)
first = tree.find(kind="thread")
glet_node = tree.find(kind="greenlet",
                      predicate=lambda n: n.state == "suspended")
print(json.dumps({
    "same": buf.getvalue() == text, "printed": buf.getvalue(),
    "stderr": err.getvalue(),
    "node": [node.kind, node.name, node.id, node.state,
             [f.name for f in node.stack]],
    "frame": [type(node.stack[0]).__name__, node.stack[0].lineno,
              node.stack[0].filename],
    "by_id": tree.find(t.ident) is node,
    "daemons": [n.name for n in daemons],
    "first": [first.kind, first.name],
    "glet": [glet_node.name, [f.name for f in glet_node.stack]],
    "missing": [tree.find("nope") is None, tree.find_all(kind="task")],
    "kinds": sorted({n.kind for n in tree}),
    "count": [len(list(tree)), len(tree.find_all())],
    "short": [[n.name, [f.name for f in n.stack]] for n in short],
    "json": json.loads(tree.to_json()) == tree.to_dict(),
    "indent": tree.to_json(indent=2).count("\n") > 10,
    "str": str(tree) == tree.format(),
    "title": tree.format("Title line").startswith("Title line\nThreads ("),
    "dict": tree.to_dict(),
}))
