/* pprof: the profile.proto message of github.com/google/pprof
 * (proto/profile.proto), gzip-compressed, as `go tool pprof` reads it
 * from a file or from /debug/pprof/profile.
 *
 * The message: sample types samples/count and wall/nanoseconds (the
 * default), one Sample per distinct (thread, greenlet, stack) with its
 * location ids leaf first and labels "thread" (its label, as in the other
 * formats), "greenlet" (when it ran in one) and "task" (with --tasks: the
 * running task, from its marker frame); one Location per frame (its
 * line), one Function per (name, file, first line), its start line the
 * code object's co_firstlineno (read with the frame, without the GIL;
 * 0, "unknown", for markers and frames named without one); period type wall/nanoseconds with the mean
 * time between passes, time and duration from the session.  One mapping
 * ("python") that says it has functions, files and lines: the frames are
 * Python's, not addresses in a binary.
 *
 * The encoding is written here (varints, length-delimited fields, packed
 * repeated integers); the gzip stream is writers/gzip.h's (zlib's
 * deflate, or stored blocks in a build without zlib).
 *
 * Samples are not split by the options' by_thread / by_greenlet: the
 * labels carry both, and pprof groups by them on request (-tagfocus,
 * -tagroot). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "writers/gzip.h"
#include "writers/writer.h"

/* How tasks.c names a task's marker frame (a frame with no file). */
#define TASK_MARK "[task] "
#define TASK_MARK_LEN 7

/* ---- protobuf ----------------------------------------------------------- */

static void
varint(sw_buf_t *b, uint64_t v)
{
    char tmp[10];
    int n = 0;

    do {
        tmp[n++] = (char)((v & 0x7F) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    sw_buf_put(b, tmp, (size_t)n);
}

static void
field_int(sw_buf_t *b, int field, uint64_t v)
{
    varint(b, (uint64_t)field << 3); /* wire type 0 */
    varint(b, v);
}

/* A length-delimited field holding n bytes of data. */
static void
field_bytes(sw_buf_t *b, int field, const char *data, size_t n)
{
    varint(b, ((uint64_t)field << 3) | 2);
    varint(b, n);
    if (n > 0) {
        sw_buf_put(b, data, n);
    }
}

/* ---- the string table --------------------------------------------------- */

/* Session string offset -> profile string index, filled on demand;
 * extra strings (labels built here) are appended as they come. */
typedef struct strtab {
    uint32_t *index; /* by session offset, 0: not yet (0 is "") */
    uint32_t count;
    sw_buf_t table; /* the encoded string_table fields */
} strtab_t;

static uint32_t
str_add(strtab_t *t, const char *s, size_t n)
{
    field_bytes(&t->table, 6, s, n);
    return t->count++;
}

static uint32_t
str_session(strtab_t *t, const sw_session_t *s, uint32_t off)
{
    if (off == 0 || off >= s->strings_used) {
        return 0;
    }
    if (t->index[off] == 0) {
        t->index[off] = str_add(t, s->strings + off, strlen(s->strings + off));
    }
    return t->index[off];
}

static uint32_t
str_lit(strtab_t *t, const char *lit)
{
    return str_add(t, lit, strlen(lit));
}

/* ---- gzip --------------------------------------------------------------- */

static int
to_buf(void *ctx, const void *data, size_t n)
{
    sw_buf_put(ctx, data, n);
    return sw_buf_ok(ctx) ? 0 : -1;
}

/* Appends data as one gzip member (writers/gzip.h). */
static int
gzip_into(const char *data, size_t n, sw_buf_t *out)
{
    sw_gzip_t g;
    int rc = sw_gzip_begin(&g, 6, to_buf, out);

    if (rc == 0) {
        rc = sw_gzip_put(&g, data, n);
    }
    return sw_gzip_end(&g) < 0 ? -1 : rc;
}

/* ---- the profile -------------------------------------------------------- */

/* The function index of each frame: one function per (name, file,
 * first line), so that two functions of one name in one file (two
 * decorators' "wrapper") stay two. */
static uint32_t *
functions_of(const sw_session_t *s, uint32_t *nfuncs)
{
    uint32_t *fn = calloc((size_t)s->nframes + 1, sizeof(*fn));
    uint32_t *rep; /* slot -> a frame of its function, 0: empty */
    uint32_t mask = 1, i, n = 0;

    while (mask < 2 * (s->nframes + 1)) {
        mask <<= 1;
    }
    rep = calloc(mask, sizeof(*rep));
    if (fn == NULL || rep == NULL) {
        free(fn);
        free(rep);
        return NULL;
    }
    mask--;
    for (i = 1; i < s->nframes; i++) {
        const sw_sframe_t *f = &s->frames[i];
        uint64_t key = ((uint64_t)f->name << 32) ^ f->file ^
                       ((uint64_t)(uint32_t)f->first << 20);
        uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & mask;

        while (rep[h] != 0) {
            const sw_sframe_t *g = &s->frames[rep[h]];

            if (g->name == f->name && g->file == f->file &&
                g->first == f->first) {
                break;
            }
            h = (h + 1) & mask;
        }
        if (rep[h] == 0) {
            rep[h] = i;
            fn[i] = ++n;
        }
        else {
            fn[i] = fn[rep[h]];
        }
    }
    free(rep);
    *nfuncs = n;
    return fn;
}

int
sw_write_pprof(const sw_session_t *s, const sw_write_opts_t *o, sw_buf_t *out)
{
    strtab_t st;
    sw_buf_t msg, sub, line, packed, label;
    uint32_t *fn = NULL, *frames = NULL, *first_frame = NULL, nfuncs = 0, i;
    uint32_t s_samples, s_count, s_wall, s_ns, s_thread, s_greenlet, s_task;
    /* The finished runs, and the current one so far. */
    uint64_t sampled =
        s->sampled_ns + (s->run_ns != 0 ? sw_now_ns() - s->run_ns : 0);
    uint64_t period;
    int rc = -1;
    (void)o;

    memset(&st, 0, sizeof(st));
    sw_buf_init(&st.table);
    sw_buf_init(&msg);
    sw_buf_init(&sub);
    sw_buf_init(&line);
    sw_buf_init(&packed);
    sw_buf_init(&label);
    st.index = calloc((size_t)s->strings_used + 1, sizeof(*st.index));
    frames = malloc(((size_t)s->nnodes + 1) * sizeof(*frames));
    fn = functions_of(s, &nfuncs);
    first_frame = calloc((size_t)nfuncs + 1, sizeof(*first_frame));
    if (st.index == NULL || frames == NULL || fn == NULL ||
        first_frame == NULL) {
        goto done;
    }
    str_lit(&st, ""); /* index 0 */
    s_samples = str_lit(&st, "samples");
    s_count = str_lit(&st, "count");
    s_wall = str_lit(&st, "wall");
    s_ns = str_lit(&st, "nanoseconds");
    s_thread = str_lit(&st, "thread");
    s_greenlet = str_lit(&st, "greenlet");
    s_task = str_lit(&st, "task");

    /* sample_type (1): samples/count, wall/nanoseconds. */
    sub.len = 0;
    field_int(&sub, 1, s_samples);
    field_int(&sub, 2, s_count);
    field_bytes(&msg, 1, sub.data, sub.len);
    sub.len = 0;
    field_int(&sub, 1, s_wall);
    field_int(&sub, 2, s_ns);
    field_bytes(&msg, 1, sub.data, sub.len);

    /* sample (2): location ids leaf first (a location per frame, id =
     * frame id), values, labels. */
    for (i = 1; i < s->nsamples; i++) {
        const sw_ssample_t *e = &s->samples[i];
        int n, k;

        if (e->count == 0) {
            continue;
        }
        sub.len = 0;
        packed.len = 0;
        n = sw_stack_frames(s, e->node, frames, (int)s->nnodes);
        for (k = n - 1; k >= 0; k--) {
            varint(&packed, frames[k]);
        }
        field_bytes(&sub, 1, packed.data, packed.len);
        packed.len = 0;
        varint(&packed, e->count);
        varint(&packed, e->wall_ns);
        field_bytes(&sub, 2, packed.data, packed.len);
        /* label (3): thread. */
        line.len = 0;
        sw_label_thread(s, e->thread, &line);
        label.len = 0;
        field_int(&label, 1, s_thread);
        field_int(&label, 2,
                  str_add(&st, line.data ? line.data : "", line.len));
        field_bytes(&sub, 3, label.data, label.len);
        if (e->greenlet != 0) {
            line.len = 0;
            sw_label_greenlet(s, e->greenlet, &line);
            label.len = 0;
            field_int(&label, 1, s_greenlet);
            field_int(&label, 2,
                      str_add(&st, line.data ? line.data : "", line.len));
            field_bytes(&sub, 3, label.data, label.len);
        }
        /* label (3): task, the innermost task marker of the stack
         * (--tasks: "[task] NAME: coroutine", no file). */
        for (k = n - 1; k >= 0; k--) {
            const sw_sframe_t *f = &s->frames[frames[k]];
            const char *name = s->strings + f->name;

            if (f->file == 0 && strncmp(name, TASK_MARK, TASK_MARK_LEN) == 0) {
                label.len = 0;
                field_int(&label, 1, s_task);
                field_int(&label, 2,
                          str_add(&st, name + TASK_MARK_LEN,
                                  strlen(name + TASK_MARK_LEN)));
                field_bytes(&sub, 3, label.data, label.len);
                break;
            }
        }
        field_bytes(&msg, 2, sub.data, sub.len);
    }

    /* mapping (3): one, saying that functions, files and lines are all
     * there, so pprof does not try to symbolize. */
    sub.len = 0;
    field_int(&sub, 1, 1);
    field_int(&sub, 5, str_lit(&st, "python"));
    field_int(&sub, 7, 1);
    field_int(&sub, 8, 1);
    field_int(&sub, 9, 1);
    field_bytes(&msg, 3, sub.data, sub.len);

    /* location (4): id, mapping, its line (function, line). */
    for (i = 1; i < s->nframes; i++) {
        const sw_sframe_t *f = &s->frames[i];

        if (first_frame[fn[i]] == 0) {
            first_frame[fn[i]] = i;
        }
        line.len = 0;
        field_int(&line, 1, fn[i]);
        field_int(&line, 2, (uint64_t)(f->line > 0 ? f->line : 0));
        sub.len = 0;
        field_int(&sub, 1, i);
        field_int(&sub, 2, 1);
        field_bytes(&sub, 4, line.data, line.len);
        field_bytes(&msg, 4, sub.data, sub.len);
    }

    /* function (5): id, name, file, start line. */
    for (i = 1; i <= nfuncs; i++) {
        const sw_sframe_t *f = &s->frames[first_frame[i]];
        uint32_t name = str_session(&st, s, f->name);

        sub.len = 0;
        field_int(&sub, 1, i);
        /* No system name: pprof demangles a function whose name equals
         * its system name, and would cut "<module>" to nothing as if it
         * were a C++ template. */
        field_int(&sub, 2, name);
        field_int(&sub, 4, str_session(&st, s, f->file));
        if (f->first > 0) {
            field_int(&sub, 5, (uint64_t)f->first);
        }
        field_bytes(&msg, 5, sub.data, sub.len);
    }

    /* string_table (6), then time (9), duration (10), period type (11),
     * period (12), the default sample type (14): wall. */
    sw_buf_put(&msg, st.table.data, st.table.len);
    field_int(&msg, 9, (uint64_t)(s->start_unix * 1e9));
    field_int(&msg, 10, sampled);
    sub.len = 0;
    field_int(&sub, 1, s_wall);
    field_int(&sub, 2, s_ns);
    field_bytes(&msg, 11, sub.data, sub.len);
    period = s->passes > 0 ? sampled / s->passes : 0;
    field_int(&msg, 12, period);
    field_int(&msg, 14, s_wall);

    if (sw_buf_ok(&msg) && sw_buf_ok(&st.table) && sw_buf_ok(&sub) &&
        sw_buf_ok(&line) && sw_buf_ok(&packed) && sw_buf_ok(&label)) {
        rc = gzip_into(msg.len > 0 ? msg.data : "", msg.len, out) < 0 ||
                     !sw_buf_ok(out)
                 ? -1
                 : 0;
    }
done:
    free(st.index);
    free(frames);
    free(fn);
    free(first_frame);
    sw_buf_free(&st.table);
    sw_buf_free(&msg);
    sw_buf_free(&sub);
    sw_buf_free(&line);
    sw_buf_free(&packed);
    sw_buf_free(&label);
    return rc;
}
