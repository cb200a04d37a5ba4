/* The Chrome trace-event JSON writer (the format Perfetto's UI and
 * chrome://tracing open), streamed to a file descriptor, gzip-framed
 * when asked (stored deflate blocks and a CRC32 of our own: valid gzip,
 * no zlib needed).
 *
 * It replays each thread's records (tracer.h) onto tracks: one per
 * thread, and one per greenlet the thread switched to.  Each track keeps
 * its own stack of open slices, so a greenlet's calls stay open while it
 * is switched out.  B/E events are balanced per track by construction:
 * an exit whose slice is not open on the track (a frame entered before
 * tracing started) is skipped, an exit below the top closes the slices
 * above it first, and whatever is still open at the end is closed at
 * the thread's end time (when tracing stopped, or when the thread
 * started dropping events).  Timestamps are in microseconds from the
 * trace's start, never decreasing on a track.
 *
 * Context: any thread, no GIL (the caller holds it in practice, so that
 * no hook appends meanwhile).  Allocates.  Pure C; no Python.h. */
#ifndef SW_WRITERS_CHROME_H
#define SW_WRITERS_CHROME_H

#include <stddef.h>
#include <stdint.h>

#include "tracer.h"

typedef struct sw_chrome_name {
    const char *name; /* UTF-8, not NULL */
    const char *file; /* NULL: none (user spans) */
    int line;
    const char *args_json; /* a user span's args: a JSON object, or NULL */
} sw_chrome_name_t;

/* A sample of a process-wide counter (--memory: the RSS). */
typedef struct sw_chrome_counter {
    uint64_t ts; /* CLOCK_MONOTONIC, ns */
    double value;
} sw_chrome_counter_t;

/* A sample of one thread's live bytes (--memory, from the memory
 * profiler's per-thread counters): a counter track per thread. */
typedef struct sw_chrome_live {
    uint64_t ts;  /* CLOCK_MONOTONIC, ns */
    uint64_t tid; /* the thread's native id */
    int other;    /* the counters' shared slot ("other threads") */
    double value; /* MiB */
} sw_chrome_live_t;

typedef struct sw_chrome_extra {
    uint64_t tid, start_ns, dur_ns;
    uint32_t greenlet; /* nonzero: that greenlet's track, if it has one */
    const char *frag;
} sw_chrome_extra_t;

typedef struct sw_chrome_opts {
    const sw_trace_store_t *store;
    const sw_chrome_name_t *codes; /* by code id (ENTER/EXIT) */
    uint32_t ncodes;
    const sw_chrome_name_t *spans; /* by span id (SPAN_B/SPAN_E/MARK) */
    uint32_t nspans;
    /* Thread names by threading ident and kernel id (0: not known, or
     * not to be trusted: a greenlet's, under gevent's patching), for
     * threads whose record has no name of its own; a thread is matched
     * by both, else by its kernel id alone, else by its ident alone
     * where a kernel id is 0 (gevent's patching gives the main thread
     * its main greenlet's id as threading ident).  Missing: the
     * function at the bottom of its stack when the tracer first saw it
     * (what it runs, as the sampler names such a thread), else
     * "Thread <tid>". */
    const uint64_t *thread_idents;
    const long *thread_tids;
    const char *const *thread_names;
    size_t nthread_names;
    /* Greenlet track names by greenlet id (NULL entries, or ids past
     * ngreenlets: "greenlet #<id>"); "{root}" in a name stands for the
     * first function called on the track (what the greenlet runs). */
    const char *const *greenlet_names;
    uint32_t ngreenlets;
    /* asyncio task track names by task id (--asyncio; NULL entries, or
     * ids past ntasks: "task #<id>"). */
    const char *const *task_names;
    uint32_t ntasks;
    /* One counter track (name: counter_name, values in counter_unit),
     * samples in time order; NULL/0: none. */
    const sw_chrome_counter_t *counters;
    size_t ncounters;
    const char *counter_name, *counter_unit;
    /* Per-thread live bytes, in time order: one counter track per thread,
     * "live bytes: <thread name>" (values in MiB); NULL/0: none.  A
     * thread that is stackwatch's own has none. */
    const sw_chrome_live_t *live;
    size_t nlive;
    /* Complete ("X") events added at write time, e.g. the watchdog's
     * stalls: each a ready JSON fragment ',"name":...,"args":{...}'
     * after its track and times (ns, monotonic). NULL/0: none. */
    const struct sw_chrome_extra *extras;
    size_t nextras;
    long pid;
    const char *process_name; /* may be NULL */
    /* Times are written from base_ns on (CLOCK_MONOTONIC ns; 0: the
     * store's start): a forked child's part takes its parent's start, so
     * that both processes share one time line. */
    uint64_t base_ns;
    /* 1: a part, the events alone (no document around them, the
     * process_name event first), for a parent's trace to take in. */
    int fragment;
    /* Parts (files written with fragment) taken into this trace after its
     * own events, each as it is; an unreadable one is left out and
     * counted in *parts_missing (may be NULL). */
    const char *const *parts;
    size_t nparts;
    size_t *parts_missing;
    int gzip;
    /* speedscope's evented format instead: one profile per track, the
     * same slices as O/C events (no marks, no counters). */
    int speedscope;
} sw_chrome_opts_t;

/* Writes the whole trace to fd.  Returns 0; SW_ENOMEM; or SW_ESYS with
 * errno set when a write failed (part of the document may then be
 * written: the caller discards the file). */
int sw_chrome_write(const sw_chrome_opts_t *o, int fd);

#endif
