/* The HTTP endpoint's endpoints; see http_routes.h.  Everything here runs
 * on the server thread, which has no Python thread state: stacks come
 * from a GIL-free snapshot (snapshot.h), counters from lock-free or
 * briefly locked tables (sampler, watchdog, greenlet hook). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "compat/layout.h"
#include "compat/reader.h"
#include "dump.h"
#include "clock.h"
#include "greenlet_read.h"
#include "http_routes.h"
#include "metrics.h"
#include "ondemand.h"
#include "procmem.h"
#include "sampler.h"
#include "snapshot.h"
#include "watchdog.h"
#include "writers/writer.h"

#define MAX_THREADS 1024

static sw_codecache_t *cache;

/* Workers: a request that takes time (a profile, /runinfo's wait for
 * the GIL side) is handed to a detached thread of its own with its
 * connection (a job), so the server thread goes on serving.  J.mu guards
 * the counts: `live` workers (sw_http_routes_stop waits for none), and
 * whether a profile is being taken or run information gathered (one of
 * each at a time: another request meanwhile gets 409 or 503).  A worker
 * clears its flag as soon as its work is done, before it writes the
 * answer, so a client that asks again right after its answer is never
 * told "busy". */
typedef struct job {
    int fd;
    char format[16];
    int by_thread, by_greenlet;
    uint32_t flags;
} job_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int ready, live, profiling, gathering;
} J = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Set by sw_http_routes_configure (before the server starts). */
static int with_locals;
static uint64_t gil_wait_ns = 1000000000ull;

#define PROFILE_MAX_SECONDS 600
#define PROFILE_GIL_WAIT_NS (200 * 1000000ull)
#define PROFILE_SEND_TIMEOUT_S 30

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
    static sw_mem_thread_live_t live[SW_MEM_MAX_THREADS]; /* and these */
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
    in.nmem_threads = sw_mem_threads_live(live, SW_MEM_MAX_THREADS);
    in.mem_threads = live;
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
                "metrics</li>\n"
                "<li><a href=\"runinfo\">/runinfo</a>: greenlet and task "
                "trees from the GIL side (<a href=\"runinfo?format=json\">"
                "JSON</a>)</li>\n"
                "<li><a href=\"profile?seconds=10\">/profile</a>"
                "?seconds=N&amp;rate=R&amp;format=svg|speedscope|"
                "collapsed|pprof&amp;threads=1&amp;greenlets=1: a "
                "profile taken now</li>\n"
                "<li><a href=\"debug/pprof/\">/debug/pprof/</a>: Go's "
                "pprof endpoints</li>\n"
                "</ul>\n</body></html>\n");
    return 200;
}

/* Writes all of data to the (blocking, send-timed-out) socket fd. */
static void
send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

/* 1 when the client closed its side or the connection broke. */
static int
client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    char byte;

    if (poll(&p, 1, 0) <= 0) {
        return 0;
    }
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) {
        return 1;
    }
    /* Readable: more bytes (ignored) or the end of the stream. */
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Writes the answer on the handed-over connection fd (made blocking,
 * with a send timeout) and shuts its sending side.  Does not close it. */
static void
answer_on(int fd, int status, const char *ctype, const sw_buf_t *body)
{
    struct timeval tv = {PROFILE_SEND_TIMEOUT_S, 0};
    sw_buf_t answer;
    int flags;

    sw_buf_init(&answer);
    sw_http_format_answer(&answer, status, ctype, body->data, body->len);
    if (sw_buf_ok(&answer) && sw_buf_ok(body)) {
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0) {
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        send_all(fd, answer.data, answer.len);
        shutdown(fd, SHUT_WR);
    }
    sw_buf_free(&answer);
}

static const char *
content_type(const char *format)
{
    if (strcmp(format, "svg") == 0) {
        return "image/svg+xml";
    }
    if (strcmp(format, "speedscope") == 0) {
        return "application/json";
    }
    if (strcmp(format, "pprof") == 0) {
        return "application/octet-stream";
    }
    return "text/plain; charset=utf-8";
}

/* Starts a detached worker on job (the caller has set its flag under
 * J.mu, which it holds).  Returns 0, or -1 (no thread: job not taken). */
static int
job_start_locked(void *(*fn)(void *), job_t *job)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int rc;

    if (!J.ready) {
        sw_cond_init_monotonic(&J.done);
        J.ready = 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, &attr, fn, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        return -1;
    }
    J.live++;
    return 0;
}

/* A worker's last step: closes its connection, frees its job. */
static void
job_end(job_t *job)
{
    close(job->fd);
    free(job);
    pthread_mutex_lock(&J.mu);
    J.live--;
    pthread_cond_broadcast(&J.done);
    pthread_mutex_unlock(&J.mu);
}

static void
job_flag_clear(int *flag)
{
    pthread_mutex_lock(&J.mu);
    *flag = 0;
    pthread_mutex_unlock(&J.mu);
}

static void *
profile_main(void *arg)
{
    job_t *job = arg;
    sw_ondemand_result_t res;
    sw_write_opts_t o;
    sw_buf_t body;
    char err[256] = "", title[64], subtitle[256];
    int fd = job->fd, status = 200, rc;

    /* A client that leaves ends the profile early (nobody to answer). */
    while (!sw_ondemand_wait(100 * 1000000ull)) {
        if (client_gone(fd)) {
            sw_ondemand_cancel();
        }
    }
    sw_buf_init(&body);
    memset(&res, 0, sizeof(res));
    rc = sw_ondemand_finish(&res, PROFILE_GIL_WAIT_NS, err, sizeof(err));
    job_flag_clear(&J.profiling); /* the on-demand slot is free again */
    if (rc < 0 || res.session == NULL) {
        status = 500;
        sw_buf_puts(&body, err[0] ? err : "the profile was lost");
    }
    else if (res.error != 0) {
        status = 500;
        sw_buf_puts(&body, res.session->error_msg[0]
                               ? res.session->error_msg
                               : "the sampler failed: nothing was sampled");
    }
    else {
        memset(&o, 0, sizeof(o));
        o.by_thread = job->by_thread;
        o.by_greenlet = job->by_greenlet;
        o.weight = SW_WEIGHT_WALL;
        snprintf(title, sizeof(title), "stackwatch: process %d",
                 (int)getpid());
        pthread_mutex_lock(&res.session->mu);
        snprintf(subtitle, sizeof(subtitle),
                 "%llu samples over %.1f s at %g Hz (%.1f Hz effective), "
                 "wall mode, on demand%s",
                 (unsigned long long)res.session->samples_taken, res.seconds,
                 res.rate_hz, res.effective_rate,
                 res.early ? ", ended early" : "");
        o.title = title;
        o.subtitle = subtitle;
        o.exporter = "stackwatch";
        if (sw_write_profile(sw_writer_for(job->format), res.session, &o,
                             &body) < 0) {
            status = 500;
            sw_buf_free(&body);
            sw_buf_puts(&body, "out of memory");
        }
        pthread_mutex_unlock(&res.session->mu);
    }
    if (res.session != NULL) {
        sw_session_free(res.session);
    }
    answer_on(fd, status,
              status == 200 ? content_type(job->format)
                            : "text/plain; charset=utf-8",
              &body);
    sw_buf_free(&body);
    job_end(job);
    return NULL;
}

/* Parses an integer parameter within [lo, hi]; def when absent.  Returns
 * 0, or -1 (not a number, or out of range). */
static int
int_param(const sw_http_req_t *req, const char *key, long def, long lo,
          long hi, long *out)
{
    const char *v = sw_http_param(req, key);
    char *end;
    long n;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        return -1;
    }
    *out = n;
    return 0;
}

/* /debug/pprof/profile (pprof, Go's defaults: 30 s) and /profile (any
 * format; threads=1, greenlets=1 split it).  Validates, starts the
 * on-demand profile and hands the connection to the worker; 409 when a
 * profile is being taken. */
static int
profile_page(const sw_http_req_t *req, sw_buf_t *body, int go_style)
{
    static const char *const go_allowed[] = {"seconds", "rate", NULL};
    static const char *const allowed[] = {"seconds", "rate",      "format",
                                          "threads", "greenlets", NULL};
    const char *format = go_style ? "pprof" : sw_http_param(req, "format");
    long seconds, rate, threads, greenlets;
    sw_ondemand_cfg_t cfg;
    job_t *job;
    char err[256];
    int rc;

    if (!params_known(req, go_style ? go_allowed : allowed)) {
        return bad(body, go_style ? "this endpoint takes seconds and rate"
                                  : "/profile takes seconds, rate, format, "
                                    "threads and greenlets");
    }
    if (int_param(req, "seconds", 30, 1, PROFILE_MAX_SECONDS, &seconds) < 0) {
        sw_buf_printf(body, "seconds must be a whole number from 1 to %d",
                      PROFILE_MAX_SECONDS);
        return 400;
    }
    if (int_param(req, "rate", 100, 1, 1000, &rate) < 0) {
        return bad(body, "rate must be a whole number from 1 to 1000 (Hz)");
    }
    if (int_param(req, "threads", 0, 0, 1, &threads) < 0 ||
        int_param(req, "greenlets", 0, 0, 1, &greenlets) < 0) {
        return bad(body, "threads and greenlets must be 0 or 1");
    }
    if (format == NULL) {
        format = "svg";
    }
    if (sw_writer_for(format) == NULL) {
        return bad(body, "format must be svg, speedscope, collapsed or pprof");
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        sw_buf_puts(body, "out of memory");
        return 500;
    }
    job->fd = req->fd;
    snprintf(job->format, sizeof(job->format), "%s", format);
    job->by_thread = (int)threads;
    job->by_greenlet = greenlets ? SW_GREENLETS_EACH : SW_GREENLETS_NONE;
    pthread_mutex_lock(&J.mu);
    if (J.profiling) {
        pthread_mutex_unlock(&J.mu);
        free(job);
        sw_buf_puts(body, "busy: a profile is being taken; try again when "
                          "it is done");
        return 409;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.rate_hz = (double)rate;
    cfg.mode = SW_MODE_WALL;
    cfg.lines = SW_LINES_CURRENT;
    cfg.duration_ns = (int64_t)seconds * (int64_t)SW_NS_PER_S;
    rc = sw_ondemand_start(&cfg, err, sizeof(err));
    if (rc < 0) {
        pthread_mutex_unlock(&J.mu);
        free(job);
        sw_buf_puts(body, err);
        return rc == SW_EBUSY ? 409 : rc == SW_EINVAL ? 400 : 500;
    }
    J.profiling = 1;
    if (job_start_locked(profile_main, job) < 0) {
        sw_ondemand_result_t res;

        J.profiling = 0;
        pthread_mutex_unlock(&J.mu);
        free(job);
        sw_ondemand_cancel();
        if (sw_ondemand_finish(&res, 0, err, sizeof(err)) == 0 &&
            res.session != NULL) {
            sw_session_free(res.session);
        }
        sw_buf_puts(body, "cannot start a thread for the profile");
        return 500;
    }
    pthread_mutex_unlock(&J.mu);
    return SW_HTTP_TAKEN;
}

static void *
runinfo_main(void *arg)
{
    job_t *job = arg;
    sw_buf_t body;

    sw_buf_init(&body);
    sw_dump_compose(job->flags, gil_wait_ns, cache, &body);
    job_flag_clear(&J.gathering);
    answer_on(job->fd, sw_buf_ok(&body) ? 200 : 500,
              (job->flags & SW_DUMP_JSON) ? "application/json"
                                          : "text/plain; charset=utf-8",
              &body);
    sw_buf_free(&body);
    job_end(job);
    return NULL;
}

/* /runinfo: the stacks at once, then greenlets, tasks (and locals when
 * the server was started with them) from the GIL side within the bound,
 * or the note that the GIL was not had.  Handed to a worker. */
static int
runinfo_page(const sw_http_req_t *req, sw_buf_t *body)
{
    static const char *const allowed[] = {"format", NULL};
    const char *format = sw_http_param(req, "format");
    uint32_t flags = with_locals ? SW_DUMP_LOCALS : 0;
    job_t *job;

    if (!params_known(req, allowed)) {
        return bad(body, "/runinfo takes only format=text|json");
    }
    if (format != NULL && strcmp(format, "json") == 0) {
        flags |= SW_DUMP_JSON;
    }
    else if (format != NULL && strcmp(format, "text") != 0) {
        return bad(body, "format must be text or json");
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        sw_buf_puts(body, "out of memory");
        return 500;
    }
    job->fd = req->fd;
    job->flags = flags;
    pthread_mutex_lock(&J.mu);
    if (J.gathering) {
        pthread_mutex_unlock(&J.mu);
        free(job);
        sw_buf_puts(body, "busy: run information is being gathered for "
                          "another request");
        return 503;
    }
    J.gathering = 1;
    if (job_start_locked(runinfo_main, job) < 0) {
        J.gathering = 0;
        pthread_mutex_unlock(&J.mu);
        free(job);
        sw_buf_puts(body, "cannot start a thread for run information");
        return 500;
    }
    pthread_mutex_unlock(&J.mu);
    return SW_HTTP_TAKEN;
}

void
sw_http_routes_configure(int locals, uint64_t wait_ns)
{
    with_locals = locals;
    gil_wait_ns = wait_ns;
}

void
sw_http_routes_stop(void)
{
    pthread_mutex_lock(&J.mu);
    if (J.profiling) {
        sw_ondemand_cancel();
    }
    /* Each worker ends within its bounds: a cancelled profile, the GIL
     * wait, a send timed out. */
    while (J.live > 0) {
        pthread_cond_wait(&J.done, &J.mu);
    }
    pthread_mutex_unlock(&J.mu);
}

void
sw_http_routes_atfork_child(void)
{
    /* No worker in the child (their connections' copies are left open
     * there: the parent's shutdown still ends them for the client). */
    pthread_mutex_init(&J.mu, NULL);
    if (J.ready) {
        sw_cond_init_monotonic(&J.done);
    }
    J.live = 0;
    J.profiling = 0;
    J.gathering = 0;
}

/* Go's /debug/pprof/ index: what this endpoint has of it. */
static int
pprof_index(sw_buf_t *body, const char **ctype)
{
    *ctype = "text/html; charset=utf-8";
    sw_buf_puts(
        body,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>/debug/pprof/</title></head><body>\n"
        "<h1>/debug/pprof/</h1>\n"
        "<p>Profiles of this Python process, taken without the GIL by "
        "stackwatch.</p>\n<table>\n"
        "<tr><td><a "
        "href=\"/debug/pprof/profile?seconds=30\">profile</a></td><td>"
        "a wall-clock profile of every thread: "
        "?seconds=N (1-600, default 30), &amp;rate=R (1-1000 Hz, default "
        "100); gzip-compressed profile.proto, for "
        "<code>go tool pprof URL</code></td></tr>\n"
        "</table>\n<p>Also: <a href=\"/threads\">/threads</a>, "
        "<a href=\"/metrics\">/metrics</a>, "
        "<a href=\"/runinfo\">/runinfo</a>, "
        "<a href=\"/profile?seconds=10\">/profile</a> (svg, "
        "speedscope, collapsed, pprof).</p>\n</body></html>\n");
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
    if (strcmp(req->path, "/runinfo") == 0) {
        return runinfo_page(req, body);
    }
    if (strcmp(req->path, "/debug/pprof/") == 0 ||
        strcmp(req->path, "/debug/pprof") == 0) {
        return pprof_index(body, ctype);
    }
    if (strcmp(req->path, "/debug/pprof/profile") == 0) {
        return profile_page(req, body, 1);
    }
    if (strcmp(req->path, "/profile") == 0) {
        return profile_page(req, body, 0);
    }
    if (strcmp(req->path, "/") == 0) {
        return index_page(body, ctype);
    }
    return 404;
}
