/* /metrics' text; see metrics.h. */
#include <inttypes.h>

#include "metrics.h"

static void
family(sw_buf_t *out, const char *name, const char *type, const char *help)
{
    sw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one_u(sw_buf_t *out, const char *name, const char *type, const char *help,
      uint64_t v)
{
    family(out, name, type, help);
    sw_buf_printf(out, "%s %" PRIu64 "\n", name, v);
}

static void
one_d(sw_buf_t *out, const char *name, const char *type, const char *help,
      double v)
{
    family(out, name, type, help);
    sw_buf_printf(out, "%s %.9g\n", name, v);
}

void
sw_metrics_format(const sw_metrics_in_t *in, sw_buf_t *out)
{
    static const char *const kinds[4] = {NULL, "hub", "loop", "deadline"};
    static const double bounds[SW_WD_HIST_N] = SW_WD_HIST_BOUNDS;
    const char *h = "stackwatch_watchdog_stall_duration_seconds";
    uint64_t cum = 0;
    int k;

    /* The sampler. */
    one_u(out, "stackwatch_sampler_running", "gauge",
          "1 while the sampler thread samples, else 0.", in->sampler.running);
    one_u(out, "stackwatch_sampler_samples_total", "counter",
          "Stack samples stored by the sampler since the process started.",
          in->sampler.samples);
    one_u(out, "stackwatch_sampler_dropped_samples_total", "counter",
          "Samples the sampler could not store (a table was full).",
          in->sampler.dropped);
    one_u(out, "stackwatch_sampler_read_errors_total", "counter",
          "Reads of interpreter memory that failed cleanly while sampling.",
          in->sampler.read_errors);
    one_d(out, "stackwatch_sampler_cpu_seconds_total", "counter",
          "CPU time used by the sampler thread.", in->sampler.cpu_ns / 1e9);
    one_d(out, "stackwatch_sampler_rate_hertz", "gauge",
          "Sampling passes per second of the current or last run.",
          in->sampler.rate);

    /* The watchdog. */
    one_u(out, "stackwatch_watchdog_running", "gauge",
          "1 while the watchdog's monitor thread runs, else 0.",
          in->wd.running);
    family(out, "stackwatch_watchdog_stalls_total", "counter",
           "Stalls the watchdog reported, by kind of watch (hub: a gevent "
           "hub, loop: an asyncio loop, deadline: a deadline block).");
    for (k = 1; k < 4; k++) {
        sw_buf_printf(out,
                      "stackwatch_watchdog_stalls_total{kind=\"%s\"} "
                      "%" PRIu64 "\n",
                      kinds[k], in->wd.stalls[k]);
    }
    family(out, h, "histogram",
           "How long stalls lasted, observed as they "
           "end.");
    for (k = 0; k < SW_WD_HIST_N; k++) {
        cum += in->wd.hist[k];
        sw_buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", h, bounds[k],
                      cum);
    }
    cum += in->wd.hist[SW_WD_HIST_N];
    sw_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", h, cum);
    sw_buf_printf(out, "%s_sum %.9g\n", h, in->wd.hist_sum);
    sw_buf_printf(out, "%s_count %" PRIu64 "\n", h, in->wd.hist_count);
    one_d(out, "stackwatch_watchdog_current_stall_seconds", "gauge",
          "How long the longest stall going on now has lasted (0: none).",
          in->wd.current_stall);
    one_u(out, "stackwatch_watchdog_stalled_watches", "gauge",
          "Watches stalled now.", (uint64_t)in->wd.stalled);

    /* Memory. */
    if (in->mem_ok) {
        one_u(out, "stackwatch_process_resident_memory_bytes", "gauge",
              "Resident memory size of the process.", in->mem.rss);
        one_u(out, "stackwatch_process_virtual_memory_bytes", "gauge",
              "Virtual memory size of the process.", in->mem.vms);
    }
    if (in->wd.mem_watched) {
        one_u(out, "stackwatch_memory_threshold_bytes", "gauge",
              "The watchdog's resident memory threshold.", in->wd.mem_max);
        one_u(out, "stackwatch_memory_over_threshold", "gauge",
              "1 while resident memory is above the watchdog's threshold.",
              (uint64_t)in->wd.mem_over);
    }

    if (in->nmem_threads > 0) {
        size_t i;

        family(out, "stackwatch_memory_thread_live_bytes", "gauge",
               "Bytes a thread allocated and not yet freed, while the "
               "memory profiler runs (thread: its native id; "
               "other-threads: the threads past the profiler's slots).");
        for (i = 0; i < in->nmem_threads; i++) {
            const sw_mem_thread_live_t *t = &in->mem_threads[i];

            if (t->other) {
                sw_buf_puts(out, "stackwatch_memory_thread_live_bytes"
                                 "{thread=\"other-threads\"}");
            }
            else {
                sw_buf_printf(out,
                              "stackwatch_memory_thread_live_bytes"
                              "{thread=\"%ld\"}",
                              t->tid);
            }
            sw_buf_printf(out, " %" PRIu64 "\n", t->live);
        }
    }

    /* Threads and greenlets. */
    if (in->threads >= 0) {
        one_u(out, "stackwatch_python_threads", "gauge",
              "Python threads of the process.", (uint64_t)in->threads);
    }
    one_u(out, "stackwatch_greenlet_switches_total", "counter",
          "Greenlet switches seen by stackwatch's greenlet hook on the "
          "threads alive now.",
          in->greenlet_switches);

    /* The endpoint itself. */
    one_u(out, "stackwatch_http_requests_total", "counter",
          "Requests the HTTP endpoint answered.", in->http.requests);
    one_u(out, "stackwatch_http_refused_connections_total", "counter",
          "Connections refused, or closed to make room, for want of a "
          "slot.",
          in->http.refused + in->http.evicted);
    one_u(out, "stackwatch_http_timeouts_total", "counter",
          "Connections closed because a request or an answer was too "
          "slow.",
          in->http.timeouts);
}
