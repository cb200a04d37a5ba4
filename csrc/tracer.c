/* The tracer's store; see tracer.h for the design. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tracer.h"

void
sw_tracer_init(sw_trace_store_t *s, size_t limit)
{
    s->threads = NULL;
    s->slabs = NULL;
    s->limit = limit;
    s->used = 0;
    s->start_ns = 0;
    s->stop_ns = 0;
    s->ring_ns = 0;
    s->tsc = 0;
    s->tsc0 = s->ns0 = s->tsc1 = s->ns1 = 0;
    s->ns_per_tick = 0.0;
}

int
sw_tracer_tsc_usable(void)
{
#if defined(__x86_64__)
    const char *force = getenv("STACKWATCH_TRACE_CLOCK");
    char line[64] = "";
    FILE *f;

    if (force != NULL && strcmp(force, "monotonic") == 0) {
        return 0;
    }
    f = fopen("/sys/devices/system/clocksource/clocksource0/"
              "current_clocksource",
              "re");
    if (f == NULL) {
        return 0;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        line[0] = '\0';
    }
    fclose(f);
    return strcmp(line, "tsc\n") == 0 || strcmp(line, "tsc") == 0;
#else
    return 0;
#endif
}

/* One (tsc, ns) pair: the TSC read on both sides of clock_gettime, the
 * tightest of three tries, the TSC at its middle. */
static void
clock_pair(uint64_t *tsc, uint64_t *ns)
{
#if defined(__x86_64__)
    uint64_t best = UINT64_MAX;
    int i;

    for (i = 0; i < 3; i++) {
        uint64_t a = __builtin_ia32_rdtsc(), n = sw_now_ns(),
                 b = __builtin_ia32_rdtsc();

        if (b >= a && b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
    if (best != UINT64_MAX) {
        return;
    }
#endif
    *tsc = 0;
    *ns = sw_now_ns();
}

void
sw_tracer_clock_start(sw_trace_store_t *s, int tsc)
{
    s->tsc = tsc;
    if (tsc) {
        clock_pair(&s->tsc0, &s->ns0);
        s->tsc1 = s->tsc0;
        s->ns1 = s->ns0;
        s->start_ns = s->ns0;
    }
    else {
        s->start_ns = sw_now_ns();
    }
}

void
sw_tracer_clock_stop(sw_trace_store_t *s)
{
    if (s->tsc) {
        clock_pair(&s->tsc1, &s->ns1);
        s->stop_ns = s->ns1;
        if (s->tsc1 > s->tsc0 && s->ns1 > s->ns0) {
            s->ns_per_tick =
                (double)(s->ns1 - s->ns0) / (double)(s->tsc1 - s->tsc0);
        }
    }
    else {
        s->stop_ns = sw_now_ns();
    }
}

void
sw_tracer_free(sw_trace_store_t *s)
{
    sw_trace_thread_t *t = s->threads;

    while (t != NULL) {
        sw_trace_thread_t *next = t->next;
        sw_trace_chunk_t *c = t->head;

        while (c != NULL) {
            sw_trace_chunk_t *cn = c->next;

            if (!c->slab) {
                free(c);
            }
            c = cn;
        }
        free(t->name);
        free(t);
        t = next;
    }
    while (s->slabs != NULL) {
        sw_trace_slab_t *next = s->slabs->next;

        munmap(s->slabs->base, SW_TRACE_SLAB);
        free(s->slabs);
        s->slabs = next;
    }
    s->threads = NULL;
    s->used = 0;
}

/* A new slab, linked first into s, or NULL: an anonymous mapping of
 * SW_TRACE_SLAB bytes at an address aligned to its size (a huge page
 * can back it only then), advised MADV_HUGEPAGE. */
static sw_trace_slab_t *
slab_new(sw_trace_store_t *s)
{
    sw_trace_slab_t *sl = malloc(sizeof(*sl));
    size_t len = 2 * SW_TRACE_SLAB, head;
    char *p;

    if (sl == NULL) {
        return NULL;
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        free(sl);
        return NULL;
    }
    /* Keep the aligned SW_TRACE_SLAB bytes within; give back the rest. */
    head = (SW_TRACE_SLAB - ((uintptr_t)p & (SW_TRACE_SLAB - 1))) &
           (SW_TRACE_SLAB - 1);
    if (head != 0) {
        munmap(p, head);
    }
    munmap(p + head + SW_TRACE_SLAB, SW_TRACE_SLAB - head); /* > 0 */
    p += head;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, SW_TRACE_SLAB, MADV_HUGEPAGE); /* a hint only */
#endif
    sl->base = p;
    sl->used = 0;
    sl->next = s->slabs;
    s->slabs = sl;
    return sl;
}

/* A new chunk within the budget, or NULL: from the current slab, or a
 * new slab when the budget left has room for a whole one, else from
 * malloc (a budget smaller than a slab is never rounded up to one). */
static sw_trace_chunk_t *
chunk_new(sw_trace_store_t *s)
{
    sw_trace_slab_t *sl = s->slabs;
    sw_trace_chunk_t *c;

    if (s->used + sizeof(*c) > s->limit) {
        return NULL;
    }
    if ((sl == NULL || sl->used + sizeof(*c) > SW_TRACE_SLAB) &&
        s->limit - s->used >= SW_TRACE_SLAB) {
        sl = slab_new(s);
    }
    if (sl != NULL && sl->used + sizeof(*c) <= SW_TRACE_SLAB) {
        c = (sw_trace_chunk_t *)((char *)sl->base + sl->used);
        sl->used += sizeof(*c);
        c->slab = 1;
    }
    else {
        c = malloc(sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
        c->slab = 0;
    }
    s->used += sizeof(*c);
    return c;
}

sw_trace_thread_t *
sw_tracer_thread_new(sw_trace_store_t *s, uint64_t ident, long tid)
{
    sw_trace_thread_t *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->ident = ident;
    t->tid = tid;
    t->task_depth = -1;
    t->next = s->threads;
    s->threads = t;
    return t;
}

/* --ring: takes the oldest chunk for reuse (t's own head if t has two or
 * more, else the head with the oldest first record among the threads
 * that have two or more); its events count as aged.  NULL if none. */
static sw_trace_chunk_t *
recycle(sw_trace_store_t *s, sw_trace_thread_t *t)
{
    sw_trace_thread_t *from = NULL, *u;
    sw_trace_chunk_t *c;

    if (t->head != NULL && t->head != t->tail) {
        from = t;
    }
    else {
        for (u = s->threads; u != NULL; u = u->next) {
            if (u->head != NULL && u->head != u->tail &&
                (from == NULL ||
                 u->head->recs[0].ts < from->head->recs[0].ts)) {
                from = u;
            }
        }
    }
    if (from == NULL) {
        return NULL;
    }
    c = from->head;
    from->head = c->next;
    from->aged += c->n;
    from->events -= c->n;
    return c;
}

/* t's tail count and events brought up to its cursor (pos only moves
 * forward within a chunk; a new tail starts at n = 0). */
static void
sync_thread(sw_trace_thread_t *t)
{
    if (t->tail != NULL && t->pos != NULL) {
        uint32_t n = (uint32_t)(t->pos - t->tail->recs);

        t->events += n - t->tail->n;
        t->tail->n = n;
    }
}

void
sw_tracer_sync(sw_trace_store_t *s)
{
    sw_trace_thread_t *t;

    for (t = s->threads; t != NULL; t = t->next) {
        sync_thread(t);
    }
}

void
sw_tracer_put_slow(sw_trace_store_t *s, sw_trace_thread_t *t, uint64_t ts,
                   uint32_t id, uint32_t kind)
{
    sw_trace_chunk_t *c = NULL;

    if (t->ignored) {
        return; /* stackwatch's own thread: nothing, and no chunk */
    }
    sync_thread(t);

    if (!t->full) {
        c = chunk_new(s);
    }
    if (c == NULL && !t->full && s->ring_ns != 0) {
        c = recycle(s, t);
    }
    if (c == NULL) {
        if (!t->full) {
            t->full = 1;
            t->drop_ts = ts;
            t->end = t->pos; /* every later append comes here */
        }
        t->dropped++;
        return;
    }
    c->next = NULL;
    c->n = 0;
    c->tsc = c->ns = 0;
    if (s->tsc) {
        clock_pair(&c->tsc, &c->ns);
    }
    if (t->tail != NULL) {
        t->tail->next = c;
    }
    else {
        t->head = c;
    }
    t->tail = c;
    t->pos = c->recs;
    t->end = c->recs + SW_TRACE_CHUNK_RECS;
    sw_tracer_put(s, t, ts, id, kind);
}

void
sw_tracer_totals(sw_trace_store_t *s, uint64_t *events, uint64_t *dropped,
                 uint64_t *aged, size_t *threads)
{
    const sw_trace_thread_t *t;

    sw_tracer_sync(s);
    *events = 0;
    *dropped = 0;
    *aged = 0;
    *threads = 0;
    for (t = s->threads; t != NULL; t = t->next) {
        *events += t->events;
        *dropped += t->dropped;
        *aged += t->aged;
        (*threads)++;
    }
}
