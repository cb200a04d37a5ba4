/* Folded ("collapsed") stacks, the input of flamegraph.pl and inferno:
 *
 *     MainThread (tid 7);<module> (app.py:3);main (app.py:9) 42
 *
 * One line per distinct stack, root first, frames joined by ';', then a
 * space and the number of samples, sorted by text.  Lines that read the
 * same (from two threads when not split by thread, or two threads with
 * the same name) are merged.  A ';' or a
 * line break inside a label would change the meaning of the line, so they
 * are written as ':' and ' '. */
#include <stdlib.h>
#include <string.h>

#include "writers/writer.h"

/* Makes the text appended since `at` safe inside a folded line. */
static void
sanitize_from(sw_buf_t *b, size_t at)
{
    for (; at < b->len; at++) {
        if (b->data[at] == ';') {
            b->data[at] = ':';
        }
        else if (b->data[at] == '\n' || b->data[at] == '\r') {
            b->data[at] = ' ';
        }
    }
}

/* Writes the line for sample e (without the count) into line. */
static void
stack_line(const sw_session_t *s, const sw_write_opts_t *o,
           const sw_ssample_t *e, uint32_t *frames, sw_buf_t *line)
{
    int n, i, first = 1;
    size_t at;

    line->len = 0;
    if (o->by_thread) {
        sw_label_thread(s, e->thread, line);
        sanitize_from(line, 0);
        first = 0;
    }
    if (o->by_greenlet) {
        if (!first) {
            sw_buf_putc(line, ';');
        }
        at = line->len;
        sw_label_greenlet(s, sw_greenlet_key(s, o, e->greenlet), line);
        sanitize_from(line, at);
        first = 0;
    }
    n = sw_stack_frames(s, e->node, frames, (int)s->nnodes);
    for (i = 0; i < n; i++) {
        if (!first) {
            sw_buf_putc(line, ';');
        }
        at = line->len;
        sw_label_frame(s, o, frames[i], line);
        sanitize_from(line, at);
        first = 0;
    }
}

typedef struct line {
    size_t off, len;
    uint64_t count;
} line_t;

static int
cmp_lines_at(const char *text, const line_t *a, const line_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(text + a->off, text + b->off, n);

    if (c != 0) {
        return c;
    }
    return (a->len > b->len) - (a->len < b->len);
}

/* qsort has no context argument in C11. */
static _Thread_local const char *lines_text;

static int
cmp_lines(const void *pa, const void *pb)
{
    return cmp_lines_at(lines_text, pa, pb);
}

int
sw_write_collapsed(const sw_session_t *s, const sw_write_opts_t *o,
                   sw_buf_t *out)
{
    sw_buf_t text, line;
    line_t *lines;
    uint32_t *order, n = 0, i, k = 0;
    uint32_t *frames = malloc(((size_t)s->nnodes + 1) * sizeof(*frames));
    int rc = -1;

    order = sw_sorted_samples(s, o, &n);
    /* n is set only when order is not NULL */
    lines = order != NULL ? malloc(((size_t)n + 1) * sizeof(*lines)) : NULL;
    sw_buf_init(&text);
    sw_buf_init(&line);
    if (order == NULL || frames == NULL || lines == NULL) {
        goto done;
    }
    /* Render every line, then sort by text: lines that read the same
     * (two threads with the same name, say) become one. */
    for (i = 0; i < n; i++) {
        const sw_ssample_t *e = &s->samples[order[i]];

        stack_line(s, o, e, frames, &line);
        lines[i].off = text.len;
        lines[i].len = line.len;
        lines[i].count = e->count;
        sw_buf_put(&text, line.data ? line.data : "", line.len);
    }
    if (!sw_buf_ok(&text) || !sw_buf_ok(&line)) {
        goto done;
    }
    lines_text = text.data;
    qsort(lines, n, sizeof(*lines), cmp_lines);
    lines_text = NULL;
    while (k < n) {
        uint64_t count = lines[k].count;
        uint32_t j = k + 1;

        while (j < n && cmp_lines_at(text.data, &lines[k], &lines[j]) == 0) {
            count += lines[j++].count;
        }
        sw_buf_put(out, text.data + lines[k].off, lines[k].len);
        sw_buf_printf(out, " %llu\n", (unsigned long long)count);
        k = j;
    }
    rc = sw_buf_ok(out) ? 0 : -1;
done:
    sw_buf_free(&text);
    sw_buf_free(&line);
    free(lines);
    free(order);
    free(frames);
    return rc;
}
