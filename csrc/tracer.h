/* The tracer's store: per-thread buffers of fixed-size records, bounded
 * in total.
 *
 * The tracer's hooks (tracer_py.c: sys.monitoring callbacks on 3.12+, a
 * C profile function before) run on application threads with the GIL
 * held and append one 16-byte record per event to the calling thread's
 * buffer: a monotonic timestamp, an interned code id (or a greenlet id,
 * a user-span id) and what happened.  Buffers are chains of chunks taken
 * from one budget (`--buffer`); when the budget is spent, the thread's
 * later events are dropped and counted, and the thread remembers when it
 * started dropping, so that the writer closes the slices it left open at
 * that moment: a thread's records are always a prefix of what it did,
 * never a torn middle.
 *
 * Threads: every function here is called with the GIL held (appends by
 * the hooks, the rest by tracer_py.c), so the store needs no lock of its
 * own.  Fork: the child throws the parent's store away
 * (sw_tracer_free) without writing it.
 *
 * Pure C; no Python.h. */
#ifndef SW_TRACER_H
#define SW_TRACER_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

/* What a record says.  ENTER/EXIT open and close a slice of code `id`
 * on the thread's current track; SWITCH makes greenlet `id` (asyncio
 * task id | SW_TRACE_TASK_BIT with --asyncio; 0: the thread's own) the
 * thread's current track; SPAN_B/SPAN_E/MARK are user slices and
 * instants (id: an interned name). */
enum sw_trace_kind {
    SW_TR_ENTER = 1,
    SW_TR_EXIT = 2,
    SW_TR_SWITCH = 3,
    SW_TR_SPAN_B = 4,
    SW_TR_SPAN_E = 5,
    SW_TR_MARK = 6,
};

#define SW_TRACE_TASK_BIT 0x40000000u

typedef struct sw_trace_rec {
    uint64_t ts; /* the store's clock: sw_tracer_now(); sw_tracer_ns() */
    uint32_t id;
    uint32_t kind;
} sw_trace_rec_t;

/* (A chunk is 64 KiB.) */
#define SW_TRACE_CHUNK_RECS 4094

typedef struct sw_trace_chunk {
    struct sw_trace_chunk *next;
    uint32_t n;
    uint32_t slab; /* carved from a slab (else malloc'd) */
    /* The TSC clock only: a (tsc, ns) pair read when the chunk was
     * begun, the anchor its records' ticks are converted from, so that
     * a long trace follows CLOCK_MONOTONIC (which NTP slews) chunk by
     * chunk, not along one line from start to stop.  0, 0 otherwise. */
    uint64_t tsc, ns;
    sw_trace_rec_t recs[SW_TRACE_CHUNK_RECS];
} sw_trace_chunk_t;

typedef struct sw_trace_thread {
    struct sw_trace_thread *next; /* the store's list, newest first */
    uint64_t ident;               /* threading.get_ident() */
    long tid;                     /* the kernel's thread id */
    char *name;                   /* threading's name, or NULL */
    sw_trace_chunk_t *head, *tail;
    /* The append cursor: the tail chunk's next free record and the end
     * of its records (both NULL before the first chunk; end == pos once
     * the thread is full), so that an append is one compare and the
     * stores.  The tail's n, and `events`, catch up with pos only in
     * sw_tracer_sync. */
    sw_trace_rec_t *pos, *end;
    uint64_t events, dropped;
    uint64_t aged;    /* --ring: events recycled with their old chunk */
    uint64_t drop_ts; /* the first dropped event's ts, 0 if none */
    int full;         /* sticky: every later event is dropped */
    int depth;        /* call depth seen by the hooks (--max-depth) */
    int ignored;      /* stackwatch's own thread: nothing recorded */
    int task_depth;   /* --asyncio: depth the task track began at, or -1 */
    int scope_depth;  /* scoped tracing: traced-function frames open */
    /* The code id + 1 of the function at the bottom of the thread's
     * stack when its record was made (what it runs: its track's name
     * when threading does not know it), 0 if not known. */
    uint32_t bottom;
} sw_trace_thread_t;

/* Chunks are carved from slabs of SW_TRACE_SLAB bytes, each one
 * anonymous mapping aligned to its size and advised as a transparent
 * huge page where the kernel allows it: one page fault (and one TLB
 * entry) per 32 chunks instead of one per 4 KiB of records, which cost
 * a traced call about a tenth of its time in a VM. */
#define SW_TRACE_SLAB ((size_t)2 << 20)

typedef struct sw_trace_slab {
    struct sw_trace_slab *next;
    void *base; /* the mapping: SW_TRACE_SLAB bytes */
    size_t used;
} sw_trace_slab_t;

typedef struct sw_trace_store {
    sw_trace_thread_t *threads;
    size_t limit, used;     /* bytes of chunks */
    sw_trace_slab_t *slabs; /* newest first; the first one is carved */
    uint64_t start_ns, stop_ns;
    /* --ring: 0 keeps the first events that fit; else a full budget
     * recycles the oldest chunk (the thread's own, else the oldest of
     * any thread), and the writer leaves out what is older than ring_ns
     * before the end. */
    uint64_t ring_ns;
    /* The records' clock.  0: CLOCK_MONOTONIC ns.  1: the x86-64 time
     * stamp counter, read with rdtsc (a few ns; clock_gettime costs
     * tens of ns in a VM, and it is read at every event), used only
     * where the kernel itself keeps CLOCK_MONOTONIC on the TSC (the
     * clocksource is "tsc": invariant and synchronised across CPUs).
     * Ticks become ns through two (tsc, ns) pairs read together: one at
     * start, one at stop (or at a write while tracing), give the rate
     * (ns_per_tick); each chunk has its own pair, the point its records
     * are placed from (sw_tracer_ns). */
    int tsc;
    uint64_t tsc0, ns0, tsc1, ns1;
    double ns_per_tick;
} sw_trace_store_t;

/* Whether the TSC may stand for CLOCK_MONOTONIC here: x86-64, the
 * kernel's clocksource is "tsc", and STACKWATCH_TRACE_CLOCK is not
 * "monotonic" (the way to force clock_gettime).  Reads /sys and the
 * environment.  Context: any thread, not a signal handler. */
int sw_tracer_tsc_usable(void);

/* The time for a record of s.  Context: any. */
static inline uint64_t
sw_tracer_now(const sw_trace_store_t *s)
{
#if defined(__x86_64__)
    if (s->tsc) {
        return __builtin_ia32_rdtsc();
    }
#endif
    return sw_now_ns();
}

/* The TSC itself (sw_tracer_now of a store whose tsc is 1, without the
 * test; elsewhere than x86-64, where tsc is never 1: the monotonic
 * clock).  Context: any. */
static inline uint64_t
sw_tracer_tsc(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return sw_now_ns();
#endif
}

/* Sets s's clock (tsc: 0 or 1) and reads its start pair: start_ns is
 * then the monotonic time of the start.  Context: GIL held, before any
 * record. */
void sw_tracer_clock_start(sw_trace_store_t *s, int tsc);

/* Reads s's end pair (at stop, or before a write while tracing) and
 * sets stop_ns.  Context: GIL held. */
void sw_tracer_clock_stop(sw_trace_store_t *s);

/* The ts of a record of chunk c (or a thread's drop_ts, c its tail; c
 * NULL: the start's pair) as CLOCK_MONOTONIC ns.  Context: any. */
static inline uint64_t
sw_tracer_ns(const sw_trace_store_t *s, const sw_trace_chunk_t *c, uint64_t ts)
{
    uint64_t tsc = s->tsc0, ns = s->ns0, d;

    if (!s->tsc) {
        return ts;
    }
    if (c != NULL && c->tsc != 0) {
        tsc = c->tsc;
        ns = c->ns;
    }
    if (ts >= tsc) {
        return ns + (uint64_t)((double)(ts - tsc) * s->ns_per_tick);
    }
    /* (A chunk's first record is stamped just before its anchor.) */
    d = (uint64_t)((double)(tsc - ts) * s->ns_per_tick);
    return d < ns ? ns - d : 0;
}

/* Makes an empty store whose chunks may take `limit` bytes in all.
 * Allocates nothing.  Context: GIL held. */
void sw_tracer_init(sw_trace_store_t *s, size_t limit);

/* Frees every thread and chunk of s and makes it empty.  Context: GIL
 * held, no hook running. */
void sw_tracer_free(sw_trace_store_t *s);

/* A new thread record for the calling thread, linked into s.  Returns
 * it (owned by s), or NULL when out of memory.  Context: GIL held. */
sw_trace_thread_t *sw_tracer_thread_new(sw_trace_store_t *s, uint64_t ident,
                                        long tid);

/* Appends when the tail chunk is full: a new chunk from the budget, or
 * the event is dropped (and every later one of the thread).  An ignored
 * thread's event is left out (it never gets a chunk, so every append of
 * it comes here).  Context: GIL held. */
void sw_tracer_put_slow(sw_trace_store_t *s, sw_trace_thread_t *t, uint64_t ts,
                        uint32_t id, uint32_t kind);

/* Appends one record to t's buffer.  Context: GIL held; no allocation
 * unless the tail chunk is full. */
static inline void
sw_tracer_put(sw_trace_store_t *s, sw_trace_thread_t *t, uint64_t ts,
              uint32_t id, uint32_t kind)
{
    sw_trace_rec_t *r = t->pos;

    if (__builtin_expect(r < t->end, 1)) {
        r->ts = ts;
        r->id = id;
        r->kind = kind;
        t->pos = r + 1;
        return;
    }
    sw_tracer_put_slow(s, t, ts, id, kind);
}

/* Brings every thread's tail chunk's n and its events count up to its
 * cursor: before the records are read.  Context: GIL held. */
void sw_tracer_sync(sw_trace_store_t *s);

/* Totals over every thread of s (aged: recycled by --ring); syncs s
 * first.  Context: GIL held. */
void sw_tracer_totals(sw_trace_store_t *s, uint64_t *events, uint64_t *dropped,
                      uint64_t *aged, size_t *threads);

#endif
