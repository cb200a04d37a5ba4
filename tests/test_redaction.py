"""Redaction by name hides only values that can hold a secret (issue 12,
item 12): a secret-looking name (password, token, cookie, session...)
hides a string, bytes, a container holding them, an object with a repr of
its own; it shows a number, a bool, None, a lock (gevent's
task_queue_cookie), a class, an object with the default repr, and
containers of those."""

import json

from conftest import run_target

from stackwatch import _saferepr


def _values():
    proc = run_target("redact_values", check=True)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    word = doc.pop("hidden")
    return word, doc


def test_values_that_cannot_hold_a_secret_are_shown_whatever_their_name():
    word, doc = _values()
    loc = doc["locals"]
    assert loc["task_queue_cookie"] == "12345"
    assert loc["session_timeout"] == "30.5"
    assert loc["csrf_enabled"] == "True"
    assert loc["cookie_jar"] == "None"
    assert loc["cookie_lock"].startswith("<unlocked _thread.lock object at ")
    assert loc["token_factory"] == "<class '__main__.Credentials'>"
    assert loc["secret_holder"].startswith("<__main__.Opaque object at 0x")
    assert loc["token_ids"] == "[1, 2, (3, 4.5)]"
    assert loc["session_counts"] == "{1: 3, 2: {3: None}}"
    text = doc["text"]
    assert "Arguments: handler(session_cookie=<redacted>, " \
        "task_queue_cookie=12345)" in text, text
    assert "            cookie_jar = None\n" in text
    # In a dict, by key: an int under a secret-looking key is shown.
    assert doc["safe_repr"][0] == "{'cookie': 7, 'token': <redacted>}"
    assert doc["safe_repr"][1] == \
        "{'password': <redacted>, 'password_len': 12}"


def test_values_that_can_hold_a_secret_are_redacted():
    word, doc = _values()
    loc = doc["locals"]
    for name in ("session_cookie", "password", "api_token", "csrf_secret",
                 "tokens", "secret_pairs", "session_names", "credentials",
                 "session_ids"):
        assert loc[name] == "<redacted>", (name, loc[name])
    # A dict with secret strings under secret-looking keys: those entries.
    assert loc["config"] == ("{'db_password': <redacted>, 'port': 5432, "
                             "'session_cookie_age': 3600, 'secret': "
                             "<redacted>}")
    assert loc["plain"] == "'visible-value'"
    assert word not in json.dumps(doc), doc
    for line in ("password = <redacted>", "api_token = <redacted>",
                 "credentials = <redacted>", "session_ids = <redacted>"):
        assert "            %s\n" % line in doc["text"], line


def test_gevent_threadpool_cookie_is_shown():
    """The reproduction: gevent's threadpool worker waits with its
    task_queue_cookie (a lock) as a local and as get()'s argument."""
    proc = run_target("redact_gevent_threadpool", check=True)
    out = proc.stdout
    assert "task_queue_cookie = <redacted>" not in out, out
    assert "task_queue_cookie = <locked _thread.lock object at 0x" in out, out
    assert "cookie=<locked _thread.lock object at 0x" in out, out


def test_can_hold_secret_is_bounded_and_never_raises():
    class Boom:
        def __repr__(self):
            raise ValueError("no")

    class Headers(dict):
        def items(self):
            raise RuntimeError("not called: dict.items is")

    no = [1, 2.5, True, None, 1j, [], {}, (), [1, [2, {3: 4}]],
          frozenset({1, 2}), Headers({1: 2}), len, object()]
    yes = ["", b"", bytearray(), ["x"], {"k": 1}, {1: "v"}, Boom(),
           list(range(65)), [[[[1]]]], {1: {2: {3: {4: 5}}}},
           memoryview(b"x"), Headers({1: "v"}), Boom().__repr__]
    assert [_saferepr.can_hold_secret(v) for v in no] == [False] * len(no)
    assert [_saferepr.can_hold_secret(v) for v in yes] == [True] * len(yes)
    assert _saferepr.can_hold_secret(list(range(64))) is False
