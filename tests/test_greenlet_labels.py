"""Greenlet labels are unique in a profile split per greenlet
(--greenlets=each): gevent gives a new greenlet the name (minimal_ident)
of a dead one, so the label also has stackwatch's greenlet id
("Greenlet-0 #3 (spin)")."""

import json
import re

import pytest

from conftest import run_cli, target_path

pytest.importorskip("gevent")


def test_greenlets_with_a_reused_gevent_name_get_distinct_labels(tmp_path):
    out = tmp_path / "out.json"
    proc = run_cli("record", "--greenlets=each", "-f", "speedscope", "-o",
                   str(out), target_path("gl_reused_idents"))
    assert proc.returncode == 0, proc.stderr
    # gevent named all four greenlets alike.
    assert proc.stdout.split() == ["Greenlet-0"] * 4, proc.stdout
    names = [p["name"] for p in json.loads(out.read_text())["profiles"]]
    spins = [n for n in names if n.endswith("(spin)")]
    assert len(spins) == 4, names
    # Named by gevent while it lived; one gone before the profile could
    # ask (seen under ASan) is named by its type: "Greenlet #5 (spin)".
    assert all(re.fullmatch(r"greenlet Greenlet(-0)? #\d+ \(spin\)", n)
               for n in spins), names
    assert len(set(names)) == len(names), names
