"""`stackwatch record --pid` run as user nobody (the interpreter imports
stackwatch as root, then switches user before doing anything) against the
pid in argv[1], writing to stdout. Exits with the CLI's status.

The test expects exit status 1 and one line saying permission denied.
"""
import gettext
import os
import sys

# What the CLI and argparse import only when used, imported while we can.
import argparse, json, random, shutil, socket, struct  # noqa: E401,F401

from stackwatch import _remote, cli  # noqa: F401

gettext.gettext("x")  # argparse's lazy imports, done while we can
cli.build_parser()  # and the subcommands' modules it loads
os.setgid(65534)
os.setuid(65534)
sys.exit(cli.main(["record", "--pid", sys.argv[1], "-d", "1", "-o", "-"]))
