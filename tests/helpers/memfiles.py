"""A strict reader of the memory profiler's files (docs/memory-format.md)
for the tests: every line checked, the file required to be complete."""
import os

KINDS = {"process.mem": "process"}


def read_mem(path, complete=True):
    """(headers, rows) of a .mem file: headers a dict (key -> value
    text), rows a list of dicts by the `# columns` names. Asserts the
    format: version line, headers before the data, whole lines, numbers,
    and (complete=True) `# end <t>` last."""
    with open(path) as f:
        text = f.read()
    assert text.endswith("\n"), "%s: last line cut" % path
    lines = text.split("\n")[:-1]
    kinds = (("process",) if os.path.basename(path) == "process.mem"
             else ("thread", "greenlet"))
    assert lines[0] in ["# stackwatch-mem 1 %s" % k for k in kinds], \
        (path, lines[0])
    headers, rows, end = {"kind": lines[0].split()[-1]}, [], None
    for n, line in enumerate(lines[1:], 2):
        assert end is None, "%s:%d: a line after # end" % (path, n)
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            if key == "end":
                end = float(value)
                continue
            assert not rows, "%s:%d: a header after data" % (path, n)
            headers[key] = value
            continue
        cols = headers["columns"].split()
        fields = line.split(" ")
        assert len(fields) == len(cols), "%s:%d: %r" % (path, n, line)
        row = {"t": float(fields[0])}
        for c, v in zip(cols[1:], fields[1:]):
            row[c] = int(v)
        if rows:
            assert row["t"] >= rows[-1]["t"], "%s:%d: time back" % (path, n)
        assert row["py_live"] == row["py_alloc"] - row["py_free"], line
        assert row["c_live"] == row["c_alloc"] - row["c_free"], line
        rows.append(row)
    if complete:
        assert end is not None, "%s: no # end" % path
        assert rows and end >= rows[-1]["t"], path
    headers["end"] = end
    return headers, rows


def read_profile(directory, complete=True):
    """{file name: (headers, rows)} of every .mem file in directory."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".mem"):
            out[name] = read_mem(os.path.join(directory, name), complete)
    return out


def by_thread_name(profile):
    """{the `# name` header: last row} of the thread files."""
    return {h["name"]: rows[-1] for f, (h, rows) in profile.items()
            if h["kind"] == "thread"}


def greenlet_files(profile):
    """{file name: (headers, rows)} of the greenlet files."""
    return {f: (h, rows) for f, (h, rows) in profile.items()
            if h["kind"] == "greenlet"}


def the_pid_dir(base):
    """The one DIR/<pid> directory under base."""
    dirs = [d for d in os.listdir(base) if d.isdigit()]
    assert len(dirs) == 1, dirs
    return os.path.join(base, dirs[0])


def read_stack(path, complete=True):
    """(headers, stacks, live, events) of a .stack file: stacks {id:
    [frame label, ...] root first}, live {block id: (stack id, weight)}
    of the blocks not freed at the end, events [(kind, t, block)].
    Asserts the format: stacks defined once, before use; '-' only for a
    block of this file; whole lines; `# end` last (complete=True)."""
    with open(path) as f:
        text = f.read()
    assert text.endswith("\n"), "%s: last line cut" % path
    lines = text.split("\n")[:-1]
    assert lines[0] == "# stackwatch-mem 1 stacks", (path, lines[0])
    headers, stacks, live, events, end = {}, {}, {}, [], None
    seen = set()
    for n, line in enumerate(lines[1:], 2):
        where = "%s:%d: %r" % (path, n, line)
        assert end is None, where
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            if key == "end":
                end = float(value)
            else:
                assert not stacks and not events, where
                headers[key] = value
            continue
        kind, _, rest = line.partition(" ")
        if kind == "s":
            sid, _, frames = rest.partition(" ")
            assert int(sid) not in stacks, where
            stacks[int(sid)] = frames.split(";")
        elif kind == "+":
            t, block, sid, weight = rest.split(" ")
            assert int(sid) in stacks, where
            assert int(block) not in seen, where
            seen.add(int(block))
            live[int(block)] = (int(sid), int(weight))
            events.append(("+", float(t), int(block)))
        elif kind == "-":
            t, block = rest.split(" ")
            assert int(block) in live, where
            del live[int(block)]
            events.append(("-", float(t), int(block)))
        else:
            raise AssertionError(where)
    if complete:
        assert end is not None, "%s: no # end" % path
    headers["end"] = end
    return headers, stacks, live, events
