"""frame(arg) holds values whose repr raises (Raises) or returns a
non-string (NotStr), directly and inside a list and a dict, between two
plain locals; prints (JSON) its run-info text, its locals, the tree's
notes, direct safe_repr calls and the objects' addresses.

The test expects a placeholder naming the type, address and error for
each failing repr, the other locals shown, and no note.
"""
import json

import stackwatch
from stackwatch import runinfo


class Raises:
    def __repr__(self):
        raise ValueError("no repr for you")


class NotStr:
    def __repr__(self):
        return 42


def frame(arg):
    before = 1
    bad = Raises()
    odd = NotStr()
    inside = [1, bad]
    mapping = {"k": odd}
    after = "still shown"
    assert before and inside and mapping and after
    tree = stackwatch.RunTree(locals=True)
    return {"text": stackwatch.format_run_info(locals=True),
            "locals": tree.find("MainThread").stack[0].locals,
            "notes": tree.notes,
            "direct": [runinfo.safe_repr(bad), runinfo.safe_repr(odd)],
            "bad": "%#x" % id(bad), "odd": "%#x" % id(odd),
            "arg": "%#x" % id(arg)}


print(json.dumps(frame(Raises())))
