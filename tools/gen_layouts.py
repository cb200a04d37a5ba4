#!/usr/bin/env python3
"""Writes csrc/compat/layouts.c: the layout table (sw_layout_t) of every
supported CPython, as data, for the outside reader (compat/target.c),
which reads a process of any supported version from one installed
stackwatch.

Each table comes from the same code that fills the in-process table:
compat/layout.c's fill(), compiled against that version's internal
headers into a small program that prints the result.  The program is
linked with its CPython symbols left unresolved, so every address in the
table is 0 (a type object, _PyRuntime) or relative to _PyRuntime (the GIL
of 3.9-3.11): the outside reader puts in the target's addresses, found
in its ELF symbols.  On 3.13+ the program also prints which
_Py_DebugOffsets fields the table must agree with (the target's own
promise about its layout, checked before it is read).

The fields are taken from compat/layout.h's sw_layout_t; a field this
script does not understand stops it.  tests/test_outside.py checks that
the running version's table here equals the in-process one byte for byte.

Usage (pyenv's 3.9-3.13 on this machine, 3.14 and 3.15 in the Debian root
of tools/pyroot.sh):
    python3 tools/gen_layouts.py            # every version; rewrites the file
    python3 tools/gen_layouts.py --one PY   # print one version's entry
"""
import os
import re
import subprocess
import sys
import sysconfig

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "csrc", "compat", "layouts.c")
HOST = ["3.9", "3.10", "3.11", "3.12", "3.13"]
ROOT = ["3.14", "3.15"]

TYPES = {"uint32_t": "%#x", "int": "%d", "uintptr_t": "%#zx",
         "size_t": "%zu"}


def fields():
    """(type, name) of each sw_layout_t field, in order."""
    with open(os.path.join(TOP, "csrc", "compat", "layout.h")) as f:
        src = f.read()
    body = src[src.index("typedef struct sw_layout {"):
               src.index("} sw_layout_t;")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = []
    for line in body.splitlines()[1:]:
        line = line.strip()
        if not line:
            continue
        m = re.match(r"(\w+)\s+([\w\[\], ]+);$", line)
        if not m:
            sys.exit("gen_layouts: cannot parse %r" % line)
        for name in m.group(2).split(","):
            name = name.strip()
            if m.group(1) == "char" and name == "version[24]":
                out.append(("char", "version"))
            elif m.group(1) in TYPES:
                out.append((m.group(1), name))
            else:
                sys.exit("gen_layouts: unknown field type %r" % line)
    return out


def program():
    lines = ['#include "compat/layout.c"', "int", "main(void)", "{",
             "    sw_layout_t *L = &sw_layout;",
             "    sw_debug_check_t c[SW_DEBUG_CHECKS_MAX];",
             "    int i, n;", "", "    fill(L);",
             '    printf("{\\n");']
    for typ, name in fields():
        if typ == "char":
            lines.append('    printf("    .%s = \\"%%d.%%d\\",\\n", '
                         "PY_MAJOR_VERSION, PY_MINOR_VERSION);" % name)
        else:
            lines.append('    printf("    .%s = %s,\\n", %sL->%s);'
                         % (name, TYPES[typ],
                            "(size_t)" if typ == "uintptr_t" else "", name))
    lines += ['    printf("}\\n");',
              "    n = sw_layout_debug_checks(c);",
              "    for (i = 0; i < n; i++) {",
              '        printf("CHECK {\\"%s\\", %u, %u, %llu},\\n", '
              "c[i].what, c[i].at, c[i].minus, "
              "(unsigned long long)c[i].value);",
              "    }", "    return 0;", "}"]
    return "\n".join(lines) + "\n"


def one(python):
    """Compiles and runs the program for `python` (this script runs under
    it); prints its output."""
    inc = sysconfig.get_paths()["include"]
    build = os.path.join(TOP, "build", "gen_layouts")
    os.makedirs(build, exist_ok=True)
    v = "%d.%d" % sys.version_info[:2]
    src = os.path.join(build, "gen_%s.c" % v)
    exe = os.path.join(build, "gen_%s" % v)
    with open(src, "w") as f:
        f.write(program())
    subprocess.check_call(
        ["gcc", "-std=c11", "-D_GNU_SOURCE", "-DSW_MIN_MINOR=0",
         "-DSW_MAX_MINOR=99", "-I", os.path.join(TOP, "csrc"), "-I", inc,
         "-no-pie", "-Wl,--unresolved-symbols=ignore-all", src, "-o", exe])
    sys.stdout.write(subprocess.check_output([exe]).decode())


def entry(v):
    me = os.path.abspath(__file__)
    if v in HOST:
        py = subprocess.check_output(
            [os.path.join(TOP, "tools", "find-python.sh"), v]).decode().strip()
        cmd = [py, me, "--one"]
    else:
        cmd = [os.path.join(TOP, "tools", "pyroot.sh"), "run", v,
               "python" + v, me, "--one"]
    text = subprocess.check_output(cmd).decode()
    table = "".join(ln + "\n" for ln in text.splitlines()
                    if not ln.startswith("CHECK "))
    checks = [ln[6:] for ln in text.splitlines() if ln.startswith("CHECK ")]
    return table, checks


def main():
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2] if len(sys.argv) > 2 else sys.executable)
        return
    parts = ["/* Generated by tools/gen_layouts.py: do not edit.\n"
             " * The layout table of every supported CPython, for the "
             "outside reader\n * (compat/target.c); addresses are 0 or "
             "relative to _PyRuntime. */\n",
             '#include "compat/target.h"\n']
    names = []
    for v in HOST + ROOT:
        table, checks = entry(v)
        tag = v.replace(".", "")
        parts.append("\nstatic const sw_layout_t layout_%s = %s;\n"
                     % (tag, table.rstrip().rstrip(",")))
        if checks:
            parts.append("\nstatic const sw_debug_check_t checks_%s[] = {\n"
                         % tag)
            parts.append("".join("    %s\n" % c for c in checks))
            parts.append("};\n")
            names.append("    {&layout_%s, checks_%s, %d},\n"
                         % (tag, tag, len(checks)))
        else:
            names.append("    {&layout_%s, NULL, 0},\n" % tag)
    parts.append("\nconst sw_layout_entry_t sw_layout_tables[] = {\n")
    parts.append("".join(names))
    parts.append("};\n\nconst int sw_layout_ntables =\n"
                 "    (int)(sizeof(sw_layout_tables) / "
                 "sizeof(sw_layout_tables[0]));\n")
    with open(OUT + ".tmp", "w") as f:
        f.write("".join(parts))
    os.replace(OUT + ".tmp", OUT)
    subprocess.call(["clang-format", "-i", OUT])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
