/* The Chrome trace-event JSON writer; see chrome.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "errors.h"
#include "writers/chrome.h"
#include "writers/gzip.h"

#define FLUSH_AT 65536u /* bytes gathered before they go out */
#define SPAN_BIT 0x80000000u
/* Greenlet tracks get json tids above any kernel tid (pid_max <= 2^22). */
#define GREENLET_TID_BASE 1000000000ull
/* deflate's fastest level: a trace is hundreds of MB of JSON; level 1
 * makes it about ten times smaller at ~170 MB/s here (level 6: 14 times,
 * at ~100 MB/s). */
#define GZIP_LEVEL 1

/* ---- the output sink: plain, or gzip (writers/gzip.h) ------------------ */

typedef struct sink {
    int fd, gzip, err;
    sw_gzip_t gz;
    sw_buf_t buf;
} sink_t;

/* Writes n bytes to the file; 0, or -1 with k->err set. */
static int
raw_write(void *ctx, const void *data, size_t n)
{
    sink_t *k = ctx;
    const char *p = data;

    while (n > 0 && !k->err) {
        ssize_t w = write(k->fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            k->err = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    return k->err ? -1 : 0;
}

static void
sink_flush(sink_t *k)
{
    if (k->buf.len == 0 || k->err) {
        k->buf.len = 0;
        return;
    }
    if (k->gzip) {
        if (sw_gzip_put(&k->gz, k->buf.data, k->buf.len) < 0 && !k->err) {
            k->err = ENOMEM; /* zlib's state could not grow */
        }
    }
    else {
        (void)raw_write(k, k->buf.data, k->buf.len);
    }
    k->buf.len = 0;
}

static void
sink_maybe_flush(sink_t *k)
{
    if (k->buf.len >= FLUSH_AT) {
        sink_flush(k);
    }
}

static void
sink_open(sink_t *k, int fd, int gzip)
{
    memset(k, 0, sizeof(*k));
    k->fd = fd;
    k->gzip = gzip;
    sw_buf_init(&k->buf);
    if (gzip && sw_gzip_begin(&k->gz, GZIP_LEVEL, raw_write, k) < 0 &&
        !k->err) {
        k->err = ENOMEM;
    }
}

/* Returns 0 or an SW_E* code; frees the buffer either way. */
static int
sink_close(sink_t *k)
{
    int rc;

    sink_flush(k);
    if (k->gzip && sw_gzip_end(&k->gz) < 0 && !k->err) {
        k->err = ENOMEM;
    }
    rc = !sw_buf_ok(&k->buf) ? SW_ENOMEM
         : k->err == ENOMEM  ? SW_ENOMEM
         : k->err            ? SW_ESYS
                             : 0;
    if (rc == SW_ESYS) {
        errno = k->err;
    }
    sw_buf_free(&k->buf);
    return rc;
}

/* ---- tracks ------------------------------------------------------------ */

typedef struct track {
    uint32_t gid;  /* greenlet id, 0: the thread's own track */
    int used;      /* a record was placed on it */
    int adopted;   /* the thread's own track, taken by its first greenlet */
    uint32_t root; /* the first code slice opened on it, or UINT32_MAX */
    char head_b[80], head_e[80]; /* ",\n{"ph":"B","pid":P,"tid":T,"ts":" */
    size_t head_len;
    uint64_t json_tid;
    uint32_t *stack; /* open slices: code ids, SPAN_BIT | span ids */
    uint64_t *since; /* their start times */
    uint64_t os_tid; /* the thread's */
    size_t *xs;      /* the extras on this track (indices), once xs_ready */
    size_t nxs;
    int xs_ready;
    size_t depth, cap;
    uint64_t last_ts;
    sw_buf_t ev;       /* speedscope: this track's events so far */
    uint64_t first_ts; /* speedscope: its first event's time */
} track_t;

typedef struct writer {
    const sw_chrome_opts_t *o;
    sink_t k;
    sw_buf_t frags;    /* "name":...,"args":{...} of each code, span */
    size_t *code_frag; /* offsets into frags: [ncodes + 1] */
    size_t *span_frag; /* [nspans + 1] */
    int oom;
    size_t nprofiles; /* speedscope: profiles written */
    /* Each extra's end, shortened so that it nests among its track's
     * slices, and how many slices were open at its start (SIZE_MAX: its
     * start not reached yet). */
    uint64_t *x_end;
    size_t *x_depth;
    /* The greenlets that own their thread's track: (tid, gid) pairs. */
    uint64_t *adopted;
    size_t nadopted, capadopted;
    uint64_t base;  /* times are written from here on (ns) */
    int part_begun; /* put_parts: the part's comma is written */
} writer_t;

/* Appends ts - start in microseconds with three decimals ("12.345"),
 * without printf (the writer's hot path). */
static void
put_ts(sw_buf_t *b, uint64_t ts, uint64_t start)
{
    uint64_t d = ts > start ? ts - start : 0, us = d / 1000;
    unsigned ns = (unsigned)(d % 1000);
    char text[32], *p = text + sizeof(text);

    *--p = (char)('0' + ns % 10);
    *--p = (char)('0' + ns / 10 % 10);
    *--p = (char)('0' + ns / 100);
    *--p = '.';
    do {
        *--p = (char)('0' + us % 10);
        us /= 10;
    } while (us != 0);
    sw_buf_put(b, p, (size_t)(text + sizeof(text) - p));
}

static void
put_frag(sw_buf_t *b, const sw_chrome_name_t *n, const char *cat)
{
    sw_buf_puts(b, "\"name\":");
    sw_buf_json_str(b, n->name);
    sw_buf_printf(b, ",\"cat\":\"%s\"", cat);
    if (n->file != NULL) {
        sw_buf_puts(b, ",\"args\":{\"file\":");
        sw_buf_json_str(b, n->file);
        sw_buf_printf(b, ",\"line\":%d}", n->line);
    }
    else if (n->args_json != NULL) {
        sw_buf_puts(b, ",\"args\":");
        sw_buf_puts(b, n->args_json);
    }
}

static int
build_frags(writer_t *w)
{
    const sw_chrome_opts_t *o = w->o;
    uint32_t i;

    w->code_frag = malloc((o->ncodes + 1) * sizeof(size_t));
    w->span_frag = malloc((o->nspans + 1) * sizeof(size_t));
    if (w->code_frag == NULL || w->span_frag == NULL) {
        return -1;
    }
    sw_buf_init(&w->frags);
    for (i = 0; i < o->ncodes; i++) {
        w->code_frag[i] = w->frags.len;
        put_frag(&w->frags, &o->codes[i], o->codes[i].file ? "python" : "c");
    }
    w->code_frag[o->ncodes] = w->frags.len;
    for (i = 0; i < o->nspans; i++) {
        w->span_frag[i] = w->frags.len;
        put_frag(&w->frags, &o->spans[i], "user");
    }
    w->span_frag[o->nspans] = w->frags.len;
    return sw_buf_ok(&w->frags) ? 0 : -1;
}

static void
put_head(writer_t *w, const char *ph, const track_t *tr, uint64_t ts)
{
    if (ph[0] == 'B' || ph[0] == 'E') {
        /* The track's own prefix, made once. */
        sw_buf_put(&w->k.buf, ph[0] == 'B' ? tr->head_b : tr->head_e,
                   tr->head_len);
    }
    else {
        sw_buf_printf(&w->k.buf,
                      ",\n{\"ph\":\"%s\",\"pid\":%ld,\"tid\":%llu,\"ts\":", ph,
                      w->o->pid, (unsigned long long)tr->json_tid);
    }
    put_ts(&w->k.buf, ts, w->base);
}

/* The slice fragment of a stack entry; 0 if the id is unknown. */
static int
frag_of(const writer_t *w, uint32_t entry, const char **p, size_t *n)
{
    uint32_t id = entry & ~SPAN_BIT;

    if (entry & SPAN_BIT) {
        if (id >= w->o->nspans) {
            return 0;
        }
        *p = w->frags.data + w->span_frag[id];
        *n = w->span_frag[id + 1] - w->span_frag[id];
        return 1;
    }
    if (id >= w->o->ncodes) {
        return 0;
    }
    *p = w->frags.data + w->code_frag[id];
    *n = w->code_frag[id + 1] - w->code_frag[id];
    return 1;
}

/* speedscope: an open (O) or close (C) of the frame of stack entry on
 * tr's profile. */
static void
ss_event(writer_t *w, track_t *tr, char type, uint32_t entry, uint64_t ts)
{
    uint32_t frame =
        entry & SPAN_BIT ? w->o->ncodes + (entry & ~SPAN_BIT) : entry;
    uint64_t at = ts > w->o->store->start_ns ? ts - w->o->store->start_ns : 0;

    if (tr->ev.len == 0) {
        tr->first_ts = at;
    }
    else {
        sw_buf_putc(&tr->ev, ',');
    }
    sw_buf_printf(&tr->ev, "{\"type\":\"%c\",\"frame\":%u,\"at\":%llu}", type,
                  frame, (unsigned long long)at);
    if (!sw_buf_ok(&tr->ev)) {
        w->oom = 1;
    }
}

/* The extras whose stall happened on track tr (computed at its first
 * slice: a thread's first greenlet adopts its track before any). */
static void
extras_of(writer_t *w, track_t *tr)
{
    const sw_chrome_opts_t *o = w->o;

    tr->xs_ready = 1;
    for (size_t x = 0; x < o->nextras && w->x_end != NULL; x++) {
        const sw_chrome_extra_t *e = &o->extras[x];
        size_t *a;

        if (e->tid != tr->os_tid ||
            (e->greenlet == 0 ? !(tr->gid == 0 || tr->adopted)
                              : tr->gid != e->greenlet)) {
            continue;
        }
        a = realloc(tr->xs, (tr->nxs + 1) * sizeof(*a));
        if (a == NULL) {
            w->oom = 1;
            return;
        }
        tr->xs = a;
        tr->xs[tr->nxs++] = x;
    }
}

/* Before a slice opens or closes at ts on tr: the extras that start
 * before ts learn how many slices contain their start. */
static void
extras_reach(writer_t *w, track_t *tr, uint64_t ts)
{
    if (!tr->xs_ready) {
        extras_of(w, tr);
    }
    for (size_t i = 0; i < tr->nxs; i++) {
        size_t x = tr->xs[i];

        if (w->x_depth[x] == SIZE_MAX && w->o->extras[x].start_ns < ts) {
            w->x_depth[x] = tr->depth;
        }
    }
}

/* The slice at depth d of tr closes at ts: an extra ends no later than a
 * slice that holds its start (slices on one track must nest).  A slice
 * that starts inside the extra and ends after it is either left out
 * (the extra ends where it starts) or taken in (the extra ends with it),
 * whichever moves the extra's end less: a call that outlives a stall by
 * switching away (gevent.sleep) starts where the stall ends, while the
 * blocking call itself may end a few microseconds after the stall's end
 * as the watchdog's clock read it. */
static void
extras_close(writer_t *w, track_t *tr, size_t d, uint64_t ts)
{
    for (size_t i = 0; i < tr->nxs; i++) {
        size_t x = tr->xs[i];
        uint64_t a = w->o->extras[x].start_ns, s = tr->since[d];

        if (w->x_depth[x] == SIZE_MAX) {
            continue;
        }
        if (d < w->x_depth[x]) {
            if (ts < w->x_end[x]) {
                w->x_end[x] = ts;
            }
        }
        else if (s > a && s < w->x_end[x] && ts > w->x_end[x]) {
            w->x_end[x] = ts - w->x_end[x] < w->x_end[x] - s ? ts : s;
        }
    }
}

static void
open_slice(writer_t *w, track_t *tr, uint32_t entry, uint64_t ts)
{
    const char *p;
    size_t n;

    if (!frag_of(w, entry, &p, &n)) {
        return;
    }
    if (tr->depth == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 64;
        uint32_t *s = realloc(tr->stack, cap * sizeof(*s));
        uint64_t *t;

        if (s == NULL) {
            w->oom = 1;
            return;
        }
        tr->stack = s;
        t = realloc(tr->since, cap * sizeof(*t));
        if (t == NULL) {
            w->oom = 1;
            return;
        }
        tr->since = t;
        tr->cap = cap;
    }
    if (ts < tr->last_ts) {
        ts = tr->last_ts;
    }
    extras_reach(w, tr, ts);
    tr->since[tr->depth] = ts;
    tr->stack[tr->depth++] = entry;
    if (tr->root == UINT32_MAX && !(entry & SPAN_BIT)) {
        tr->root = entry;
    }
    if (ts < tr->last_ts) {
        ts = tr->last_ts;
    }
    tr->last_ts = ts;
    if (w->o->speedscope) {
        ss_event(w, tr, 'O', entry, ts);
        return;
    }
    put_head(w, "B", tr, ts);
    sw_buf_putc(&w->k.buf, ',');
    sw_buf_put(&w->k.buf, p, n);
    sw_buf_putc(&w->k.buf, '}');
    sink_maybe_flush(&w->k);
}

/* Closes slices down to and including the topmost `entry` (all of them
 * when entry is UINT32_MAX); nothing if it is not open. */
static void
close_slices(writer_t *w, track_t *tr, uint32_t entry, uint64_t ts)
{
    size_t i = tr->depth;

    if (entry != UINT32_MAX) {
        while (i > 0 && tr->stack[i - 1] != entry) {
            i--;
        }
        if (i == 0) {
            return;
        }
        i--;
    }
    else {
        i = 0;
    }
    if (ts < tr->last_ts) {
        ts = tr->last_ts;
    }
    tr->last_ts = ts;
    if (tr->depth > i) {
        extras_reach(w, tr, ts);
    }
    while (tr->depth > i) {
        tr->depth--;
        extras_close(w, tr, tr->depth, ts);
        if (w->o->speedscope) {
            ss_event(w, tr, 'C', tr->stack[tr->depth], ts);
            continue;
        }
        put_head(w, "E", tr, ts);
        sw_buf_putc(&w->k.buf, '}');
        sink_maybe_flush(&w->k);
    }
}

static void
put_mark(writer_t *w, track_t *tr, uint32_t id, uint64_t ts)
{
    const char *p;
    size_t n;

    if (w->o->speedscope || !frag_of(w, id | SPAN_BIT, &p, &n)) {
        return; /* (speedscope has no instants) */
    }
    if (ts < tr->last_ts) {
        ts = tr->last_ts;
    }
    tr->last_ts = ts;
    put_head(w, "i", tr, ts);
    sw_buf_puts(&w->k.buf, ",\"s\":\"t\",");
    sw_buf_put(&w->k.buf, p, n);
    sw_buf_putc(&w->k.buf, '}');
    sink_maybe_flush(&w->k);
}

/* Thread t's name: its record's, else the best match among the names
 * given (see sw_chrome_opts_t), else NULL. */
static const char *
thread_name(const sw_chrome_opts_t *o, const sw_trace_thread_t *t)
{
    const char *best = NULL;
    size_t i;
    int rank = 0;

    if (t->name != NULL) {
        return t->name;
    }
    for (i = 0; i < o->nthread_names && rank < 3; i++) {
        int ident_ok = o->thread_idents[i] == t->ident;
        int tid_ok = t->tid > 0 && o->thread_tids[i] == t->tid;
        int r = 0;

        if (tid_ok) {
            r = ident_ok ? 3 : 2;
        }
        else if (ident_ok && o->thread_tids[i] <= 0) {
            r = 1;
        }

        if (r > rank) {
            rank = r;
            best = o->thread_names[i];
        }
    }
    return best;
}

static void
put_meta(writer_t *w, const char *what, uint64_t tid, const char *name,
         long sort)
{
    sw_buf_printf(&w->k.buf,
                  ",\n{\"ph\":\"M\",\"pid\":%ld,\"tid\":%llu,\"name\":\"%s\","
                  "\"args\":{\"name\":",
                  w->o->pid, (unsigned long long)tid, what);
    sw_buf_json_str(&w->k.buf, name);
    sw_buf_puts(&w->k.buf, "}}");
    if (sort >= 0) {
        sw_buf_printf(&w->k.buf,
                      ",\n{\"ph\":\"M\",\"pid\":%ld,\"tid\":%llu,"
                      "\"name\":\"thread_sort_index\",\"args\":"
                      "{\"sort_index\":%ld}}",
                      w->o->pid, (unsigned long long)tid, sort);
    }
}

static void
set_heads(const writer_t *w, track_t *tr)
{
    int n = snprintf(tr->head_b, sizeof(tr->head_b),
                     ",\n{\"ph\":\"B\",\"pid\":%ld,\"tid\":%llu,\"ts\":",
                     w->o->pid, (unsigned long long)tr->json_tid);

    tr->head_len = n > 0 && (size_t)n < sizeof(tr->head_b) ? (size_t)n : 0;
    memcpy(tr->head_e, tr->head_b, sizeof(tr->head_e));
    tr->head_e[9] = 'E'; /* the B of ",\n{"ph":"B" */
}

static track_t *
track_for(writer_t *w, track_t **tracks, size_t *n, size_t *cap,
          const sw_trace_thread_t *t, uint32_t gid)
{
    size_t i;
    track_t *tr;

    for (i = 0; i < *n; i++) {
        if ((*tracks)[i].gid == gid) {
            return &(*tracks)[i];
        }
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        track_t *a = realloc(*tracks, c * sizeof(*a));

        if (a == NULL) {
            w->oom = 1;
            return NULL;
        }
        *tracks = a;
        *cap = c;
    }
    tr = &(*tracks)[(*n)++];
    memset(tr, 0, sizeof(*tr));
    tr->gid = gid;
    tr->root = UINT32_MAX;
    tr->json_tid = gid == 0 ? (uint64_t)t->tid : GREENLET_TID_BASE + gid;
    tr->os_tid = (uint64_t)t->tid;
    sw_buf_init(&tr->ev);
    set_heads(w, tr);
    return tr;
}

/* Chrome: names a track (metadata events may come anywhere in the
 * file).  speedscope: writes the track's profile, named so. */
static void
put_track_name(writer_t *w, const track_t *tr, const char *name, long *sort)
{
    sw_buf_t *b = &w->k.buf;

    if (!w->o->speedscope) {
        put_meta(w, "thread_name", tr->json_tid, name, (*sort)++);
        return;
    }
    if (tr->ev.len == 0) {
        return;
    }
    sw_buf_puts(b, w->nprofiles++ ? ",\n" : "\n");
    sw_buf_puts(b, "{\"type\":\"evented\",\"name\":");
    sw_buf_json_str(b, name);
    sw_buf_printf(
        b,
        ",\"unit\":\"nanoseconds\",\"startValue\":%llu,"
        "\"endValue\":%llu,\"events\":[",
        (unsigned long long)tr->first_ts,
        (unsigned long long)(tr->last_ts > w->o->store->start_ns
                                 ? tr->last_ts - w->o->store->start_ns
                                 : 0));
    sw_buf_put(b, tr->ev.data, tr->ev.len);
    sw_buf_puts(b, "]}");
    sink_maybe_flush(&w->k);
}

/* Remembers that greenlet gid has thread tid's track (for extras). */
static void
note_adopted(writer_t *w, uint64_t tid, uint32_t gid)
{
    if (w->nadopted + 2 > w->capadopted) {
        size_t c = w->capadopted ? w->capadopted * 2 : 16;
        uint64_t *a = realloc(w->adopted, c * sizeof(*a));

        if (a == NULL) {
            return; /* its extras go on a greenlet track of their own */
        }
        w->adopted = a;
        w->capadopted = c;
    }
    w->adopted[w->nadopted++] = tid;
    w->adopted[w->nadopted++] = gid;
}

/* The JSON tid of an extra event's track. */
static uint64_t
extra_tid(const writer_t *w, const sw_chrome_extra_t *e)
{
    if (e->greenlet == 0) {
        return e->tid;
    }
    for (size_t i = 0; i + 1 < w->nadopted; i += 2) {
        if (w->adopted[i] == e->tid && w->adopted[i + 1] == e->greenlet) {
            return e->tid;
        }
    }
    return GREENLET_TID_BASE + e->greenlet;
}

static void
name_track(writer_t *w, const track_t *tr, const sw_trace_thread_t *t,
           long *sort)
{
    char label[64];
    const char *thread = NULL, *greenlet = NULL;
    sw_buf_t both;

    if (tr->gid == 0 || tr->adopted) {
        thread = thread_name(w->o, t);
        if (thread == NULL && t->bottom != 0 && t->bottom - 1 < w->o->ncodes) {
            /* A thread threading does not know (gevent's threadpool, a
             * C library's): what it runs, as the sampler names it. */
            thread = w->o->codes[t->bottom - 1].name;
        }
        if (thread == NULL) {
            snprintf(label, sizeof(label), "Thread %ld", t->tid);
            thread = label;
        }
    }
    if (tr->gid & SW_TRACE_TASK_BIT) {
        uint32_t id = tr->gid & ~SW_TRACE_TASK_BIT;

        greenlet = id < w->o->ntasks ? w->o->task_names[id] : NULL;
        if (greenlet == NULL) {
            snprintf(label, sizeof(label), "task #%u", id);
            greenlet = label;
        }
    }
    else if (tr->gid != 0) {
        greenlet =
            tr->gid < w->o->ngreenlets ? w->o->greenlet_names[tr->gid] : NULL;
        if (greenlet == NULL && thread == NULL) {
            snprintf(label, sizeof(label), "greenlet #%u", tr->gid);
            greenlet = label;
        }
    }
    sw_buf_init(&both);
    if (greenlet != NULL && strstr(greenlet, "{root}") != NULL) {
        /* What the greenlet runs, when its labeler could not tell. */
        const char *at = strstr(greenlet, "{root}");

        if (thread != NULL) {
            sw_buf_printf(&both, "%s: ", thread);
        }
        sw_buf_put(&both, greenlet, (size_t)(at - greenlet));
        sw_buf_puts(&both, tr->root < w->o->ncodes ? w->o->codes[tr->root].name
                                                   : "?");
        sw_buf_puts(&both, at + 6);
        put_track_name(w, tr, sw_buf_ok(&both) ? both.data : greenlet, sort);
        sw_buf_free(&both);
        return;
    }
    if (thread != NULL && greenlet != NULL) {
        sw_buf_printf(&both, "%s: %s", thread, greenlet);
        put_track_name(w, tr, sw_buf_ok(&both) ? both.data : thread, sort);
        sw_buf_free(&both);
        return;
    }
    sw_buf_free(&both);
    put_track_name(w, tr, thread ? thread : greenlet, sort);
}

/* Replays one thread's records onto its tracks. */
static void
replay(writer_t *w, const sw_trace_thread_t *t, long *sort)
{
    track_t *tracks = NULL, *cur;
    size_t ntracks = 0, cap = 0, i;
    const sw_trace_chunk_t *c;
    const sw_trace_store_t *st = w->o->store;
    uint64_t end =
        t->full ? sw_tracer_ns(st, t->tail, t->drop_ts) : st->stop_ns;
    uint64_t ring = w->o->store->ring_ns, last = 0;
    /* --ring: only the last ring_ns before the end of the trace. */
    uint64_t from = ring != 0 && w->o->store->stop_ns > ring
                        ? w->o->store->stop_ns - ring
                        : 0;

    cur = track_for(w, &tracks, &ntracks, &cap, t, 0);
    for (c = t->head; c != NULL && cur != NULL && !w->oom; c = c->next) {
        uint32_t j;

        for (j = 0; j < c->n && cur != NULL && !w->oom; j++) {
            const sw_trace_rec_t *r = &c->recs[j];
            /* In ns; never before the thread's previous record (TSC
             * reads are not serialising: two close ones may come out of
             * order by a few cycles). */
            uint64_t ts = sw_tracer_ns(st, c, r->ts);

            if (ts < last) {
                ts = last;
            }
            last = ts;
            if (ts < from && r->kind != SW_TR_SWITCH) {
                continue; /* (its exit, if any, is then skipped too) */
            }
            if (r->kind == SW_TR_SWITCH) {
                if (cur->gid == 0 && !cur->used && ntracks == 1 &&
                    !(r->id & SW_TRACE_TASK_BIT)) {
                    /* The greenlet the thread ran when its first record
                     * was taken: it owns the thread's track. */
                    cur->gid = r->id;
                    cur->adopted = 1;
                    note_adopted(w, (uint64_t)t->tid, r->id);
                }
                else {
                    cur = track_for(w, &tracks, &ntracks, &cap, t, r->id);
                }
                continue;
            }
            cur->used = 1;
            switch (r->kind) {
            case SW_TR_ENTER:
                open_slice(w, cur, r->id, ts);
                break;
            case SW_TR_EXIT:
                close_slices(w, cur, r->id, ts);
                break;
            case SW_TR_SPAN_B:
                open_slice(w, cur, r->id | SPAN_BIT, ts);
                break;
            case SW_TR_SPAN_E:
                close_slices(w, cur, r->id | SPAN_BIT, ts);
                break;
            case SW_TR_MARK:
                put_mark(w, cur, r->id, ts);
                break;
            default:
                break;
            }
        }
    }
    for (i = 0; i < ntracks; i++) {
        close_slices(w, &tracks[i], UINT32_MAX, end);
        name_track(w, &tracks[i], t, sort);
        free(tracks[i].stack);
        free(tracks[i].since);
        free(tracks[i].xs);
        sw_buf_free(&tracks[i].ev);
    }
    free(tracks);
}

/* The counter name of thread tid's live bytes ("live bytes: <its
 * name>") into b; 0 when the thread is stackwatch's own (no track). */
static int
live_name(const writer_t *w, const sw_chrome_live_t *l, sw_buf_t *b)
{
    const sw_chrome_opts_t *o = w->o;
    const sw_trace_thread_t *t;
    const char *name = NULL;

    b->len = 0;
    if (l->other) {
        sw_buf_puts(b, "live bytes: other threads");
        return 1;
    }
    for (t = o->store->threads; t != NULL; t = t->next) {
        if ((uint64_t)t->tid == l->tid) {
            if (t->ignored) {
                return 0;
            }
            name = thread_name(o, t);
            break;
        }
    }
    if (name != NULL && strncmp(name, "stackwatch-", 11) == 0) {
        return 0;
    }
    if (name != NULL) {
        sw_buf_printf(b, "live bytes: %s", name);
    }
    else {
        sw_buf_printf(b, "live bytes: Thread %llu",
                      (unsigned long long)l->tid);
    }
    return 1;
}

/* The live bytes counter samples (the names resolved once per thread). */
static void
put_live(writer_t *w)
{
    const sw_chrome_opts_t *o = w->o;
    /* (tid, other) -> its name (NULL: no track), the last thread's. */
    uint64_t *keys = NULL;
    char **names = NULL;
    size_t nkeys = 0;
    sw_buf_t b;

    sw_buf_init(&b);
    for (size_t i = 0; i < o->nlive && !w->oom; i++) {
        const sw_chrome_live_t *l = &o->live[i];
        uint64_t key = l->other ? UINT64_MAX : l->tid;
        size_t k;

        for (k = 0; k < nkeys && keys[k] != key; k++) {
        }
        if (k == nkeys) {
            uint64_t *a = realloc(keys, (nkeys + 1) * sizeof(*a));
            char **c;

            if (a == NULL) {
                w->oom = 1;
                break;
            }
            keys = a;
            c = realloc(names, (nkeys + 1) * sizeof(*c));
            if (c == NULL) {
                w->oom = 1;
                break;
            }
            names = c;
            keys[nkeys] = key;
            names[nkeys] = NULL;
            if (live_name(w, l, &b) && sw_buf_ok(&b)) {
                names[nkeys] = strdup(b.data);
                if (names[nkeys] == NULL) {
                    w->oom = 1;
                }
            }
            nkeys++;
        }
        if (names[k] == NULL) {
            continue;
        }
        sw_buf_printf(&w->k.buf,
                      ",\n{\"ph\":\"C\",\"pid\":%ld,\"tid\":%llu,\"name\":",
                      o->pid, (unsigned long long)l->tid);
        sw_buf_json_str(&w->k.buf, names[k]);
        sw_buf_puts(&w->k.buf, ",\"ts\":");
        put_ts(&w->k.buf, l->ts, w->base);
        sw_buf_printf(&w->k.buf, ",\"args\":{\"MiB\":%.3f}}", l->value);
        sink_maybe_flush(&w->k);
    }
    for (size_t k = 0; k < nkeys; k++) {
        free(names[k]);
    }
    free(keys);
    free(names);
    sw_buf_free(&b);
}

/* An extra's place on the timeline, for nest_extras. */
typedef struct xplace {
    uint64_t tid, start, end;
    size_t x;
} xplace_t;

static int
by_track_then_outer_first(const void *pa, const void *pb)
{
    const xplace_t *a = pa, *b = pb;

    if (a->tid != b->tid) {
        return a->tid < b->tid ? -1 : 1;
    }
    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    if (a->end != b->end) {
        return a->end > b->end ? -1 : 1; /* the longer one holds the other */
    }
    return a->x < b->x ? -1 : a->x > b->x;
}

/* The extras in the order they are written (by track, then start, the
 * outer one first, as a viewer stacks them), each ending no later than
 * an extra on its track that holds its start: two stalls on one track
 * (a hub stall during a deadline stall) nest like the track's slices.
 * Ending there keeps it nested among the track's slices too: a slice
 * that starts inside it starts inside the outer one, so ends by then.
 * NULL when out of memory. */
static xplace_t *
nest_extras(writer_t *w)
{
    const sw_chrome_opts_t *o = w->o;
    xplace_t *v = malloc(o->nextras * sizeof(*v));
    size_t *open, nopen = 0;

    open = malloc(o->nextras * sizeof(*open));
    if (v == NULL || open == NULL) {
        free(v);
        free(open);
        return NULL;
    }
    for (size_t x = 0; x < o->nextras; x++) {
        v[x].tid = extra_tid(w, &o->extras[x]);
        v[x].start = o->extras[x].start_ns;
        v[x].end = w->x_end[x];
        v[x].x = x;
    }
    qsort(v, o->nextras, sizeof(*v), by_track_then_outer_first);
    for (size_t i = 0; i < o->nextras; i++) {
        /* open: the extras (indices into v) holding v[i]'s start. */
        while (nopen > 0 && (v[open[nopen - 1]].tid != v[i].tid ||
                             v[open[nopen - 1]].end <= v[i].start)) {
            nopen--;
        }
        if (nopen > 0 && v[i].end > v[open[nopen - 1]].end) {
            v[i].end = v[open[nopen - 1]].end;
        }
        open[nopen++] = i;
    }
    free(open);
    return v;
}

/* speedscope: the document's start and its frames (codes, then spans). */
static void
speedscope_head(writer_t *w)
{
    const sw_chrome_opts_t *o = w->o;
    sw_buf_t *b = &w->k.buf;
    uint32_t i;

    sw_buf_puts(b, "{\"$schema\":"
                   "\"https://www.speedscope.app/file-format-schema.json\","
                   "\"exporter\":\"stackwatch trace\",\"name\":");
    sw_buf_json_str(b, o->process_name ? o->process_name : "python");
    sw_buf_puts(b, ",\"shared\":{\"frames\":[");
    for (i = 0; i < o->ncodes + o->nspans; i++) {
        const sw_chrome_name_t *n =
            i < o->ncodes ? &o->codes[i] : &o->spans[i - o->ncodes];

        sw_buf_puts(b, i ? ",\n{\"name\":" : "\n{\"name\":");
        sw_buf_json_str(b, n->name);
        if (n->file != NULL) {
            sw_buf_puts(b, ",\"file\":");
            sw_buf_json_str(b, n->file);
            sw_buf_printf(b, ",\"line\":%d", n->line);
        }
        sw_buf_putc(b, '}');
        sink_maybe_flush(&w->k);
    }
    sw_buf_puts(b, "]},\"profiles\":[");
}

/* sw_gzip_read_fd's out for a part: the part's text into the trace,
 * after a comma before its first piece. */
static int
part_piece(void *ctx, const void *data, size_t n)
{
    writer_t *w = ctx;

    if (n == 0) {
        return 0;
    }
    if (!w->part_begun) {
        sw_buf_puts(&w->k.buf, ",\n");
        w->part_begun = 1;
    }
    sw_buf_put(&w->k.buf, data, n);
    sink_maybe_flush(&w->k);
    return w->k.err || !sw_buf_ok(&w->k.buf) ? -1 : 0;
}

/* Takes in the parts (forked children's events, gzipped when this build
 * has zlib: sw_gzip_read_fd), streamed, never whole in memory. */
static void
put_parts(writer_t *w)
{
    for (size_t i = 0; i < w->o->nparts && !w->oom && !w->k.err; i++) {
        int fd = open(w->o->parts[i], O_RDONLY | O_CLOEXEC), rc;

        if (fd < 0) {
            if (w->o->parts_missing != NULL) {
                (*w->o->parts_missing)++;
            }
            continue;
        }
        w->part_begun = 0;
        rc = sw_gzip_read_fd(fd, part_piece, w);
        close(fd);
        if (rc == -1) {
            w->k.err = errno ? errno : EIO;
        }
        else if (rc == -2 && w->part_begun) {
            /* Half a part would be a broken document. */
            w->k.err = EIO;
        }
        else if (rc == -2 && w->o->parts_missing != NULL) {
            (*w->o->parts_missing)++; /* nothing of it written: left out */
        }
    }
}

int
sw_chrome_write(const sw_chrome_opts_t *o, int fd)
{
    writer_t w;
    const sw_trace_thread_t *t;
    long sort = 0;
    int rc;

    memset(&w, 0, sizeof(w));
    w.o = o;
    w.base = o->base_ns ? o->base_ns : o->store->start_ns;
    sink_open(&w.k, fd, o->gzip);
    if (build_frags(&w) < 0) {
        w.oom = 1;
    }
    if (o->nextras > 0 && !o->speedscope) {
        w.x_end = malloc(o->nextras * sizeof(*w.x_end));
        w.x_depth = malloc(o->nextras * sizeof(*w.x_depth));
        if (w.x_end == NULL || w.x_depth == NULL) {
            w.oom = 1;
        }
        for (size_t x = 0; x < o->nextras && !w.oom; x++) {
            w.x_end[x] = o->extras[x].start_ns + o->extras[x].dur_ns;
            w.x_depth[x] = SIZE_MAX;
        }
    }
    if (o->speedscope) {
        speedscope_head(&w);
    }
    else {
        if (!o->fragment) {
            sw_buf_puts(&w.k.buf,
                        "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
        }
        sw_buf_printf(&w.k.buf,
                      "{\"ph\":\"M\",\"pid\":%ld,\"tid\":0,\"name\":"
                      "\"process_name\",\"args\":{\"name\":",
                      o->pid);
        sw_buf_json_str(&w.k.buf,
                        o->process_name ? o->process_name : "python");
        sw_buf_puts(&w.k.buf, "}}");
    }
    /* The list is newest first: the oldest thread (usually the main one)
     * is written, and sorted, first. */
    {
        size_t n = 0, i;
        const sw_trace_thread_t **order;

        for (t = o->store->threads; t != NULL; t = t->next) {
            n++;
        }
        order = malloc((n ? n : 1) * sizeof(*order));
        if (order == NULL) {
            w.oom = 1;
        }
        else {
            i = n;
            for (t = o->store->threads; t != NULL; t = t->next) {
                order[--i] = t;
            }
            for (i = 0; i < n && !w.oom; i++) {
                const char *name = thread_name(o, order[i]);

                /* stackwatch's own threads are not the program's. */
                if (!order[i]->ignored &&
                    (name == NULL || strncmp(name, "stackwatch-", 11) != 0)) {
                    replay(&w, order[i], &sort);
                }
            }
            free(order);
        }
    }
    for (size_t c = 0; c < o->ncounters && !w.oom && !o->speedscope; c++) {
        sw_buf_printf(&w.k.buf,
                      ",\n{\"ph\":\"C\",\"pid\":%ld,\"name\":", o->pid);
        sw_buf_json_str(&w.k.buf, o->counter_name);
        sw_buf_puts(&w.k.buf, ",\"ts\":");
        put_ts(&w.k.buf, o->counters[c].ts, w.base);
        sw_buf_puts(&w.k.buf, ",\"args\":{");
        sw_buf_json_str(&w.k.buf, o->counter_unit);
        sw_buf_printf(&w.k.buf, ":%.3f}}", o->counters[c].value);
        sink_maybe_flush(&w.k);
    }
    if (!o->speedscope) {
        put_live(&w);
    }
    if (o->nextras > 0 && !w.oom && !o->speedscope) {
        xplace_t *v = nest_extras(&w);

        if (v == NULL) {
            w.oom = 1;
        }
        for (size_t i = 0; i < o->nextras && !w.oom; i++) {
            const sw_chrome_extra_t *e = &o->extras[v[i].x];

            sw_buf_printf(&w.k.buf,
                          ",\n{\"ph\":\"X\",\"pid\":%ld,\"tid\":%llu,\"ts\":",
                          o->pid, (unsigned long long)v[i].tid);
            put_ts(&w.k.buf, e->start_ns, w.base);
            sw_buf_puts(&w.k.buf, ",\"dur\":");
            put_ts(&w.k.buf, v[i].end, e->start_ns);
            sw_buf_puts(&w.k.buf, e->frag);
            sw_buf_putc(&w.k.buf, '}');
            sink_maybe_flush(&w.k);
        }
        free(v);
    }
    if (!o->speedscope) {
        put_parts(&w);
    }
    if (!o->fragment) {
        sw_buf_puts(&w.k.buf, "\n]}\n");
    }
    rc = sink_close(&w.k);
    sw_buf_free(&w.frags);
    free(w.code_frag);
    free(w.span_frag);
    free(w.adopted);
    free(w.x_end);
    free(w.x_depth);
    if (w.oom && rc == 0) {
        rc = SW_ENOMEM;
    }
    return rc;
}
