"""The target's GIL side of an on-demand profile (csrc/ondemand.c: a
profile taken for `stackwatch record --pid` or the HTTP endpoint by a
second sampler, without the GIL). When it ends, the engine asks the
service thread, with a bounded wait, for its greenlets' labels: this
module answers, with the naming rules every profile uses (_greenlets)."""

from stackwatch import _greenlets, _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


def labels() -> str:
    """Lines "gid<TAB>label<TAB>group text" for the greenlets the running
    on-demand profile has seen ("" when none runs)."""
    seen = _native.dump_ondemand_greenlets()
    if not seen:
        return ""
    table = _native.greenlet_table(gid for gid, _ in seen)
    glabels: "Dict[int, str]" = {}
    groups: "Dict[int, str]" = {}
    for gid, root in seen:
        obj, typename = table.get(gid, (None, "greenlet"))
        glabels[gid] = _greenlets.label(gid, obj, typename, root or None)
        groups[gid] = _greenlets.group(gid, obj, typename, root or None)
    texts = _greenlets.group_texts(groups, glabels)
    return "".join("%d\t%s\t%s\n" % (gid, _clean(label),
                                     _clean(texts.get(gid, "")))
                   for gid, label in glabels.items())
