/* /metrics: stackwatch's counters in Prometheus's text format (0.0.4),
 * names and help texts after Prometheus's naming rules (a unit suffix,
 * counters ending in _total, one family per name).
 *
 * The figures are gathered by the caller (http_routes.c reads them from
 * the sampler, the watchdog, /proc and the reader, none needing the GIL);
 * this file only writes them, so it is pure and tested alone.
 *
 * Pure C; no Python.h. */
#ifndef SW_METRICS_H
#define SW_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "memtrack.h"
#include "procmem.h"
#include "sampler.h"
#include "watchdog.h"

typedef struct sw_metrics_in {
    sw_sampler_totals_t sampler;
    sw_wd_metrics_t wd;
    sw_procmem_t mem;
    int mem_ok;                 /* mem was read */
    int threads;                /* Python threads now, -1 if unreadable */
    uint64_t greenlet_switches; /* summed over the threads now alive */
    sw_http_stats_t http;
    /* The memory profiler's live bytes by thread (while it runs). */
    const sw_mem_thread_live_t *mem_threads;
    size_t nmem_threads;
} sw_metrics_in_t;

/* Appends the exposition of in to out.  Errors: only through
 * sw_buf_ok(out).  Context: any; pure. */
void sw_metrics_format(const sw_metrics_in_t *in, sw_buf_t *out);

#endif
