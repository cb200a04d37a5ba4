/* The HTTP endpoint's endpoints; see http_routes.h.  Everything here runs
 * on the server thread, which has no Python thread state: stacks come
 * from a GIL-free snapshot (snapshot.h), counters from lock-free or
 * briefly locked tables (sampler, watchdog, greenlet hook). */
#include <string.h>
#include <unistd.h>

#include "compat/layout.h"
#include "compat/reader.h"
#include "greenlet_read.h"
#include "http_routes.h"
#include "metrics.h"
#include "procmem.h"
#include "sampler.h"
#include "snapshot.h"
#include "watchdog.h"

#define MAX_THREADS 1024

static sw_codecache_t *cache;

void
sw_http_routes_init(sw_codecache_t *c)
{
    cache = c;
}

/* 1 when every parameter of req is one of the names in allowed (a
 * NULL-terminated list). */
static int
params_known(const sw_http_req_t *req, const char *const *allowed)
{
    int i;

    for (i = 0; i < req->nparams; i++) {
        const char *const *a;

        for (a = allowed; *a != NULL; a++) {
            if (strcmp(*a, req->keys[i]) == 0) {
                break;
            }
        }
        if (*a == NULL) {
            return 0;
        }
    }
    return 1;
}

static int
bad(sw_buf_t *body, const char *why)
{
    sw_buf_puts(body, why);
    return 400;
}

static int
threads_page(const sw_http_req_t *req, sw_buf_t *body, const char **ctype)
{
    static const char *const allowed[] = {"format", NULL};
    const char *format = sw_http_param(req, "format");
    sw_snapshot_t snap;
    sw_reader_t r;
    int json;

    if (!params_known(req, allowed)) {
        return bad(body, "/threads takes only format=text|json");
    }
    if (format == NULL || strcmp(format, "text") == 0) {
        json = 0;
    }
    else if (strcmp(format, "json") == 0) {
        json = 1;
    }
    else {
        return bad(body, "format must be text or json");
    }
    if (sw_reader_open(&r) < 0) {
        sw_buf_puts(body, "stackwatch: cannot read the interpreter here");
        return 500;
    }
    sw_snapshot_capture(&snap, &r, cache, 0);
    sw_reader_close(&r);
    if (json) {
        *ctype = "application/json";
        sw_buf_printf(body, "{\"pid\": %d, \"python\": ", (int)getpid());
        sw_buf_json_str(body, sw_layout.version);
        sw_buf_puts(body, ", \"stacks\": ");
        sw_snapshot_format_json(&snap, body);
        sw_buf_puts(body, "}\n");
    }
    else {
        *ctype = "text/plain; charset=utf-8";
        sw_buf_printf(body, "Process %d\nPython %s\n\n", (int)getpid(),
                      sw_layout.version);
        sw_snapshot_format(&snap, body);
    }
    sw_snapshot_free(&snap);
    return 200;
}

static int
metrics_page(const sw_http_req_t *req, sw_buf_t *body, const char **ctype)
{
    static const char *const allowed[] = {NULL};
    static sw_thread_t threads[MAX_THREADS]; /* the server thread's own */
    sw_metrics_in_t in;
    sw_reader_t r;

    if (!params_known(req, allowed)) {
        return bad(body, "/metrics takes no parameters");
    }
    memset(&in, 0, sizeof(in));
    sw_sampler_get_totals(&in.sampler);
    sw_wd_get_metrics(&in.wd);
    in.mem_ok = sw_procmem_read(&in.mem) == 0;
    in.threads = -1;
    if (sw_reader_open(&r) == 0) {
        int n = sw_read_threads(&r, threads, MAX_THREADS), i;

        if (n >= 0) {
            in.threads = n;
            for (i = 0; i < n; i++) {
                in.greenlet_switches +=
                    sw_greenlet_switches(threads[i].tstate, threads[i].id);
            }
        }
        sw_reader_close(&r);
    }
    sw_http_get_stats(&in.http);
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    sw_metrics_format(&in, body);
    return 200;
}

static int
index_page(sw_buf_t *body, const char **ctype)
{
    *ctype = "text/html; charset=utf-8";
    sw_buf_puts(body,
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                "<title>stackwatch</title></head><body>\n"
                "<h1>stackwatch</h1>\n<ul>\n"
                "<li><a href=\"threads\">/threads</a>: every thread's "
                "stack now (<a href=\"threads?format=json\">JSON</a>)</li>\n"
                "<li><a href=\"metrics\">/metrics</a>: Prometheus "
                "metrics</li>\n</ul>\n</body></html>\n");
    return 200;
}

int
sw_http_routes_handle(const sw_http_req_t *req, sw_buf_t *body,
                      const char **ctype, void *ctx)
{
    (void)ctx;
    if (strcmp(req->path, "/threads") == 0) {
        return threads_page(req, body, ctype);
    }
    if (strcmp(req->path, "/metrics") == 0) {
        return metrics_page(req, body, ctype);
    }
    if (strcmp(req->path, "/") == 0) {
        return index_page(body, ctype);
    }
    return 404;
}
