/* The HTTP endpoint's server: one native thread that accepts loopback (or
 * token-protected) connections and answers HTTP/1.1 GET requests through
 * a handler (http_routes.c has stackwatch's endpoints), without the GIL.
 *
 * What it accepts, strictly: a request line "GET <target> HTTP/1.x",
 * at most SW_HTTP_LINE_MAX bytes (else 414), header lines "Name: value"
 * (else 400), the whole head at most SW_HTTP_HEAD_MAX bytes (else 431),
 * received within SW_HTTP_HEAD_NS of the connection (else 408 and the
 * connection closed: a client sending a byte a second holds one slot for
 * that long, and never holds up the others).  Methods other than GET:
 * 405.  A request body is never read.  One request per connection (the
 * answer says "Connection: close").  At most SW_HTTP_MAX_CONNS
 * connections: when a new one arrives and every slot is taken, the
 * connection that has been waiting longest for its head is closed to
 * make room (so idle or slow clients cannot lock the others out); if
 * every slot is answering, the new one gets 503.  With a token set,
 * a request without "Authorization: Bearer <token>" gets 401; the token
 * is compared in constant time.
 *
 * Threads: sw_http_start/stop are called by the Python layer (the GIL
 * held or not: they take no Python lock); the server thread owns every
 * connection and calls the handler for one request at a time.  A wake
 * pipe tells it to stop.  Signals are blocked in it.
 *
 * Fork: the child has no server thread; sw_http_atfork_child closes the
 * inherited sockets (the parent keeps serving on its port).
 *
 * Pure C; no Python.h. */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SW_HTTP_LINE_MAX 2048
#define SW_HTTP_HEAD_MAX 8192
#define SW_HTTP_MAX_CONNS 64
#define SW_HTTP_HEAD_NS (10 * 1000000000ull)
#define SW_HTTP_WRITE_NS (60 * 1000000000ull)
#define SW_HTTP_TOKEN_MAX 256
#define SW_HTTP_PARAMS_MAX 8

/* A parsed request: strings point into the head, which the parser
 * modified (NULs written in place).  Context: any. */
typedef struct sw_http_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', "" if none */
    const char *auth;  /* the Authorization value, NULL if none */
    int fd;            /* the connection (a handler may take it over) */
    int nparams;
    const char *keys[SW_HTTP_PARAMS_MAX]; /* percent-decoded */
    const char *values[SW_HTTP_PARAMS_MAX];
} sw_http_req_t;

/* Parses a complete head in place (buf[len] must be writable, len bytes
 * of head ending with its blank line).  Fills req.  Returns 0, or the
 * status to answer: 400 (malformed line, header or query; more than
 * SW_HTTP_PARAMS_MAX parameters), 405 (not GET), 414 (request line too
 * long), 505 (not HTTP/1.0 or 1.1).  Context: any; pure. */
int sw_http_parse(char *buf, size_t len, sw_http_req_t *req);

/* Where the head ends: the offset just past the blank line ("\r\n\r\n"
 * or "\n\n") in buf[0..len), or 0 when not there yet.  Context: any;
 * pure. */
size_t sw_http_head_end(const char *buf, size_t len);

/* The value of query parameter key in req, or NULL.  Context: any. */
const char *sw_http_param(const sw_http_req_t *req, const char *key);

/* 1 when the Authorization value auth is "Bearer <token>", else 0; in
 * time that depends on neither where the two differ nor the token's
 * length (beyond SW_HTTP_TOKEN_MAX).  Context: any; pure. */
int sw_http_token_ok(const char *auth, const char *token);

/* The reason phrase of a status code ("Not Found"...).  Context: any. */
const char *sw_http_reason(int status);

/* A handler's return value meaning "I took the connection over": the
 * server forgets req->fd without closing it; the handler's owner answers
 * (sw_http_format_answer), closes it, and counts for nothing here. */
#define SW_HTTP_TAKEN 1

/* Appends a whole answer (status line, the headers every answer has,
 * then body[0..len)) to out; an error status with no body gets its
 * reason phrase.  Context: any; pure. */
void sw_http_format_answer(sw_buf_t *out, int status, const char *ctype,
                           const char *body, size_t len);

/* The handler: answers req by appending its body to body and returning
 * the status, with the content type in *ctype (static storage), or
 * SW_HTTP_TAKEN.  Called
 * on the server thread only, one request at a time; it must not block
 * for long (it holds up every other connection).  A status >= 400 with
 * an empty body gets the reason phrase as its body. */
typedef int (*sw_http_handler_fn)(const sw_http_req_t *req, sw_buf_t *body,
                                  const char **ctype, void *ctx);

typedef struct sw_http_cfg {
    int family;     /* AF_INET, AF_INET6 or AF_UNIX */
    char host[64];  /* numeric address (inet) */
    int port;       /* 0: any free port */
    char path[108]; /* AF_UNIX: the socket's path, created 0600 */
    char token[SW_HTTP_TOKEN_MAX]; /* "" for none */
    sw_http_handler_fn handler;
    void *ctx;
} sw_http_cfg_t;

typedef struct sw_http_stats {
    uint64_t accepted; /* connections */
    uint64_t requests; /* heads parsed and answered */
    uint64_t refused;  /* 503 for want of a slot */
    uint64_t evicted;  /* waiting connections closed to make room */
    uint64_t timeouts; /* closed for a head or an answer too slow */
    uint64_t errors;   /* answers with a status >= 400 */
    int open;          /* connections now */
} sw_http_stats_t;

/* Binds, listens and starts the server thread.  The bound address is
 * written to addr ("127.0.0.1:6060", "[::1]:6060", "unix:/path").
 * Returns 0, or with a reason in err (nothing started): SW_EBUSY (a
 * server runs), SW_EINVAL (a bad address), SW_ESYS (errno set: bind,
 * listen or pthread_create failed).  Context: any thread; not
 * reentrant (the Python layer serialises calls). */
int sw_http_start(const sw_http_cfg_t *cfg, char *addr, size_t addrlen,
                  char *err, size_t errlen);

/* Stops the server thread and closes every connection and the listening
 * socket (a unix socket's file is removed).  No-op when not running.
 * Context: any thread but the server's. */
void sw_http_stop(void);

/* 1 while a server runs.  Context: any. */
int sw_http_running(void);

/* Copies the counters.  Context: any (relaxed atomics). */
void sw_http_get_stats(sw_http_stats_t *st);

/* Fork, child side: forgets the server (no thread in the child) and
 * closes its inherited sockets without touching the unix socket's file.
 * Context: pthread_atfork child handler. */
void sw_http_atfork_child(void);

#endif
