/* The HTTP endpoint's endpoints (the handler sw_http_start is given):
 * /, /threads (text, ?format=json) and /metrics, each answered on the
 * server thread without the GIL (http.h); /debug/pprof/profile and
 * /profile, taken by the on-demand sampler (ondemand.h) and answered by
 * a worker thread of their own, which the connection is handed to;
 * /runinfo (dump.h's answer: stacks at once, the GIL side's part within a
 * bound) on a worker of its own; /debug/pprof/, an index.
 *
 * Pure C; no Python.h. */
#ifndef SW_HTTP_ROUTES_H
#define SW_HTTP_ROUTES_H

#include "buf.h"
#include "codecache.h"
#include "http.h"

/* Names the code cache the snapshots resolve code objects with (the
 * process's one).  Context: module init, GIL held.  No errors. */
void sw_http_routes_init(sw_codecache_t *cache);

/* /runinfo's settings: locals included (redacted as elsewhere) or not,
 * and how long it waits for the GIL side.  Context: before the server
 * starts (GIL held).  No errors. */
void sw_http_routes_configure(int locals, uint64_t gil_wait_ns);

/* Ends a profile being taken for a request (its client gets what was
 * sampled so far) and joins the worker thread that answers it.  Context:
 * any thread but the server's, after sw_http_stop (no new request can
 * start one); may wait for the GIL side up to 200 ms (the GIL
 * released). */
void sw_http_routes_stop(void);

/* Fork, child side: no profile worker there; its connection closed.
 * Context: pthread_atfork child handler. */
void sw_http_routes_atfork_child(void);

/* The handler (sw_http_handler_fn): 200 with the endpoint's answer, 400
 * for a parameter it does not know or a bad value, 404 for an unknown
 * path.  Context: the server thread (no GIL; reads the interpreter with
 * its own reader). */
int sw_http_routes_handle(const sw_http_req_t *req, sw_buf_t *body,
                          const char **ctype, void *ctx);

#endif
