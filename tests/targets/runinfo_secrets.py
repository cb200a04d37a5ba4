"""handler(token, user) holds locals with secret-looking names (password,
api_key, session_id, Authorization, a cookie in a dict, a Private-Key in a
nested list) and harmless ones; prints (JSON) its run info with the
default redaction and with redact=["zzz"], its frame, a few direct
safe_repr calls and the default patterns.

The secret values are built at run time, so that they are in no source
line either: finding one in the output means a value was shown. The
tests expect <redacted> for the secret names, the other values shown, and
STACKWATCH_REDACT (set by one test) added to the defaults.
"""
import json

import stackwatch
from stackwatch import runinfo


def handler(token, user):
    password = "pw-" + "VALUE-1"
    api_key = "ak-" + "VALUE-2"
    session_id = "sid-" + "VALUE-3"
    Authorization = "Bearer " + "VALUE-4"
    headers = {"cookie": "s3" + "cr3t", "x": 1}
    nested = [{"Private-Key": "pk-" + "VALUE-6"}, "ok"]
    customer_email = "alice@" + "example.com"
    billing_addr = "1 Main " + "Street"
    plain = "visible-value"
    assert (password and api_key and session_id and Authorization
            and headers and nested and customer_email and billing_addr
            and plain)
    return {
        "text": stackwatch.format_run_info(locals=True),
        "replaced": stackwatch.format_run_info(locals=True, redact=["zzz"]),
        "frame": stackwatch.RunTree(locals=True).find(
            "MainThread").stack[0].to_dict(),
        "direct": [runinfo.safe_repr({"Session": "s", "other": 2},
                                     redact=("session",)),
                   runinfo.safe_repr({"password": 1}, redact=()),
                   runinfo.safe_repr({"password": "p"})],
        "defaults": list(runinfo.DEFAULT_REDACT),
    }


print(json.dumps(handler("tok-" + "VALUE-5", "bob")))
