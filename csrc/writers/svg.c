/* An interactive flame graph as one self-contained SVG document.
 *
 * What the document looks like
 * ----------------------------
 * An image as wide as the window (width 100%; laid out for 1200 px in the
 * file, and again by the script for the real width at load and on every
 * resize): the title (and subtitle) at the top, a "Reset
 * zoom" control at the top left (hidden until zoomed) and a "Search"
 * control at the top right; then the flame graph, root at the bottom, one
 * 16 px row per stack depth; at the bottom a details line (what the mouse
 * points at) and, after a search, "Matched: P%".  The bottom row is "all",
 * the whole profile.  With by_thread / by_greenlet the next rows are the
 * thread and greenlet labels (sw_label_thread / sw_label_greenlet), in a
 * cool colour; then the Python frames, in warm colours from a hash of the
 * function name; markers such as "[truncated]" (no file) are grey.
 *
 * Each drawn frame is
 *
 *     <g class="frame func" data-label="f (a.py:3)" data-s="12" data-n="5"
 *        data-d="2"><title>f (a.py:3) — 5 samples (4.17%)</title>
 *       <rect .../><text ...>f (a.py…</text></g>
 *
 * data-s is the number of samples left of the box in its row, data-n its
 * samples and data-d its row (0 is "all"): in sample units the layout is
 * exact, so the script can recompute any zoom from them.  The document
 * uses no external resource (no font, image, stylesheet or script is
 * fetched), every name goes through sw_buf_xml(), and the only CDATA
 * section holds the static script, so no generated text can end it.
 *
 * How the layout is computed
 * --------------------------
 * The samples, sorted by sw_sorted_samples() (group, then stack root
 * first), become the rows of a tree: each sample's keys (thread slot,
 * greenlet key -- sw_greenlet_key(): its group's or its id --, then
 * frame ids root first) share a prefix with the previous
 * sample's, and only the rest needs new boxes, so equal frames under the
 * same parent merge into one box whose count is the sum, as flamegraph.pl
 * merges equal lines.  Then every node's children are sorted by label
 * (byte order, as flamegraph.pl sorts folded lines) and laid out left to
 * right: a box starts where its previous sibling ends, its width is
 * proportional to its samples.  Widths count samples whatever o->weight
 * says: the tooltips and the search report samples.  Box edges are
 * rounded, not widths, so a child never pokes out of its parent.
 *
 * Boxes narrower than MIN_WIDTH (0.1 px) are not drawn, and neither is
 * anything above them: they would be invisible, yet a profile with many
 * rare stacks would spend most of the document on them.  Their samples
 * still count in their parents' widths, as in flamegraph.pl; zooming
 * cannot bring them back (they are not in the document).  The height
 * follows the deepest drawn row.
 *
 * How the script works
 * --------------------
 * The inline script (plain ES2015, no library) reads every g.frame once.
 * Hovering a frame copies its tooltip text into the details line.
 * Clicking a frame Z zooms: a frame inside Z's subtree (deeper or equal
 * row, sample range inside Z's) is scaled so Z fills the width; a frame
 * whose range holds Z's in a lower row is an ancestor, drawn full width
 * and dimmed; every other frame is hidden.  Labels are re-cut to the new
 * widths with the same rule as here, with the width of a character
 * measured in the font the browser really uses (data-charw until then).
 * At load and on every resize the script lays the whole graph out again
 * for the document's real width (keeping the zoom), so labels show whole
 * wherever the window gives them room.  "Reset zoom" (or Escape) lays
 * the whole graph out again.  "Search" prompts for a regular expression,
 * fills the matching frames in a distinct colour and shows the share of
 * samples under them (the union of their ranges, so nested matches count
 * once); a second click clears.  window.stackwatchFlame exposes zoom,
 * reset, search, clearSearch, layout and width (the graph's, in px) for
 * tests.
 *
 * Context: the caller holds the session's mutex.  Pure C; no Python.h. */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "writers/writer.h"

#define IMAGE_WIDTH 1200
#define PAD_X 10 /* left and right margins */
#define FRAME_HEIGHT 16
#define BOX_HEIGHT 15  /* one pixel between rows */
#define TEXT_DY 12     /* baseline of a label below its box's top */
#define TOP_PAD 40     /* title */
#define TOP_PAD_SUB 60 /* title and subtitle */
#define BOTTOM_PAD 36  /* details line */
#define EMPTY_HEIGHT 100
/* The smallest box drawn, in px, and the width of one character of the
 * 12 px font, in hundredths of a pixel (monospace fonts are 0.6 em). */
#define MIN_WIDTH 0.1
#define CHAR_W100 720
#define TEXT_PAD100 300 /* text starts 3 px into its box */

enum kind {
    K_ROOT = 0,
    K_THREAD,
    K_GREENLET,
    K_FUNC,
    K_MARKER,
};

/* One box of the flame graph. */
typedef struct fnode {
    uint64_t count; /* samples in this box (and so above it) */
    uint64_t start; /* samples left of this box in its row */
    uint32_t parent;
    uint32_t child; /* first child, 0 if none */
    uint32_t last;  /* last child, while building */
    uint32_t next;  /* next sibling, 0 if none */
    uint32_t key;   /* thread slot, greenlet id or frame id */
    uint32_t label; /* offset of the label in flame_t.labels */
    uint32_t depth; /* row, 0 is "all" */
    uint32_t kind;  /* enum kind */
} fnode_t;

typedef struct flame {
    fnode_t *nodes; /* nodes[0] is "all"; a parent precedes its children */
    uint32_t n, cap;
    sw_buf_t labels;       /* NUL-terminated labels; offset 0 is "all" */
    uint32_t *frame_label; /* frame id -> label offset, 0: not yet */
    uint32_t root_text;    /* label offset of "all (N samples)" */
    uint64_t total;        /* samples in the profile */
    const sw_write_opts_t *o;
} flame_t;

/* A sibling while sorting children. */
typedef struct sib {
    const char *label;
    uint32_t key;
    uint32_t id;
} sib_t;

/* The label of node i.  Borrowed from t->labels. */
static const char *
label_of(const flame_t *t, uint32_t i)
{
    return t->labels.data + t->nodes[i].label;
}

/* Appends the label written by the caller since `at` as a NUL-terminated
 * string and stores its offset in *off.  Returns 0, or -1 when out of
 * memory or past 4 GiB of labels. */
static int
end_label(flame_t *t, size_t at, uint32_t *off)
{
    sw_buf_putc(&t->labels, '\0');
    if (!sw_buf_ok(&t->labels) || at > UINT32_MAX) {
        return -1;
    }
    *off = (uint32_t)at;
    return 0;
}

/* Stores in *off the label of a box of the given kind and key, computing
 * it on first use for frames.  Returns 0 or -1 (out of memory). */
static int
make_label(flame_t *t, const sw_session_t *s, int kind, uint32_t key,
           uint32_t *off)
{
    size_t at = t->labels.len;

    switch (kind) {
    case K_THREAD:
        sw_label_thread(s, key, &t->labels);
        break;
    case K_GREENLET:
        sw_label_greenlet(s, key, &t->labels);
        break;
    default:
        if (t->frame_label[key] != 0) {
            *off = t->frame_label[key];
            return 0;
        }
        sw_label_frame(s, t->o, key, &t->labels);
        if (end_label(t, at, off) < 0) {
            return -1;
        }
        t->frame_label[key] = *off;
        return 0;
    }
    return end_label(t, at, off);
}

/* The kind of the box of frame id f: a marker has no file and a name in
 * brackets. */
static int
frame_kind(const sw_session_t *s, uint32_t f)
{
    const sw_sframe_t *fr = &s->frames[f];

    if (fr->file == 0 && sw_session_str(s, fr->name)[0] == '[') {
        return K_MARKER;
    }
    return K_FUNC;
}

/* Appends a new last child of `parent`.  Returns its index, or 0 when out
 * of memory (index 0 is the root, never a child). */
static uint32_t
add_child(flame_t *t, const sw_session_t *s, uint32_t parent, int kind,
          uint32_t key)
{
    fnode_t *nd;
    uint32_t id;

    if (t->n == t->cap) {
        uint32_t cap = t->cap * 2;
        fnode_t *p;

        if (cap <= t->cap) {
            return 0;
        }
        p = realloc(t->nodes, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            return 0;
        }
        t->nodes = p;
        t->cap = cap;
    }
    id = t->n;
    nd = &t->nodes[id];
    memset(nd, 0, sizeof(*nd));
    nd->parent = parent;
    nd->key = key;
    nd->kind = (uint32_t)kind;
    nd->depth = t->nodes[parent].depth + 1;
    if (make_label(t, s, kind, key, &nd->label) < 0) {
        return 0;
    }
    t->n++;
    if (t->nodes[parent].child == 0) {
        t->nodes[parent].child = id;
    }
    else {
        t->nodes[t->nodes[parent].last].next = id;
    }
    t->nodes[parent].last = id;
    return id;
}

/* Builds the tree of boxes from the session's samples (see the top of
 * the file).  Returns 0 or -1 (out of memory). */
static int
build(flame_t *t, const sw_session_t *s, const sw_write_opts_t *o)
{
    uint32_t *order = NULL, *keys = NULL, *prev = NULL, *path = NULL;
    uint32_t n = 0, i, nprev = 0;
    size_t at, width = (size_t)s->nnodes + 3; /* two group rows and a spare */
    uint32_t ngroups = (o->by_thread ? 1u : 0u) + (o->by_greenlet ? 1u : 0u);
    int rc = -1;

    t->o = o;
    t->cap = 1024;
    t->nodes = calloc(t->cap, sizeof(*t->nodes));
    t->frame_label = calloc((size_t)s->nframes + 1, sizeof(*t->frame_label));
    keys = malloc(width * sizeof(*keys));
    prev = malloc(width * sizeof(*prev));
    path = malloc((width + 1) * sizeof(*path));
    order = sw_sorted_samples(s, o, &n);
    sw_buf_puts(&t->labels, "all");
    sw_buf_putc(&t->labels, '\0');
    if (t->nodes == NULL || t->frame_label == NULL || keys == NULL ||
        prev == NULL || path == NULL || order == NULL ||
        !sw_buf_ok(&t->labels)) {
        goto done;
    }
    t->n = 1; /* the root, label "all" at offset 0 */
    path[0] = 0;
    for (i = 0; i < n; i++) {
        const sw_ssample_t *e = &s->samples[order[i]];
        uint32_t nkeys = 0, same = 0, level, *swap;

        if (o->by_thread) {
            keys[nkeys++] = e->thread;
        }
        if (o->by_greenlet) {
            keys[nkeys++] = sw_greenlet_key(s, o, e->greenlet);
        }
        nkeys += (uint32_t)sw_stack_frames(s, e->node, keys + nkeys,
                                           (int)s->nnodes);
        while (same < nkeys && same < nprev && keys[same] == prev[same]) {
            same++;
        }
        t->nodes[0].count += e->count;
        for (level = 0; level < nkeys; level++) {
            uint32_t id = path[level + 1];

            if (level >= same) {
                int kind;

                if (level >= ngroups) {
                    kind = frame_kind(s, keys[level]);
                }
                else if (o->by_thread && level == 0) {
                    kind = K_THREAD;
                }
                else {
                    kind = K_GREENLET;
                }
                id = add_child(t, s, path[level], kind, keys[level]);
                if (id == 0) {
                    goto done;
                }
            }
            t->nodes[id].count += e->count;
            path[level + 1] = id;
        }
        swap = prev;
        prev = keys;
        keys = swap;
        nprev = nkeys;
    }
    t->total = t->nodes[0].count;
    at = t->labels.len;
    sw_buf_printf(&t->labels, "all (%llu sample%s)",
                  (unsigned long long)t->total, t->total == 1 ? "" : "s");
    rc = end_label(t, at, &t->root_text);
done:
    free(order);
    free(keys);
    free(prev);
    free(path);
    return rc;
}

/* qsort order of siblings: by label, then by key for equal labels (two
 * threads with the same name), so the output is deterministic. */
static int
cmp_sib(const void *pa, const void *pb)
{
    const sib_t *a = pa, *b = pb;
    int c = strcmp(a->label, b->label);

    if (c != 0) {
        return c;
    }
    return (a->key > b->key) - (a->key < b->key);
}

/* Sorts the children of every node by label and lays the tree out: sets
 * every node's start.  Returns 0 or -1 (out of memory). */
static int
sort_and_place(flame_t *t)
{
    sib_t *sibs = NULL;
    uint32_t cap = 0, i;

    for (i = 0; i < t->n; i++) {
        fnode_t *nd = &t->nodes[i];
        uint64_t at = nd->start;
        uint32_t c, k, m = 0;

        for (c = nd->child; c != 0; c = t->nodes[c].next) {
            m++;
        }
        if (m > 1) {
            if (m > cap) {
                sib_t *p = realloc(sibs, (size_t)m * sizeof(*p));

                if (p == NULL) {
                    free(sibs);
                    return -1;
                }
                sibs = p;
                cap = m;
            }
            for (k = 0, c = nd->child; c != 0; c = t->nodes[c].next, k++) {
                sibs[k].label = label_of(t, c);
                sibs[k].key = t->nodes[c].key;
                sibs[k].id = c;
            }
            qsort(sibs, m, sizeof(*sibs), cmp_sib);
            nd->child = sibs[0].id;
            for (k = 0; k + 1 < m; k++) {
                t->nodes[sibs[k].id].next = sibs[k + 1].id;
            }
            t->nodes[sibs[m - 1].id].next = 0;
        }
        /* Children have higher indexes, so they are placed after their
         * parent's own start is known. */
        for (c = nd->child; c != 0; c = t->nodes[c].next) {
            t->nodes[c].start = at;
            at += t->nodes[c].count;
        }
    }
    free(sibs);
    return 0;
}

/* 1 if node i is wide enough to be drawn. */
static int
visible(const flame_t *t, uint32_t i)
{
    double inner = IMAGE_WIDTH - 2 * PAD_X;

    return (double)t->nodes[i].count * inner / (double)t->total >= MIN_WIDTH;
}

/* The x coordinate of a sample offset, in hundredths of a pixel, rounded.
 * Monotonic in v, so rounded children stay inside rounded parents. */
static uint64_t
edge100(const flame_t *t, uint64_t v)
{
    double inner = IMAGE_WIDTH - 2 * PAD_X;
    double x = (double)PAD_X + (double)v * (inner / (double)t->total);

    return (uint64_t)(x * 100.0 + 0.5);
}

/* Appends a non-negative number given in hundredths as "12.34".  Not
 * printf("%f"): the decimal point of %f follows LC_NUMERIC, and an
 * application may have set a locale with a decimal comma. */
static void
put_fixed(sw_buf_t *out, uint64_t v100)
{
    sw_buf_printf(out, "%llu.%02u", (unsigned long long)(v100 / 100),
                  (unsigned)(v100 % 100));
}

/* Appends the fill colour of node i: warm from the function name, cool
 * for group rows, grey for markers. */
static void
put_colour(const flame_t *t, const sw_session_t *s, uint32_t i, sw_buf_t *out)
{
    const fnode_t *nd = &t->nodes[i];
    uint32_t h;
    unsigned r, g, b;

    switch (nd->kind) {
    case K_THREAD:
    case K_GREENLET:
        h = (uint32_t)sw_hash_str(label_of(t, i));
        r = 90 + (h & 0xFF) * 50 / 255;
        g = 150 + ((h >> 8) & 0xFF) * 50 / 255;
        b = 215 + ((h >> 16) & 0xFF) * 40 / 255;
        break;
    case K_MARKER:
        h = (uint32_t)sw_hash_str(label_of(t, i));
        r = g = b = 170 + (h & 0xFF) * 30 / 255;
        break;
    case K_FUNC:
        h = (uint32_t)sw_hash_str(sw_session_str(s, s->frames[nd->key].name));
        /* Red to yellow: red > green > blue. */
        r = 210 + (h & 0xFF) * 45 / 255;
        g = 60 + ((h >> 8) & 0xFF) * (r - 70) / 255;
        b = ((h >> 16) & 0xFF) * 55 / 255;
        break;
    default: /* the root */
        r = 225;
        g = 105;
        b = 45;
    }
    sw_buf_printf(out, "rgb(%u,%u,%u)", r, g, b);
}

/* Appends "N sample(s) (P%)" for a count out of the total. */
static void
put_share(sw_buf_t *out, uint64_t count, uint64_t total)
{
    double pct = (double)count * 10000.0 / (double)total;

    sw_buf_printf(out, "%llu sample%s (", (unsigned long long)count,
                  count == 1 ? "" : "s");
    put_fixed(out, (uint64_t)(pct + 0.5));
    sw_buf_puts(out, "%)");
}

/* Appends label, escaped, cut to fit a box w100 hundredths of a pixel
 * wide: whole if it fits, else its first characters and an ellipsis,
 * nothing if fewer than 3 characters fit.  Characters are UTF-8 code
 * points.  (The script fits the labels again to the document's real
 * width and font.) */
static void
put_fitted(sw_buf_t *out, const char *label, uint64_t w100)
{
    uint64_t room, chars = 0;
    size_t i, cut = 0;

    room = w100 > TEXT_PAD100 * 2 ? (w100 - TEXT_PAD100 * 2) / CHAR_W100 : 0;
    if (room < 3) {
        return;
    }
    for (i = 0; label[i] != '\0'; i++) {
        if (((unsigned char)label[i] & 0xC0) != 0x80) {
            if (chars == room - 1) {
                cut = i; /* where the ellipsis would go */
            }
            chars++;
        }
    }
    if (chars <= room) {
        sw_buf_xml(out, label);
        return;
    }
    {
        /* sw_buf_xml() needs a NUL-terminated string. */
        char *head = malloc(cut + 1);

        if (head == NULL) {
            out->failed = 1;
            return;
        }
        memcpy(head, label, cut);
        head[cut] = '\0';
        sw_buf_xml(out, head);
        free(head);
    }
    sw_buf_puts(out, "\xE2\x80\xA6"); /* an ellipsis */
}

/* The class attribute's value for a kind of box. */
static const char *
class_of(uint32_t kind)
{
    switch (kind) {
    case K_ROOT:
        return "frame root";
    case K_THREAD:
        return "frame group thread";
    case K_GREENLET:
        return "frame group greenlet";
    case K_MARKER:
        return "frame marker";
    default:
        return "frame func";
    }
}

/* Appends the <g> of node i, whose row starts at y (px, top). */
static void
write_frame(const flame_t *t, const sw_session_t *s, uint32_t i, unsigned y,
            sw_buf_t *out)
{
    const fnode_t *nd = &t->nodes[i];
    /* The root's box shows the total; its tooltip says "all". */
    const char *text =
        nd->kind == K_ROOT ? t->labels.data + t->root_text : label_of(t, i);
    uint64_t x0 = edge100(t, nd->start);
    uint64_t x1 = edge100(t, nd->start + nd->count);

    sw_buf_printf(out, "<g class=\"%s\" data-label=\"", class_of(nd->kind));
    sw_buf_xml(out, text);
    sw_buf_printf(out, "\" data-s=\"%llu\" data-n=\"%llu\" data-d=\"%u\">",
                  (unsigned long long)nd->start, (unsigned long long)nd->count,
                  nd->depth);
    sw_buf_puts(out, "<title>");
    sw_buf_xml(out, label_of(t, i));
    sw_buf_puts(out, " \xE2\x80\x94 "); /* an em dash */
    put_share(out, nd->count, t->total);
    sw_buf_puts(out, "</title><rect x=\"");
    put_fixed(out, x0);
    sw_buf_printf(out, "\" y=\"%u\" width=\"", y);
    put_fixed(out, x1 - x0);
    sw_buf_printf(out, "\" height=\"%d\" rx=\"2\" fill=\"", BOX_HEIGHT);
    put_colour(t, s, i, out);
    sw_buf_puts(out, "\"/><text x=\"");
    put_fixed(out, x0 + TEXT_PAD100);
    sw_buf_printf(out, "\" y=\"%u\">", y + TEXT_DY);
    put_fitted(out, text, x1 - x0);
    sw_buf_puts(out, "</text></g>\n");
}

/* The style sheet: no external font, only local font families. */
static const char style[] =
    "<style type=\"text/css\">\n"
    "text { font-family: ui-monospace, Menlo, Consolas, \"DejaVu Sans "
    "Mono\", \"Liberation Mono\", monospace; font-size: 12px; fill: #000; }\n"
    "#sw-title { font-size: 17px; font-weight: bold; }\n"
    "#sw-subtitle { fill: #555; }\n"
    ".sw-control { cursor: pointer; fill: #1f4e99; }\n"
    ".sw-control:hover { text-decoration: underline; }\n"
    ".sw-hidden { display: none; }\n"
    ".frame { cursor: pointer; }\n"
    ".frame text { pointer-events: none; }\n"
    ".frame:hover rect { stroke: #222; stroke-width: 0.6; }\n"
    ".sw-ancestor { opacity: 0.55; }\n"
    "</style>\n";

/* The script (see the top of the file).  Static text: it contains no
 * generated data, so nothing can end its CDATA section early. */
static const char script[] =
    "<script type=\"text/ecmascript\"><![CDATA[\n"
    "(function () {\n"
    "    \"use strict\";\n"
    "    var layer = document.getElementById(\"sw-frames\");\n"
    "    if (!layer) {\n"
    "        return;\n"
    "    }\n"
    "    var details = document.getElementById(\"sw-details\");\n"
    "    var unzoomCtl = document.getElementById(\"sw-unzoom\");\n"
    "    var searchCtl = document.getElementById(\"sw-search\");\n"
    "    var matchedText = document.getElementById(\"sw-matched\");\n"
    "    var svg = layer.ownerSVGElement || document.documentElement;\n"
    "    var total = Number(layer.getAttribute(\"data-total\"));\n"
    "    var left = Number(layer.getAttribute(\"data-left\"));\n"
    "    var inner = Number(layer.getAttribute(\"data-width\"));\n"
    "    var charW = Number(layer.getAttribute(\"data-charw\"));\n"

    "    var matchFill = \"rgb(222,60,230)\";\n"
    "    var frames = [];\n"
    "    var byElement = new Map();\n"
    "    var zoomed = null;\n"
    "    var searching = false;\n"
    "\n"
    "    Array.prototype.forEach.call(layer.querySelectorAll(\"g.frame\"),\n"
    "        function (g) {\n"
    "            var rect = g.querySelector(\"rect\");\n"
    "            var text = g.querySelector(\"text\");\n"
    "            var title = g.querySelector(\"title\");\n"
    "            var f = {\n"
    "                g: g, rect: rect, text: text,\n"
    "                label: g.getAttribute(\"data-label\") || \"\",\n"
    "                info: title ? title.textContent : \"\",\n"
    "                start: Number(g.getAttribute(\"data-s\")),\n"
    "                count: Number(g.getAttribute(\"data-n\")),\n"
    "                depth: Number(g.getAttribute(\"data-d\")),\n"
    "                root: g.classList.contains(\"root\"),\n"

    "                shown: text.textContent\n"
    "            };\n"
    "            frames.push(f);\n"
    "            byElement.set(g, f);\n"
    "        });\n"
    "\n"
    "    /* The width of a character of the font the browser really\n"
    "     * uses (monospace: every character has it), measured once. */\n"
    "    function measureChar() {\n"
    "        var probe = document.createElementNS(layer.namespaceURI,\n"
    "                                             \"text\");\n"
    "        var w = 0;\n"
    "        probe.textContent = new Array(41).join(\"abcde\");\n"
    "        layer.appendChild(probe);\n"
    "        try {\n"
    "            w = probe.getComputedTextLength() / 200;\n"
    "        }\n"
    "        catch (err) {\n"
    "            w = 0;\n"
    "        }\n"
    "        layer.removeChild(probe);\n"
    "        if (w > 0) {\n"
    "            charW = w;\n"
    "            layer.setAttribute(\"data-charw\", w.toFixed(4));\n"
    "        }\n"
    "    }\n"
    "\n"
    "    /* The label as it fits a box w px wide: whole when it fits, else\n"
    "     * its first characters and an ellipsis, nothing when fewer than\n"
    "     * 3 characters fit. */\n"
    "    function fitted(label, w) {\n"
    "        var room = Math.floor((w - 6) / charW + 0.01);\n"
    "        var chars;\n"
    "        if (room < 3) {\n"
    "            return \"\";\n"
    "        }\n"
    "        if (label.length <= room) {\n"
    "            return label;\n"
    "        }\n"
    "        chars = Array.from(label);\n"
    "        if (chars.length <= room) {\n"
    "            return label;\n"
    "        }\n"
    "        return chars.slice(0, room - 1).join(\"\") + \"\\u2026\";\n"
    "    }\n"
    "\n"
    "    function place(f, x, w) {\n"
    "        f.rect.setAttribute(\"x\", x.toFixed(2));\n"
    "        f.rect.setAttribute(\"width\", w.toFixed(2));\n"
    "        f.text.setAttribute(\"x\", (x + 3).toFixed(2));\n"
    "        f.text.textContent = fitted(f.label, w);\n"
    "    }\n"
    "\n"
    "    function reset() {\n"
    "        var scale = inner / total;\n"
    "        frames.forEach(function (f) {\n"
    "            f.g.classList.remove(\"sw-hidden\", \"sw-ancestor\");\n"
    "            place(f, left + f.start * scale, f.count * scale);\n"
    "        });\n"
    "        zoomed = null;\n"
    "        unzoomCtl.classList.add(\"sw-hidden\");\n"
    "    }\n"
    "\n"
    "    function zoom(z) {\n"
    "        var end = z.start + z.count;\n"
    "        var scale = inner / z.count;\n"
    "        if (z.root) {\n"
    "            reset();\n"
    "            return;\n"
    "        }\n"
    "        frames.forEach(function (f) {\n"
    "            var fend = f.start + f.count;\n"
    "            var inside = f.depth >= z.depth && f.start >= z.start &&\n"
    "                fend <= end;\n"
    "            var above = f.depth < z.depth && f.start <= z.start &&\n"
    "                fend >= end;\n"
    "            f.g.classList.toggle(\"sw-hidden\", !inside && !above);\n"
    "            f.g.classList.toggle(\"sw-ancestor\", above);\n"
    "            if (inside) {\n"
    "                place(f, left + (f.start - z.start) * scale,\n"
    "                      f.count * scale);\n"
    "            }\n"
    "            else if (above) {\n"
    "                place(f, left, inner);\n"
    "            }\n"
    "        });\n"
    "        zoomed = z;\n"
    "        unzoomCtl.classList.remove(\"sw-hidden\");\n"
    "    }\n"
    "\n"
    "    function clearSearch() {\n"
    "        frames.forEach(function (f) {\n"
    "            f.rect.style.removeProperty(\"fill\");\n"
    "            f.g.classList.remove(\"sw-match\");\n"
    "        });\n"
    "        searching = false;\n"
    "        matchedText.textContent = \"\";\n"
    "        searchCtl.textContent = \"Search\";\n"
    "    }\n"
    "\n"
    "    /* Highlights frames whose label matches; returns the share of\n"
    "     * samples under them in percent, or -1 for a bad pattern. */\n"
    "    function search(pattern) {\n"
    "        var re, spans = [], covered = 0, reach = 0, pct;\n"
    "        clearSearch();\n"
    "        try {\n"
    "            re = pattern instanceof RegExp ? pattern\n"
    "                : new RegExp(pattern);\n"
    "        }\n"
    "        catch (err) {\n"
    "            matchedText.textContent = \"Bad pattern: \" + pattern;\n"
    "            return -1;\n"
    "        }\n"
    "        frames.forEach(function (f) {\n"
    "            if (f.root || !re.test(f.label)) {\n"
    "                return;\n"
    "            }\n"
    "            f.rect.style.fill = matchFill;\n"
    "            f.g.classList.add(\"sw-match\");\n"
    "            spans.push([f.start, f.start + f.count]);\n"
    "        });\n"
    "        spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "        spans.forEach(function (sp) {\n"
    "            if (sp[1] > reach) {\n"
    "                covered += sp[1] - Math.max(sp[0], reach);\n"
    "                reach = sp[1];\n"
    "            }\n"
    "        });\n"
    "        pct = total ? 100 * covered / total : 0;\n"
    "        searching = true;\n"
    "        searchCtl.textContent = \"Clear search\";\n"
    "        matchedText.textContent = \"Matched: \" + pct.toFixed(2) +\n"
    "            \"%\";\n"
    "        return pct;\n"
    "    }\n"
    "\n"
    "    /* The frame record of the g.frame holding node, or null. */\n"
    "    function frameOf(node) {\n"
    "        while (node && node !== layer) {\n"
    "            if (node.classList && node.classList.contains(\"frame\")) {\n"
    "                return byElement.get(node) || null;\n"
    "            }\n"
    "            node = node.parentNode;\n"
    "        }\n"
    "        return null;\n"
    "    }\n"
    "\n"
    "    layer.addEventListener(\"mouseover\", function (ev) {\n"
    "        var f = frameOf(ev.target);\n"
    "        if (f) {\n"
    "            details.textContent = f.info;\n"
    "        }\n"
    "    });\n"
    "    layer.addEventListener(\"mouseout\", function (ev) {\n"
    "        if (frameOf(ev.target)) {\n"
    "            details.textContent = \"\\u00a0\";\n"
    "        }\n"
    "    });\n"
    "    layer.addEventListener(\"click\", function (ev) {\n"
    "        var f = frameOf(ev.target);\n"
    "        if (f) {\n"
    "            zoom(f);\n"
    "        }\n"
    "    });\n"
    "    /* Lays the graph out again for the width the document has now\n"
    "     * (width 100%: the window's), keeping the zoom. */\n"
    "    function layout() {\n"
    "        var w = svg.getBoundingClientRect().width;\n"
    "        if (!(w > 4 * left + 60)) {\n"
    "            return;\n"
    "        }\n"
    "        inner = w - 2 * left;\n"
    "        layer.setAttribute(\"data-width\", inner.toFixed(2));\n"

    "        if (zoomed) {\n"
    "            zoom(zoomed);\n"
    "        }\n"
    "        else {\n"
    "            reset();\n"
    "        }\n"
    "    }\n"
    "\n"
    "    unzoomCtl.addEventListener(\"click\", reset);\n"
    "    window.addEventListener(\"resize\", layout);\n"
    "    searchCtl.addEventListener(\"click\", function () {\n"
    "        var pattern;\n"
    "        if (searching) {\n"
    "            clearSearch();\n"
    "            return;\n"
    "        }\n"
    "        pattern = window.prompt(\"Search frames (regular expression)\",\n"
    "                                \"\");\n"
    "        if (pattern) {\n"
    "            search(pattern);\n"
    "        }\n"
    "    });\n"
    "    document.addEventListener(\"keydown\", function (ev) {\n"
    "        if (ev.key === \"Escape\") {\n"
    "            reset();\n"
    "            clearSearch();\n"
    "        }\n"
    "    });\n"
    "    measureChar();\n"
    "    layout();\n"
    "    window.stackwatchFlame = {\n"
    "        frames: frames,\n"
    "        layout: layout,\n"
    "        width: function () { return inner; },\n"
    "        zoom: zoom,\n"
    "        reset: reset,\n"
    "        search: search,\n"
    "        clearSearch: clearSearch,\n"
    "        zoomed: function () { return zoomed; }\n"
    "    };\n"
    "}());\n"
    "]]></script>\n";

/* Appends the XML prolog, the <svg> tag, the document title, the style
 * sheet, the background and the title and subtitle lines. */
static void
write_head(const sw_write_opts_t *o, unsigned height, sw_buf_t *out)
{
    const char *title = o->title ? o->title : "stackwatch profile";

    sw_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
                     "standalone=\"yes\"?>\n");
    sw_buf_printf(out,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                  "width=\"100%%\" height=\"%u\">\n",
                  height);
    sw_buf_puts(out, "<title>");
    sw_buf_xml(out, title);
    sw_buf_puts(out, "</title>\n");
    sw_buf_puts(out, style);
    sw_buf_printf(out,
                  "<rect id=\"sw-background\" x=\"0\" y=\"0\" "
                  "width=\"100%%\" height=\"%u\" fill=\"#ffffff\"/>\n",
                  height);
    sw_buf_printf(out, "<text id=\"sw-title\" x=\"50%%\" y=\"24\" "
                       "text-anchor=\"middle\">");
    sw_buf_xml(out, title);
    sw_buf_puts(out, "</text>\n");
    if (o->subtitle != NULL && o->subtitle[0] != '\0') {
        sw_buf_printf(out, "<text id=\"sw-subtitle\" x=\"50%%\" y=\"44\" "
                           "text-anchor=\"middle\">");
        sw_buf_xml(out, o->subtitle);
        sw_buf_puts(out, "</text>\n");
    }
}

/* Appends the document for a profile with no samples. */
static void
write_empty(const sw_write_opts_t *o, sw_buf_t *out)
{
    write_head(o, EMPTY_HEIGHT, out);
    sw_buf_printf(out,
                  "<text id=\"sw-empty\" x=\"50%%\" y=\"%d\" "
                  "text-anchor=\"middle\">No samples</text>\n</svg>\n",
                  EMPTY_HEIGHT - 24);
}

/* Appends the whole document for a laid-out tree. */
static void
write_graph(const flame_t *t, const sw_session_t *s, const sw_write_opts_t *o,
            sw_buf_t *out)
{
    unsigned top = (o->subtitle != NULL && o->subtitle[0] != '\0')
                       ? TOP_PAD_SUB
                       : TOP_PAD;
    unsigned rows = 1, height, base;
    uint32_t i;

    for (i = 1; i < t->n; i++) {
        if (t->nodes[i].depth + 1 > rows && visible(t, i)) {
            rows = t->nodes[i].depth + 1;
        }
    }
    height = top + rows * FRAME_HEIGHT + BOTTOM_PAD;
    base = top + (rows - 1) * FRAME_HEIGHT; /* the top of row 0 */
    write_head(o, height, out);
    sw_buf_printf(out,
                  "<text id=\"sw-unzoom\" class=\"sw-control sw-hidden\" "
                  "x=\"%d\" y=\"24\">Reset zoom</text>\n",
                  PAD_X);
    sw_buf_printf(out,
                  "<text id=\"sw-search\" class=\"sw-control\" x=\"100%%\" "
                  "dx=\"-%d\" y=\"24\" text-anchor=\"end\">Search</text>\n",
                  PAD_X);
    sw_buf_printf(
        out, "<text id=\"sw-details\" x=\"%d\" y=\"%u\">\xC2\xA0</text>\n",
        PAD_X, height - 12);
    sw_buf_printf(out,
                  "<text id=\"sw-matched\" x=\"100%%\" dx=\"-%d\" "
                  "y=\"%u\" text-anchor=\"end\"></text>\n",
                  PAD_X, height - 12);
    sw_buf_printf(out,
                  "<g id=\"sw-frames\" data-total=\"%llu\" data-left=\"%d\" "
                  "data-width=\"%d\" data-charw=\"",
                  (unsigned long long)t->total, PAD_X,
                  IMAGE_WIDTH - 2 * PAD_X);
    put_fixed(out, CHAR_W100);
    sw_buf_puts(out, "\">\n");
    /* Depth first in drawing order, without recursion; a box too narrow
     * to draw hides everything above it. */
    i = 0;
    for (;;) {
        int shown = visible(t, i);

        if (shown) {
            write_frame(t, s, i, base - t->nodes[i].depth * FRAME_HEIGHT, out);
        }
        if (shown && t->nodes[i].child != 0) {
            i = t->nodes[i].child;
            continue;
        }
        while (i != 0 && t->nodes[i].next == 0) {
            i = t->nodes[i].parent;
        }
        if (i == 0) {
            break;
        }
        i = t->nodes[i].next;
    }
    sw_buf_puts(out, "</g>\n");
    sw_buf_puts(out, script);
    sw_buf_puts(out, "</svg>\n");
}

/* See writer.h: appends the document to out; 0, or -1 when out of
 * memory (out may then hold part of a document). */
int
sw_write_svg(const sw_session_t *s, const sw_write_opts_t *o, sw_buf_t *out)
{
    flame_t t;
    int rc = -1;

    memset(&t, 0, sizeof(t));
    sw_buf_init(&t.labels);
    if (build(&t, s, o) < 0 || sort_and_place(&t) < 0) {
        goto done;
    }
    if (t.total == 0) {
        write_empty(o, out);
    }
    else {
        write_graph(&t, s, o, out);
    }
    rc = sw_buf_ok(out) ? 0 : -1;
done:
    free(t.nodes);
    free(t.frame_label);
    sw_buf_free(&t.labels);
    return rc;
}
