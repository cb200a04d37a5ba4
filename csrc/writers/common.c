/* Helpers shared by the writers; see writer.h. */
#include <stdlib.h>
#include <string.h>

#include "stackfmt.h"
#include "writers/writer.h"

sw_writer_fn
sw_writer_for(const char *format)
{
    if (strcmp(format, "collapsed") == 0) {
        return sw_write_collapsed;
    }
    if (strcmp(format, "speedscope") == 0) {
        return sw_write_speedscope;
    }
    if (strcmp(format, "svg") == 0) {
        return sw_write_svg;
    }
    if (strcmp(format, "pprof") == 0) {
        return sw_write_pprof;
    }
    return NULL;
}

void
sw_label_thread(const sw_session_t *s, uint32_t slot, sw_buf_t *out)
{
    const sw_sthread_t *t;

    if (slot == 0 || slot >= s->nthreads) {
        sw_buf_puts(out, "other threads");
        return;
    }
    t = &s->threads[slot];
    if (t->name != 0) {
        sw_buf_puts(out, sw_session_str(s, t->name));
    }
    else {
        sw_buf_printf(out, "Thread 0x%lx", t->ident);
    }
    if (t->tid > 0) {
        sw_buf_printf(out, " (tid %ld)", t->tid);
    }
}

uint32_t
sw_greenlet_key(const sw_session_t *s, const sw_write_opts_t *o, uint32_t id)
{
    uint32_t g;

    if (o->by_greenlet != SW_GREENLETS_GROUPED) {
        return id;
    }
    g = sw_session_greenlet_group(s, id);
    return g != 0 && g < SW_GREENLET_GROUP_BIT ? SW_GREENLET_GROUP_BIT | g
                                               : id;
}

void
sw_label_greenlet(const sw_session_t *s, uint32_t key, sw_buf_t *out)
{
    uint32_t id = key;
    const char *label;

    if (key & SW_GREENLET_GROUP_BIT) {
        sw_buf_puts(out, sw_session_str(s, key & ~SW_GREENLET_GROUP_BIT));
        return;
    }
    label = sw_session_greenlet_label(s, id);
    if (id == 0) {
        sw_buf_puts(out, "greenlet ?");
    }
    else if (label != NULL) {
        sw_buf_printf(out, "greenlet %s", label);
    }
    else {
        sw_buf_printf(out, "greenlet #%u", id);
    }
}

void
sw_label_frame(const sw_session_t *s, const sw_write_opts_t *o, uint32_t frame,
               sw_buf_t *out)
{
    const sw_sframe_t *f = &s->frames[frame];
    const sw_fmt_frame_t ff = {
        .name = sw_session_str(s, f->name),
        .file = f->file != 0 ? sw_session_str(s, f->file) : NULL,
        .line = f->line,
    };

    int full = o->full_paths || (o->keep_full != NULL && o->keep_full[frame]);

    sw_stackfmt_frame(out, &ff, SW_FMT_LABEL, full ? 0 : SW_FMT_SHORT);
}

/* ---- the ambiguity guard ------------------------------------------------ */

typedef struct shown {
    const char *text; /* the file as a label shows it */
    uint32_t file;    /* its string id: the full path */
    uint32_t frame;
} shown_t;

static int
cmp_shown(const void *pa, const void *pb)
{
    const shown_t *a = pa, *b = pb;
    int c = strcmp(a->text, b->text);

    if (c != 0) {
        return c;
    }
    return (a->file > b->file) - (a->file < b->file);
}

int
sw_write_profile(sw_writer_fn fn, const sw_session_t *s,
                 const sw_write_opts_t *o, sw_buf_t *out)
{
    sw_write_opts_t mine = *o;
    unsigned char *keep = NULL;
    shown_t *v = NULL;
    uint32_t f, n = 0, i, j;
    int rc;

    /* speedscope has no labels with files: its "file" is the full path. */
    if (!o->full_paths && fn != sw_write_speedscope && s->nframes > 1) {
        keep = calloc(s->nframes, 1);
        v = malloc((size_t)s->nframes * sizeof(*v));
        if (keep == NULL || v == NULL) {
            free(keep);
            free(v);
            return -1;
        }
        for (f = 1; f < s->nframes; f++) {
            const sw_sframe_t *fr = &s->frames[f];

            if (fr->file != 0) {
                const char *file = sw_session_str(s, fr->file);

                v[n++] = (shown_t){sw_stackfmt_short_path(file), fr->file, f};
            }
        }
        qsort(v, n, sizeof(*v), cmp_shown);
        /* Runs of the same text: if they name more than one file, every
         * frame of the run keeps its full path. */
        for (i = 0; i < n; i = j) {
            for (j = i + 1; j < n && strcmp(v[j].text, v[i].text) == 0; j++) {
            }
            if (v[j - 1].file != v[i].file) {
                uint32_t k;

                for (k = i; k < j; k++) {
                    keep[v[k].frame] = 1;
                }
            }
        }
        free(v);
        mine.keep_full = keep;
    }
    rc = fn(s, &mine, out);
    free(keep);
    return rc;
}

uint64_t
sw_sample_weight(const sw_ssample_t *e, int weight)
{
    switch (weight) {
    case SW_WEIGHT_WALL:
        return e->wall_ns;
    case SW_WEIGHT_CPU:
        return e->cpu_ns;
    default:
        return e->count;
    }
}

uint64_t
sw_sample_group(const sw_session_t *s, const sw_ssample_t *e,
                const sw_write_opts_t *o)
{
    uint64_t g = 0;

    if (o->by_thread) {
        g |= (uint64_t)(e->thread + 1) << 33;
    }
    if (o->by_greenlet) {
        g |= (uint64_t)sw_greenlet_key(s, o, e->greenlet) + 1;
    }
    return g;
}

void
sw_group_prefix(const sw_session_t *s, const sw_ssample_t *e,
                const sw_write_opts_t *o, const char *sep, sw_buf_t *out)
{
    if (o->by_thread) {
        sw_label_thread(s, e->thread, out);
        sw_buf_puts(out, sep);
    }
    if (o->by_greenlet) {
        sw_label_greenlet(s, sw_greenlet_key(s, o, e->greenlet), out);
        sw_buf_puts(out, sep);
    }
}

/* ---- sorting samples by group, then by stack ------------------------- */

typedef struct sort_ctx {
    const sw_session_t *s;
    const sw_write_opts_t *o;
    uint32_t *paths; /* frames of every sample, root first, concatenated */
    uint32_t *start; /* start[i], len[i]: sample i's frames in paths */
    uint32_t *len;
} sort_ctx_t;

/* qsort has no context argument in C11. */
static _Thread_local sort_ctx_t *the_ctx;

static int
cmp_frame(const sw_session_t *s, uint32_t a, uint32_t b)
{
    const sw_sframe_t *fa = &s->frames[a], *fb = &s->frames[b];
    int c;

    if (a == b) {
        return 0;
    }
    c = strcmp(sw_session_str(s, fa->name), sw_session_str(s, fb->name));
    if (c == 0) {
        c = strcmp(sw_session_str(s, fa->file), sw_session_str(s, fb->file));
    }
    if (c == 0) {
        c = (fa->line > fb->line) - (fa->line < fb->line);
    }
    return c;
}

static int
cmp_samples(const void *pa, const void *pb)
{
    const sort_ctx_t *c = the_ctx;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    uint64_t ga = sw_sample_group(c->s, &c->s->samples[a], c->o);
    uint64_t gb = sw_sample_group(c->s, &c->s->samples[b], c->o);
    uint32_t i, n;

    if (ga != gb) {
        return ga < gb ? -1 : 1;
    }
    n = c->len[a] < c->len[b] ? c->len[a] : c->len[b];
    for (i = 0; i < n; i++) {
        int r = cmp_frame(c->s, c->paths[c->start[a] + i],
                          c->paths[c->start[b] + i]);

        if (r != 0) {
            return r;
        }
    }
    if (c->len[a] != c->len[b]) {
        return c->len[a] < c->len[b] ? -1 : 1;
    }
    return (a > b) - (a < b);
}

uint32_t *
sw_sorted_samples(const sw_session_t *s, const sw_write_opts_t *o, uint32_t *n)
{
    sort_ctx_t c = {s, o, NULL, NULL, NULL};
    uint32_t *idx = malloc(((size_t)s->nsamples + 1) * sizeof(*idx));
    uint64_t total = 0;
    uint32_t i, k = 0;

    c.start = calloc((size_t)s->nsamples + 1, sizeof(*c.start));
    c.len = calloc((size_t)s->nsamples + 1, sizeof(*c.len));
    if (idx == NULL || c.start == NULL || c.len == NULL) {
        goto fail;
    }
    for (i = 1; i < s->nsamples; i++) {
        if (s->samples[i].count == 0) {
            continue;
        }
        c.len[i] = sw_stack_depth(s, s->samples[i].node);
        c.start[i] = (uint32_t)total;
        total += c.len[i];
        idx[k++] = i;
    }
    c.paths = malloc((size_t)(total ? total : 1) * sizeof(*c.paths));
    if (c.paths == NULL) {
        goto fail;
    }
    for (i = 0; i < k; i++) {
        uint32_t j = idx[i];

        sw_stack_frames(s, s->samples[j].node, c.paths + c.start[j],
                        (int)c.len[j]);
    }
    the_ctx = &c;
    qsort(idx, k, sizeof(*idx), cmp_samples);
    the_ctx = NULL;
    free(c.paths);
    free(c.start);
    free(c.len);
    *n = k;
    return idx;
fail:
    free(idx);
    free(c.paths);
    free(c.start);
    free(c.len);
    return NULL;
}
