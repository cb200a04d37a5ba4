"""The greenlet naming rules, defined once (_greenlets.identify) and the
same in profiles, watchdog reports and run info."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import HERE, child_env

pytest.importorskip("gevent")


@pytest.fixture(scope="module")
def names():
    target = os.path.join(HERE, "targets", "greenlet_names.py")
    proc = subprocess.run([sys.executable, target], capture_output=True,
                          text=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_identity_of_each_kind(names):
    def ident(key):
        gid, kind, name, function = names[key]["identity"]
        assert gid == names[key]["gid"]
        return kind, name, function

    assert ident("main") == ("main", "main greenlet", None)
    assert ident("plain") == ("greenlet", "greenlet", None)  # run dropped
    assert ident("fresh") == ("greenlet", "greenlet", "worker")
    assert ident("custom") == ("greenlet", "Custom", "Custom.run")
    assert ident("done") == ("greenlet", "greenlet", None)
    kind, name, function = ident("gevent")
    assert kind == "gevent" and re.match(r"Greenlet-\d+$", name), name
    assert function == "handler"
    # A greenlet that is gone: only its id and type name are known.
    assert names["gone"]["identity"] == [99, "greenlet", "Y", None]


def test_profile_and_watchdog_labels_agree(names):
    for key in ("main", "plain", "fresh", "custom", "done", "gevent"):
        assert names[key]["label"] == names[key]["watchdog"], key
    gid = names["main"]["gid"]
    assert names["main"]["label"] == "main greenlet #%d" % gid
    assert names["fresh"]["label"] == "greenlet #%d (worker)" \
        % names["fresh"]["gid"]
    assert names["custom"]["label"] == "Custom #%d (Custom.run)" \
        % names["custom"]["gid"]
    assert names["gevent"]["label"] == "%s #%d (handler)" % (
        names["gevent"]["identity"][2], names["gevent"]["gid"])
    # The outermost sampled frame names a gone greenlet's function,
    # unless it is a generic one.
    assert names["gone"]["label"] == "Y #99 (serve)"
    assert names["gone"]["generic"] == "Y #99"


def test_run_info_uses_the_same_identity(names):
    for key in ("plain", "fresh", "custom", "gevent"):
        gid = names[key]["gid"]
        _, _, name, function = names[key]["identity"]
        assert names[key]["runinfo"] == ["%s #%d" % (name, gid), function], \
            (key, names[key])
    assert re.match(r"main greenlet #%d of thread MainThread$"
                    % names["main"]["gid"], names["main"]["runinfo"][0])
