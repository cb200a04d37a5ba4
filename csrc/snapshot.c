/* Snapshots of every thread's stack; see snapshot.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "compat/locals.h"
#include "greenlet_read.h"
#include "redact.h"
#include "sampler.h"
#include "snapshot.h"

#define NAMES_MAX 1024
#define NAME_LEN 64
/* Reads again of a stack that changed while it was read. */
#define SNAP_RETRIES 2

/* ---- the thread-name table ------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    unsigned long ident[NAMES_MAX];
    long tid[NAMES_MAX];
    char name[NAMES_MAX][NAME_LEN];
    int n;
} names = {.mu = PTHREAD_MUTEX_INITIALIZER};

void
sw_names_set(const unsigned long *idents, const long *tids,
             const char *const *list, int n)
{
    int i;

    if (n > NAMES_MAX) {
        n = NAMES_MAX;
    }
    pthread_mutex_lock(&names.mu);
    for (i = 0; i < n; i++) {
        names.ident[i] = idents[i];
        names.tid[i] = tids[i];
        strncpy(names.name[i], list[i], NAME_LEN - 1);
        names.name[i][NAME_LEN - 1] = '\0';
    }
    names.n = n;
    pthread_mutex_unlock(&names.mu);
}

int
sw_names_get(unsigned long ident, long tid, char *out, size_t cap)
{
    int i, best = -1, rank = 0;

    pthread_mutex_lock(&names.mu);
    for (i = 0; i < names.n && rank < 3; i++) {
        int ident_ok = names.ident[i] == ident;
        int tid_ok = tid > 0 && names.tid[i] == tid;
        int r = 0;

        if (ident_ok && tid_ok) {
            r = 3;
        }
        else if (tid_ok) {
            /* gevent's monkey patching gives a gunicorn worker's main
             * thread the main greenlet's id as its threading ident; its
             * kernel id still tells (unique among live threads). */
            r = 2;
        }
        else if (ident_ok && (tid <= 0 || names.tid[i] <= 0)) {
            r = 1; /* a kernel id unknown on one side */
        }
        if (r > rank) {
            rank = r;
            best = i;
        }
    }
    if (best >= 0) {
        strncpy(out, names.name[best], cap - 1);
        out[cap - 1] = '\0';
    }
    pthread_mutex_unlock(&names.mu);
    return best >= 0;
}

void
sw_names_atfork_prepare(void)
{
    pthread_mutex_lock(&names.mu);
}

void
sw_names_atfork_parent(void)
{
    pthread_mutex_unlock(&names.mu);
}

void
sw_names_atfork_child(void)
{
    pthread_mutex_unlock(&names.mu);
}

/* ---- capture ----------------------------------------------------------- */

static uint32_t
add_string(sw_snapshot_t *snap, const char *s)
{
    uint32_t off = (uint32_t)snap->strings.len;

    sw_buf_put(&snap->strings, s, strlen(s) + 1);
    return sw_buf_ok(&snap->strings) ? off : 0;
}

/* Stores n bytes (which may hold NULs) and a NUL; returns the offset. */
static uint32_t
add_bytes(sw_snapshot_t *snap, const char *s, size_t n)
{
    uint32_t off = (uint32_t)snap->strings.len;

    sw_buf_put(&snap->strings, s, n);
    sw_buf_putc(&snap->strings, '\0');
    return sw_buf_ok(&snap->strings) ? off : 0;
}

/* Reads the locals of the frame resolved from raw into the snapshot and
 * links them to f.  Failures leave f without locals. */
static void
capture_locals(sw_snapshot_t *snap, sw_reader_t *r, const sw_rawframe_t *raw,
               sw_snap_frame_t *f, sw_local_t *buf)
{
    int n = sw_read_locals(r, raw->frame, raw->code, buf, SW_LOCALS_MAX), i;
    uint32_t cap = snap->locals_cap ? snap->locals_cap : 256;

    if (n <= 0) {
        return;
    }
    if (snap->nlocals + (uint32_t)n > snap->locals_cap) {
        sw_snap_local_t *p;

        while (cap < snap->nlocals + (uint32_t)n) {
            cap *= 2;
        }
        p = realloc(snap->locals, cap * sizeof(*p));
        if (p == NULL) {
            return;
        }
        snap->locals = p;
        snap->locals_cap = cap;
    }
    f->first_local = snap->nlocals;
    for (i = 0; i < n; i++) {
        sw_snap_local_t *l = &snap->locals[snap->nlocals++];
        const sw_local_t *src = &buf[i];
        int has_text =
            src->kind == SW_LOCAL_STR || src->kind == SW_LOCAL_BYTES;

        l->name = add_string(snap, src->name);
        l->text = has_text ? add_bytes(snap, src->text, src->text_len)
                           : add_string(snap, src->type);
        l->text_len = has_text ? (uint32_t)src->text_len : 0;
        l->kind = src->kind;
        l->addr = src->addr;
        l->ival = src->ival;
        l->len = src->len;
        l->fval = src->fval;
    }
    f->nlocals = (uint32_t)n;
}

static int
reserve_frames(sw_snapshot_t *snap, uint32_t more)
{
    uint32_t cap = snap->frames_cap ? snap->frames_cap : 256;
    sw_snap_frame_t *p;

    if (snap->nframes + more <= snap->frames_cap) {
        return 0;
    }
    while (cap < snap->nframes + more) {
        cap *= 2;
    }
    p = realloc(snap->frames, cap * sizeof(*p));
    if (p == NULL) {
        return SW_ENOMEM;
    }
    snap->frames = p;
    snap->frames_cap = cap;
    return 0;
}

/* Whether tid is a thread of process pid. */
static int
remote_task(int pid, long tid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/task/%ld", pid, tid);
    return access(path, F_OK) == 0;
}

int
sw_snapshot_capture(sw_snapshot_t *snap, sw_reader_t *r, sw_codecache_t *cache,
                    uint64_t only_id)
{
    return sw_snapshot_capture_ex(snap, r, cache, only_id, 0);
}

int
sw_snapshot_capture_ex(sw_snapshot_t *snap, sw_reader_t *r,
                       sw_codecache_t *cache, uint64_t only_id, unsigned flags)
{
    sw_thread_t *threads = malloc(SW_MAX_THREADS * sizeof(*threads));
    sw_rawframe_t *raw = malloc(SW_MAX_DEPTH * sizeof(*raw));
    sw_frameinfo_t *info = malloc(SW_MAX_DEPTH * sizeof(*info));
    sw_local_t *lbuf = NULL;
    uint64_t pass = sw_codecache_new_pass();
    int n, i, rc = 0;

    memset(snap, 0, sizeof(*snap));
    if (flags & SW_SNAP_LOCALS) {
        lbuf = malloc(SW_LOCALS_MAX * sizeof(*lbuf));
        snap->with_locals = lbuf != NULL;
    }
    snap->when_ns = sw_now_ns();
    snap->remote = r->remote;
    snap->remote_pid = r->remote ? r->vm.pid : 0;
    sw_buf_putc(&snap->strings, '\0');
    if (threads == NULL || raw == NULL || info == NULL) {
        rc = SW_ENOMEM;
        goto done;
    }
    n = sw_read_threads(r, threads, SW_MAX_THREADS);
    if (n < 0) { /* unreadable, or finalizing */
        snap->error = 1;
        rc = n;
        goto done;
    }
    snap->threads = calloc(n ? (size_t)n : 1, sizeof(*snap->threads));
    if (snap->threads == NULL) {
        rc = SW_ENOMEM;
        goto done;
    }
    for (i = 0; i < n; i++) {
        sw_snap_thread_t *st;
        int nraw, nres, k, truncated = 0, attempt;

        if ((only_id != 0 && threads[i].id != only_id) ||
            threads[i].ident == 0) {
            continue; /* not ours, or not yet bound to its thread */
        }
        if (only_id == 0 && !r->remote &&
            sw_sampler_is_excluded(threads[i].id)) {
            continue; /* stackwatch's own (service, monitor) */
        }
        st = &snap->threads[snap->nthreads++];
        st->t = threads[i];
        st->tid = sw_read_tid(r, &threads[i]);
        if (r->remote) {
            /* Another process's thread: no CPU clock of ours reads it, and
             * a kernel id found through this process's pthread layout
             * (3.9, 3.10) is kept only if it is one of the target's. */
            if (threads[i].tid == 0 && st->tid > 0 &&
                !remote_task(r->vm.pid, st->tid)) {
                st->tid = 0;
            }
            st->cpu_ns = 0;
            st->greenlet = 0;
        }
        else {
            if (sw_thread_cpu_ns(st->tid, &st->cpu_ns) < 0) {
                st->cpu_ns = 0;
            }
            st->greenlet =
                sw_greenlet_current(threads[i].tstate, threads[i].id);
        }
        st->first = snap->nframes;
        /* A stack that changed while it was read (a frame freed under the
         * walk: its thread returned since the thread list was read) is
         * read again from a fresh read of its thread state, a few times:
         * a dump is one look, and "no Python frames" would be untrue. */
        for (attempt = 0;; attempt++) {
            nraw = 0;
            if (sw_thread_frame(r, &threads[i]) != 0) {
                nraw = sw_read_frames(r, &threads[i], raw, SW_MAX_DEPTH,
                                      &truncated);
            }
            if (!r->broken || attempt >= SNAP_RETRIES ||
                sw_reread_thread(r, &threads[i]) < 0) {
                break;
            }
        }
        st->torn = r->broken;
        if (nraw <= 0) {
            continue;
        }
        st->truncated = truncated;
        if (!truncated && !r->remote) {
            nraw = sw_sampler_cut_at_roots(raw, nraw);
        }
        sw_codecache_lock(cache);
        nres = sw_codecache_resolve(cache, r, raw, nraw, info, pass);
        if (reserve_frames(snap, (uint32_t)nres) < 0) {
            sw_codecache_unlock(cache);
            rc = SW_ENOMEM;
            goto done;
        }
        for (k = 0; k < nres; k++) {
            sw_snap_frame_t *f = &snap->frames[snap->nframes++];

            f->name = add_string(snap, info[k].code->name);
            f->file = add_string(snap, info[k].code->file);
            f->line = info[k].line;
            f->first_local = f->nlocals = 0;
        }
        sw_codecache_unlock(cache);
        st->nframes = (uint32_t)nres;
        for (k = 0; lbuf != NULL && k < nres; k++) {
            capture_locals(snap, r, &raw[info[k].raw],
                           &snap->frames[st->first + (uint32_t)k], lbuf);
        }
    }
    if (!sw_buf_ok(&snap->strings)) {
        rc = SW_ENOMEM;
    }
done:
    free(threads);
    free(raw);
    free(info);
    free(lbuf);
    return rc;
}

void
sw_snapshot_free(sw_snapshot_t *snap)
{
    free(snap->threads);
    free(snap->frames);
    free(snap->locals);
    sw_buf_free(&snap->strings);
    memset(snap, 0, sizeof(*snap));
}

const sw_snap_thread_t *
sw_snapshot_gil_holder(const sw_snapshot_t *snap)
{
    uint32_t i;

    for (i = 0; i < snap->nthreads; i++) {
        if (snap->threads[i].t.holds_gil) {
            return &snap->threads[i];
        }
    }
    return NULL;
}

/* ---- formatting -------------------------------------------------------- */

/* The thread's name (sw_names_get); for a thread threading does not know
 * (started with _thread.start_new_thread: gevent's threadpool, C
 * libraries), the function at the bottom of its stack, what it runs.
 * Returns 1 if out was set. */
static int
thread_label(const sw_snapshot_t *snap, const sw_snap_thread_t *t, char *out,
             size_t cap)
{
    const char *fn;

    if (!snap->remote && sw_names_get(t->t.ident, t->tid, out, cap)) {
        return 1;
    }
    if (snap->remote && t->tid > 0 && t->tid == snap->remote_pid) {
        snprintf(out, cap, "MainThread"); /* the process's first thread */
        return 1;
    }
    if (t->nframes == 0 || t->truncated) {
        return 0;
    }
    fn = sw_snap_str(snap, snap->frames[t->first + t->nframes - 1].name);
    if (*fn == '\0') {
        return 0;
    }
    strncpy(out, fn, cap - 1);
    out[cap - 1] = '\0';
    return 1;
}

/* A str's or bytes' contents as Python's repr writes them: quotes chosen
 * as repr does, backslash escapes for quotes, backslashes and control
 * characters (bytes: anything outside printable ASCII as \xNN). */
static void
put_quoted(sw_buf_t *out, const char *s, size_t n, int is_bytes)
{
    char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    size_t i;

    if (is_bytes) {
        sw_buf_putc(out, 'b');
    }
    sw_buf_putc(out, quote);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == (unsigned char)quote || c == '\\') {
            sw_buf_putc(out, '\\');
            sw_buf_putc(out, (char)c);
        }
        else if (c == '\n') {
            sw_buf_puts(out, "\\n");
        }
        else if (c == '\r') {
            sw_buf_puts(out, "\\r");
        }
        else if (c == '\t') {
            sw_buf_puts(out, "\\t");
        }
        else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80)) {
            sw_buf_printf(out, "\\x%02x", c);
        }
        else {
            sw_buf_putc(out, (char)c);
        }
    }
    sw_buf_putc(out, quote);
}

/* Code points in UTF-8 text. */
static int64_t
utf8_chars(const char *s, size_t n)
{
    int64_t count = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return count;
}

/* A float as Python's repr writes it: the shortest text that reads back. */
static void
put_float(sw_buf_t *out, double v)
{
    char text[40];
    int prec;

    if (v != v) {
        sw_buf_puts(out, "nan");
        return;
    }
    if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308) {
        sw_buf_puts(out, v > 0 ? "inf" : "-inf");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v) {
            break;
        }
    }
    sw_buf_puts(out, text);
    if (strpbrk(text, ".en") == NULL) {
        sw_buf_puts(out, ".0");
    }
}

/* One local's value (see SW_FMT_LOCALS). */
static void
format_local(const sw_snapshot_t *snap, const sw_snap_local_t *l,
             sw_buf_t *out)
{
    const char *text = sw_snap_str(snap, l->text);

    if (l->kind != SW_LOCAL_NONE && l->kind != SW_LOCAL_BOOL &&
        l->kind != SW_LOCAL_INT && l->kind != SW_LOCAL_FLOAT &&
        sw_redact_is_secret(sw_snap_str(snap, l->name))) {
        sw_buf_puts(out, "<redacted>");
        return;
    }
    switch (l->kind) {
    case SW_LOCAL_NONE:
        sw_buf_puts(out, "None");
        break;
    case SW_LOCAL_BOOL:
        sw_buf_puts(out, l->ival ? "True" : "False");
        break;
    case SW_LOCAL_INT:
        sw_buf_printf(out, "%lld", (long long)l->ival);
        break;
    case SW_LOCAL_FLOAT:
        put_float(out, l->fval);
        break;
    case SW_LOCAL_STR:
        put_quoted(out, text, l->text_len, 0);
        if (utf8_chars(text, l->text_len) < l->len) {
            sw_buf_printf(out, "... <cut: str of %lld characters>",
                          (long long)l->len);
        }
        break;
    case SW_LOCAL_BYTES:
        put_quoted(out, text, l->text_len, 1);
        if ((int64_t)l->text_len < l->len) {
            sw_buf_printf(out, "... <cut: bytes of %lld bytes>",
                          (long long)l->len);
        }
        break;
    case SW_LOCAL_SIZED:
        sw_buf_printf(out, "<%s of %lld items>", text, (long long)l->len);
        break;
    case SW_LOCAL_OTHER:
        sw_buf_printf(out, "<%s at 0x%lx>", text, (unsigned long)l->addr);
        break;
    default:
        sw_buf_printf(out, "<unreadable at 0x%lx>", (unsigned long)l->addr);
        break;
    }
}

/* The frames of t one by one, each followed by its locals. */
static void
format_frames_with_locals(const sw_snapshot_t *snap, const sw_snap_thread_t *t,
                          const sw_fmt_opts_t *opts, sw_buf_t *out)
{
    uint32_t k, j;

    for (k = 0; k < t->nframes; k++) {
        const sw_snap_frame_t *f = &snap->frames[t->first + k];
        sw_fmt_frame_t one;

        sw_snap_fmt_frame(snap, f, &one);
        sw_stackfmt_stack(out, sw_stackfmt_array_get, &one, 1, opts);
        for (j = 0; j < f->nlocals; j++) {
            const sw_snap_local_t *l = &snap->locals[f->first_local + j];

            sw_buf_puts(out, "        ");
            sw_buf_puts(out, sw_snap_str(snap, l->name));
            sw_buf_puts(out, " = ");
            format_local(snap, l, out);
            sw_buf_putc(out, '\n');
        }
    }
}

static void
format_thread(const sw_snapshot_t *snap, const sw_snap_thread_t *t,
              sw_buf_t *out, unsigned flags)
{
    const sw_snap_stack_t st = {snap, t};
    const sw_fmt_opts_t opts = {
        .style = SW_FMT_LABEL,
        .flags = flags & (SW_FMT_SOURCE | SW_FMT_SHORT),
        .indent = "    ",
        .source_indent = "        ",
    };
    char name[NAME_LEN];

    sw_buf_printf(out, "Thread 0x%lx", t->t.ident);
    if (thread_label(snap, t, name, sizeof(name))) {
        sw_buf_puts(out, " \"");
        sw_buf_puts(out, name);
        sw_buf_putc(out, '"');
    }
    sw_buf_puts(out, " (");
    if (t->tid > 0) {
        sw_buf_printf(out, "tid %ld, ", t->tid);
    }
    if (t->cpu_ns > 0) {
        sw_buf_printf(out, "cpu %.3fs, ", t->cpu_ns / 1e9);
    }
    if (t->greenlet != 0) {
        sw_buf_printf(out, "greenlet #%u, ", t->greenlet);
    }
    sw_buf_puts(out,
                t->t.holds_gil ? "holds the GIL)\n" : "waiting or idle)\n");
    if (t->nframes == 0) {
        sw_buf_puts(out, t->torn ? "    (its stack changed while it was "
                                   "read)\n"
                                 : "    (no Python frames)\n");
    }
    if ((flags & SW_FMT_LOCALS) && snap->with_locals) {
        format_frames_with_locals(snap, t, &opts, out);
    }
    else {
        sw_stackfmt_stack(out, sw_snap_stack_get, &st, t->nframes, &opts);
    }
    if (t->truncated) {
        sw_buf_puts(out, "    ... (more frames not shown)\n");
    }
}

void
sw_snapshot_format_thread(const sw_snapshot_t *snap, const sw_snap_thread_t *t,
                          sw_buf_t *out)
{
    format_thread(snap, t, out, SW_FMT_SHORT);
}

void
sw_snapshot_format(const sw_snapshot_t *snap, sw_buf_t *out)
{
    sw_snapshot_format_ex(snap, out, SW_FMT_SHORT);
}

void
sw_snapshot_format_ex(const sw_snapshot_t *snap, sw_buf_t *out, unsigned flags)
{
    uint32_t i;

    if (snap->error) {
        sw_buf_puts(out, "(the interpreter's thread list could not be "
                         "read)\n");
        return;
    }
    for (i = 0; i < snap->nthreads; i++) {
        if (i > 0) {
            sw_buf_putc(out, '\n');
        }
        format_thread(snap, &snap->threads[i], out, flags);
    }
}

void
sw_snapshot_format_json(const sw_snapshot_t *snap, sw_buf_t *out)
{
    char name[NAME_LEN];
    uint32_t i, k;

    sw_buf_puts(out, "{\"threads\": [");
    for (i = 0; i < snap->nthreads; i++) {
        const sw_snap_thread_t *t = &snap->threads[i];

        sw_buf_printf(out, "%s\n  {\"ident\": %lu, \"tid\": %ld, \"name\": ",
                      i ? "," : "", t->t.ident, t->tid);
        if (thread_label(snap, t, name, sizeof(name))) {
            sw_buf_json_str(out, name);
        }
        else {
            sw_buf_puts(out, "null");
        }
        sw_buf_printf(out,
                      ", \"holds_gil\": %s, \"greenlet\": %u, \"cpu_ns\": "
                      "%llu, \"truncated\": %s, \"frames\": [",
                      t->t.holds_gil ? "true" : "false", t->greenlet,
                      (unsigned long long)t->cpu_ns,
                      t->truncated ? "true" : "false");
        for (k = 0; k < t->nframes; k++) {
            const sw_snap_frame_t *f = &snap->frames[t->first + k];

            sw_buf_puts(out, k ? ", {\"name\": " : "{\"name\": ");
            sw_buf_json_str(out, sw_snap_str(snap, f->name));
            sw_buf_puts(out, ", \"file\": ");
            sw_buf_json_str(out, sw_snap_str(snap, f->file));
            sw_buf_printf(out, ", \"line\": %d", f->line);
            if (snap->with_locals) {
                uint32_t j;

                sw_buf_puts(out, ", \"locals\": {");
                for (j = 0; j < f->nlocals; j++) {
                    const sw_snap_local_t *l =
                        &snap->locals[f->first_local + j];
                    sw_buf_t value;

                    sw_buf_init(&value);
                    format_local(snap, l, &value);
                    sw_buf_putc(&value, '\0');
                    sw_buf_puts(out, j ? ", " : "");
                    sw_buf_json_str(out, sw_snap_str(snap, l->name));
                    sw_buf_puts(out, ": ");
                    sw_buf_json_str(out, sw_buf_ok(&value) ? value.data : "");
                    sw_buf_free(&value);
                }
                sw_buf_putc(out, '}');
            }
            sw_buf_putc(out, '}');
        }
        sw_buf_puts(out, "]}");
    }
    sw_buf_puts(out, "\n]}");
}
