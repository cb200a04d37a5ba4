/* The frame and stack formatter; see stackfmt.h. */
#include <ctype.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "stackfmt.h"

#define SOURCE_LEN 160
#define SOURCE_MAX (8u << 20)

static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/* ---- path prefixes ------------------------------------------------------ */

/* An immutable table; older ones stay reachable through `older`. */
typedef struct prefix_table {
    struct prefix_table *older;
    size_t n;
    size_t *len; /* len[i]: strlen(v[i]) */
    char **v;    /* longest first, each ending in '/' */
} prefix_table_t;

static _Atomic(prefix_table_t *) prefixes;

static int
cmp_longest_first(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    size_t la = strlen(a), lb = strlen(b);

    if (la != lb) {
        return la > lb ? -1 : 1;
    }
    return strcmp(a, b);
}

static void
table_free(prefix_table_t *t)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; t->v != NULL && i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    free(t->len);
    free(t);
}

static int
table_same(const prefix_table_t *a, const prefix_table_t *b)
{
    size_t i;

    if (a == NULL || b == NULL || a->n != b->n) {
        return 0;
    }
    for (i = 0; i < a->n; i++) {
        if (strcmp(a->v[i], b->v[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

int
sw_stackfmt_set_prefixes(const char *const *in, size_t n)
{
    prefix_table_t *t = calloc(1, sizeof(*t)), *cur;
    size_t i, k = 0;

    if (t == NULL) {
        return SW_ENOMEM;
    }
    t->v = calloc(n ? n : 1, sizeof(*t->v));
    t->len = calloc(n ? n : 1, sizeof(*t->len));
    if (t->v == NULL || t->len == NULL) {
        table_free(t);
        return SW_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        size_t len = in[i] != NULL ? strlen(in[i]) : 0;
        int slash;
        char *p;

        if (len < 2 || in[i][0] != '/') {
            continue; /* relative, empty or "/" */
        }
        slash = in[i][len - 1] == '/';
        p = malloc(len + 2);
        if (p == NULL) {
            t->n = k;
            table_free(t);
            return SW_ENOMEM;
        }
        memcpy(p, in[i], len);
        if (!slash) {
            p[len++] = '/';
        }
        p[len] = '\0';
        t->v[k++] = p;
    }
    t->n = k;
    qsort(t->v, k, sizeof(*t->v), cmp_longest_first);
    for (i = k = 0; i < t->n; i++) { /* without duplicates */
        if (k > 0 && strcmp(t->v[k - 1], t->v[i]) == 0) {
            free(t->v[i]);
            continue;
        }
        t->v[k] = t->v[i];
        t->len[k] = strlen(t->v[k]);
        k++;
    }
    t->n = k;
    cur = atomic_load(&prefixes);
    if (table_same(cur, t)) {
        table_free(t);
        return 0;
    }
    t->older = cur;
    atomic_store(&prefixes, t);
    return 0;
}

const char *
sw_stackfmt_short_path(const char *file)
{
    const prefix_table_t *t = atomic_load(&prefixes);
    size_t i;

    if (file == NULL || t == NULL || file[0] != '/') {
        return file;
    }
    for (i = 0; i < t->n; i++) {
        if (strncmp(file, t->v[i], t->len[i]) == 0 &&
            file[t->len[i]] != '\0') {
            return file + t->len[i];
        }
    }
    return file;
}

/* ---- frames and stacks ---------------------------------------------------- */

void
sw_stackfmt_frame(sw_buf_t *out, const sw_fmt_frame_t *f, int style,
                  unsigned flags)
{
    const char *name = f->name != NULL ? f->name : "";
    const char *file = f->file;

    if (file != NULL && (flags & SW_FMT_BASENAME)) {
        file = base_name(file);
        if (file[0] == '\0') {
            file = NULL;
        }
    }
    else if (file != NULL && (flags & SW_FMT_SHORT)) {
        file = sw_stackfmt_short_path(file);
    }
    if (style == SW_FMT_TRACEBACK) {
        file = file != NULL ? file : "";
        if (f->line >= 0) {
            sw_buf_printf(out, "File \"%s\", line %d, in %s", file, f->line,
                          name);
        }
        else {
            sw_buf_printf(out, "File \"%s\", in %s", file, name);
        }
        return;
    }
    sw_buf_puts(out, name);
    if (file == NULL) {
        return;
    }
    if (f->line >= 0) {
        sw_buf_printf(out, " (%s:%d)", file, f->line);
    }
    else {
        sw_buf_printf(out, " (%s)", file);
    }
}

int
sw_stackfmt_hidden(const sw_fmt_frame_t *f, const char *hide)
{
    size_t n = hide != NULL ? strlen(hide) : 0;

    return n > 0 && f->file != NULL && strncmp(f->file, hide, n) == 0;
}

void
sw_stackfmt_array_get(const void *ctx, size_t i, sw_fmt_frame_t *out)
{
    *out = ((const sw_fmt_frame_t *)ctx)[i];
}

size_t
sw_stackfmt_stack(sw_buf_t *out, sw_fmt_get_fn get, const void *ctx, size_t n,
                  const sw_fmt_opts_t *o)
{
    char text[SOURCE_LEN];
    size_t i, written = 0;

    for (i = 0; i < n; i++) {
        sw_fmt_frame_t frame;
        const sw_fmt_frame_t *f = &frame;

        get(ctx, (o->flags & SW_FMT_OUTER_FIRST) ? n - 1 - i : i, &frame);
        if (sw_stackfmt_hidden(f, o->hide)) {
            continue;
        }
        if (o->indent != NULL) {
            sw_buf_puts(out, o->indent);
        }
        sw_stackfmt_frame(out, f, o->style, o->flags);
        sw_buf_putc(out, '\n');
        written++;
        if ((o->flags & SW_FMT_SOURCE) && f->line > 0 && f->file != NULL &&
            sw_stackfmt_source_line(f->file, f->line, text, sizeof(text)) ==
                0) {
            if (o->source_indent != NULL) {
                sw_buf_puts(out, o->source_indent);
            }
            sw_buf_puts(out, text);
            sw_buf_putc(out, '\n');
        }
    }
    return written;
}

int
sw_stackfmt_source_line(const char *path, int line, char *out, size_t cap)
{
    char chunk[16384];
    size_t len = 0, total = 0;
    int fd, cur = 1, skipping = 1;
    ssize_t n;

    if (cap == 0 || line < 1) {
        return -1;
    }
    if (path[0] != '/' && path[0] != '.' && !isalnum((unsigned char)path[0])) {
        return -1; /* "<string>", "<frozen ...>" */
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    while (cur <= line && total < SOURCE_MAX &&
           (n = read(fd, chunk, sizeof(chunk))) > 0) {
        total += (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            char c = chunk[i];

            if (c == '\n') {
                if (cur == line) {
                    cur++;
                    break;
                }
                cur++;
                continue;
            }
            if (cur != line) {
                continue;
            }
            if (skipping && (c == ' ' || c == '\t')) {
                continue;
            }
            skipping = 0;
            if (c != '\r' && len + 1 < cap) {
                out[len++] = c == '\t' ? ' ' : c;
            }
        }
    }
    close(fd);
    if (cur < line || len == 0) {
        return -1;
    }
    out[len] = '\0';
    return 0;
}
