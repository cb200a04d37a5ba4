"""Child of tests/test_redaction.py: a frame whose locals have secret-
looking names holding values of every kind, shown by run info (text and
JSON) and by safe_repr; prints one JSON object.

The secret values are built at run time by hidden(), so that they are
in no source line nor variable of their own: finding the word it makes
in the output (but for the "hidden" entry) means a secret was shown.
The test expects values that cannot hold a secret shown whatever their
name (numbers, booleans, None, locks -- gevent's task_queue_cookie
--, functions, objects with the default repr, containers of those);
strings, bytes, containers holding them or too big to check, and objects
with a repr of their own redacted.
"""
import json
import threading

import stackwatch
from stackwatch import runinfo


def hidden(prefix=""):
    return prefix + "".join(["S", "E", "C", "R", "E", "T"])


class Credentials:
    def __init__(self, user, password):
        self.user = user
        self.password = password

    def __repr__(self):
        return "Credentials(%r, %r)" % (self.user, self.password)


class Opaque:
    pass


def handler(session_cookie, task_queue_cookie):
    password = hidden("pw-")
    api_token = hidden("tk-").encode()
    csrf_secret = bytearray(hidden("cs-").encode())
    session_timeout = 30.5
    csrf_enabled = True
    cookie_jar = None
    cookie_lock = threading.Lock()
    token_factory = Credentials
    secret_holder = Opaque()
    token_ids = [1, 2, (3, 4.5)]
    session_counts = {1: 3, 2: {3: None}}
    tokens = [hidden("t-")]
    secret_pairs = {"a": ("x", hidden("y-"))}
    session_names = {"hits": 3}
    config = {"db_password": hidden("db-"), "port": 5432,
              "session_cookie_age": 3600,
              "secret": {"api": hidden("k-")}}
    credentials = Credentials("bob", hidden("cr-"))
    session_ids = list(range(1000))
    plain = "visible-value"
    tree = stackwatch.RunTree(locals=True)
    return {
        "hidden": hidden(),
        "text": stackwatch.format_run_info(locals=True),
        "locals": tree.find("MainThread").stack[0].to_dict()["locals"],
        "safe_repr": [
            runinfo.safe_repr({"cookie": 7, "token": hidden("t-")}),
            runinfo.safe_repr({"password": [hidden("p-")],
                               "password_len": 12}),
        ],
    }


print(json.dumps(handler(hidden("sc-"), 12345)))
