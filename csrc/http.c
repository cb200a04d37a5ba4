/* The HTTP endpoint's server; see http.h for what it accepts.
 *
 * Threads and ownership.  One server thread, started by sw_http_start and
 * joined by sw_http_stop, owns the listening socket, every connection and
 * their buffers; it never takes the GIL and calls no Python API.  The
 * only state shared with other threads: `running` and the stop pipe
 * (written by sw_http_stop), and the counters (relaxed atomics).  Every
 * socket is non-blocking; one poll() waits on the stop pipe, the
 * listening socket and each connection (its head while reading, POLLOUT
 * while its answer is written), with the nearest connection deadline as
 * timeout.  A connection is: reading its head (at most SW_HTTP_HEAD_MAX
 * bytes, within SW_HTTP_HEAD_NS), then writing its whole answer (within
 * SW_HTTP_WRITE_NS), then closed.
 *
 * Fork: the child's copy of this state names a thread that does not
 * exist there; sw_http_atfork_child closes the sockets and forgets it.
 *
 * Exit: the Python layer stops the server from an atexit handler; a
 * process that exits without it simply loses the thread with the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "http.h"

/* ---- parsing (pure) ----------------------------------------------------- */

size_t
sw_http_head_end(const char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] != '\n') {
            continue;
        }
        if (i + 1 < len && buf[i + 1] == '\n') {
            return i + 2;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            return i + 3;
        }
    }
    return 0;
}

static int
is_token_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes s in place ('+' is a space).  Returns 0, or -1 on a
 * bad escape or a decoded NUL. */
static int
decode(char *s)
{
    char *out = s;

    while (*s) {
        if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            *out++ = (char)(hi * 16 + lo);
            s += 3;
        }
        else {
            *out++ = *s == '+' ? ' ' : *s;
            s++;
        }
    }
    *out = '\0';
    return 0;
}

static int
parse_query(char *q, sw_http_req_t *req)
{
    char *save = NULL, *part;

    for (part = strtok_r(q, "&", &save); part != NULL;
         part = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(part, '=');

        if (req->nparams == SW_HTTP_PARAMS_MAX) {
            return 400;
        }
        if (eq != NULL) {
            *eq = '\0';
        }
        if (decode(part) < 0 || (eq != NULL && decode(eq + 1) < 0) ||
            *part == '\0') {
            return 400;
        }
        req->keys[req->nparams] = part;
        req->values[req->nparams] = eq != NULL ? eq + 1 : "";
        req->nparams++;
    }
    return 0;
}

int
sw_http_parse(char *buf, size_t len, sw_http_req_t *req)
{
    char *line = buf, *end = buf + len, *nl, *sp1, *sp2, *target, *q;
    size_t n;

    memset(req, 0, sizeof(*req));
    req->query = "";
    nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL) {
        return 400;
    }
    n = (size_t)(nl - line);
    if (n > SW_HTTP_LINE_MAX) {
        return 414;
    }
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    line[n] = '\0';
    if (memchr(line, '\0', n) != NULL) {
        return 400;
    }
    /* METHOD SP TARGET SP VERSION, exactly. */
    sp1 = strchr(line, ' ');
    if (sp1 == NULL || sp1 == line) {
        return 400;
    }
    *sp1 = '\0';
    for (q = line; *q; q++) {
        if (!is_token_char((unsigned char)*q)) {
            return 400;
        }
    }
    target = sp1 + 1;
    sp2 = strchr(target, ' ');
    if (sp2 == NULL || sp2 == target || strchr(sp2 + 1, ' ') != NULL) {
        return 400;
    }
    *sp2 = '\0';
    if (strncmp(sp2 + 1, "HTTP/", 5) != 0) {
        return 400;
    }
    if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0) {
        return 505;
    }
    if (target[0] != '/') {
        return 400;
    }
    for (q = target; *q; q++) {
        if ((unsigned char)*q <= 32 || (unsigned char)*q >= 127) {
            return 400;
        }
    }
    /* Headers: "Name: value" lines up to the blank one. */
    line = nl + 1;
    for (;;) {
        char *colon, *v;

        nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL) {
            return 400;
        }
        n = (size_t)(nl - line);
        if (n > 0 && line[n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            break;
        }
        line[n] = '\0';
        if (memchr(line, '\0', n) != NULL) {
            return 400;
        }
        colon = strchr(line, ':');
        if (colon == NULL || colon == line) {
            return 400;
        }
        for (q = line; q < colon; q++) {
            if (!is_token_char((unsigned char)*q)) {
                return 400;
            }
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
        }
        for (q = v + strlen(v); q > v && (q[-1] == ' ' || q[-1] == '\t');
             q--) {
            q[-1] = '\0';
        }
        for (q = v; *q; q++) {
            if ((unsigned char)*q < 32 && *q != '\t') {
                return 400;
            }
        }
        if (strcasecmp(line, "Authorization") == 0) {
            if (req->auth != NULL) {
                return 400;
            }
            req->auth = v;
        }
        line = nl + 1;
    }
    if (strcmp(buf, "GET") != 0) {
        return 405;
    }
    req->method = buf;
    q = strchr(target, '?');
    if (q != NULL) {
        int rc;

        *q = '\0';
        req->query = q + 1;
        /* Split in place: req->query keeps only its first parameter. */
        rc = parse_query(q + 1, req);
        if (rc != 0) {
            return rc;
        }
    }
    if (decode(target) < 0) {
        return 400;
    }
    req->path = target;
    return 0;
}

const char *
sw_http_param(const sw_http_req_t *req, const char *key)
{
    int i;

    for (i = 0; i < req->nparams; i++) {
        if (strcmp(req->keys[i], key) == 0) {
            return req->values[i];
        }
    }
    return NULL;
}

int
sw_http_token_ok(const char *auth, const char *token)
{
    /* Every byte of both (up to the maximum) is looked at whatever
     * matches: the time says nothing about the token. */
    static const char prefix[] = "Bearer ";
    volatile unsigned char diff = 0;
    size_t i, alen, tlen;

    if (auth == NULL || token == NULL || token[0] == '\0') {
        return 0;
    }
    alen = strnlen(auth, SW_HTTP_TOKEN_MAX + 8);
    tlen = strnlen(token, SW_HTTP_TOKEN_MAX);
    diff |= (unsigned char)(alen != tlen + 7);
    for (i = 0; i < SW_HTTP_TOKEN_MAX + 7; i++) {
        unsigned char a = i < alen ? (unsigned char)auth[i] : 0;
        unsigned char b = i < 7          ? (unsigned char)prefix[i]
                          : i - 7 < tlen ? (unsigned char)token[i - 7]
                                         : 0;

        diff |= (unsigned char)(a ^ b);
    }
    return diff == 0;
}

const char *
sw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* ---- the server --------------------------------------------------------- */

typedef struct conn {
    int fd; /* -1: free slot */
    int writing;
    uint64_t since_ns, deadline_ns;
    size_t inlen;
    char in[SW_HTTP_HEAD_MAX + 1];
    sw_buf_t out;
    size_t outpos;
} conn_t;

static struct {
    _Atomic int running;
    pthread_t thread;
    int lfd;
    int wake[2];
    sw_http_cfg_t cfg;
    conn_t *conns; /* SW_HTTP_MAX_CONNS */
    char unix_path[108];
    _Atomic uint64_t accepted, requests, refused, evicted, timeouts, errors;
    _Atomic int open;
} H = {.lfd = -1, .wake = {-1, -1}};

static void
count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void
conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        atomic_fetch_sub_explicit(&H.open, 1, memory_order_relaxed);
    }
    c->fd = -1;
    c->writing = 0;
    c->inlen = 0;
    c->outpos = 0;
    sw_buf_free(&c->out);
}

void
sw_http_format_answer(sw_buf_t *out, int status, const char *ctype,
                      const char *data, size_t len)
{
    const char *reason = sw_http_reason(status);
    int nl = status >= 400;

    if (len == 0 && status >= 400) {
        ctype = "text/plain; charset=utf-8";
        data = reason;
        len = strlen(reason);
    }
    sw_buf_printf(out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n"
                  "Cache-Control: no-store\r\n"
                  "X-Content-Type-Options: nosniff\r\n",
                  status, reason, ctype, len + (size_t)nl);
    if (status == 401) {
        sw_buf_puts(out, "WWW-Authenticate: Bearer\r\n");
    }
    if (status == 405) {
        sw_buf_puts(out, "Allow: GET\r\n");
    }
    sw_buf_puts(out, "\r\n");
    if (len > 0) {
        sw_buf_put(out, data, len);
    }
    if (nl) {
        sw_buf_putc(out, '\n');
    }
}

/* Makes c's answer: the status line, headers and body. */
static void
conn_answer(conn_t *c, int status, const char *ctype, const sw_buf_t *body)
{
    if (status >= 400) {
        count(&H.errors);
    }
    sw_buf_free(&c->out);
    sw_http_format_answer(&c->out, status, ctype,
                          body != NULL ? body->data : NULL,
                          body != NULL ? body->len : 0);
    c->writing = 1;
    c->outpos = 0;
    c->deadline_ns = sw_now_ns() + SW_HTTP_WRITE_NS;
}

static void
conn_answer_text(conn_t *c, int status)
{
    conn_answer(c, status, "text/plain; charset=utf-8", NULL);
}

/* A whole head is in c->in[0..end): parse it and answer. */
static void
conn_handle(conn_t *c, size_t end)
{
    sw_http_req_t req;
    sw_buf_t body;
    const char *ctype = "text/plain; charset=utf-8";
    int status;

    c->in[end] = '\0';
    status = sw_http_parse(c->in, end, &req);
    count(&H.requests);
    if (status == 0 && H.cfg.token[0] != '\0' &&
        !sw_http_token_ok(req.auth, H.cfg.token)) {
        status = 401;
    }
    if (status != 0) {
        conn_answer_text(c, status);
        return;
    }
    sw_buf_init(&body);
    req.fd = c->fd;
    status = H.cfg.handler(&req, &body, &ctype, H.cfg.ctx);
    if (status == SW_HTTP_TAKEN) {
        /* The handler's now: not closed here. */
        sw_buf_free(&body);
        c->fd = -1;
        atomic_fetch_sub_explicit(&H.open, 1, memory_order_relaxed);
        conn_close(c);
        return;
    }
    if (!sw_buf_ok(&body)) {
        sw_buf_free(&body);
        status = 500;
    }
    conn_answer(c, status, ctype, &body);
    sw_buf_free(&body);
    if (!sw_buf_ok(&c->out)) {
        /* No memory for the answer: drop the connection. */
        conn_close(c);
    }
}

static void
conn_read(conn_t *c)
{
    for (;;) {
        size_t room = SW_HTTP_HEAD_MAX - c->inlen, end;
        ssize_t n;

        if (room == 0) {
            conn_answer_text(c, 431);
            return;
        }
        n = recv(c->fd, c->in + c->inlen, room, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->inlen += (size_t)n;
        end = sw_http_head_end(c->in, c->inlen);
        if (end > 0) {
            conn_handle(c, end);
            return;
        }
        /* The request line alone must fit its limit. */
        if (memchr(c->in, '\n', c->inlen) == NULL &&
            c->inlen > SW_HTTP_LINE_MAX + 1) {
            conn_answer_text(c, 414);
            return;
        }
    }
}

static void
conn_write(conn_t *c)
{
    while (c->outpos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->outpos,
                         c->out.len - c->outpos, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->outpos += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    conn_close(c);
}

/* A new connection: a free slot, else the slot of the connection that
 * has waited longest for its head, else 503. */
static void
accept_one(void)
{
    conn_t *slot = NULL, *oldest = NULL;
    int fd, i;

    fd = accept4(H.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    count(&H.accepted);
    for (i = 0; i < SW_HTTP_MAX_CONNS; i++) {
        conn_t *c = &H.conns[i];

        if (c->fd < 0) {
            slot = c;
            break;
        }
        if (!c->writing &&
            (oldest == NULL || c->since_ns < oldest->since_ns)) {
            oldest = c;
        }
    }
    if (slot == NULL && oldest != NULL) {
        count(&H.evicted);
        conn_close(oldest);
        slot = oldest;
    }
    if (slot == NULL) {
        static const char busy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nbusy\n";

        count(&H.refused);
        (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        return;
    }
    slot->fd = fd;
    slot->writing = 0;
    slot->inlen = 0;
    slot->since_ns = sw_now_ns();
    slot->deadline_ns = slot->since_ns + SW_HTTP_HEAD_NS;
    sw_buf_init(&slot->out);
    atomic_fetch_add_explicit(&H.open, 1, memory_order_relaxed);
}

static void *
http_main(void *arg)
{
    struct pollfd pfd[SW_HTTP_MAX_CONNS + 2];
    int who[SW_HTTP_MAX_CONNS + 2];
    (void)arg;

    for (;;) {
        uint64_t now = sw_now_ns(), next = now + 1000000000ull;
        int n = 0, i, timeout, rc;

        pfd[n].fd = H.wake[0];
        pfd[n].events = POLLIN;
        who[n++] = -1;
        pfd[n].fd = H.lfd;
        pfd[n].events = POLLIN;
        who[n++] = -2;
        for (i = 0; i < SW_HTTP_MAX_CONNS; i++) {
            conn_t *c = &H.conns[i];

            if (c->fd < 0) {
                continue;
            }
            if (now >= c->deadline_ns) {
                count(&H.timeouts);
                if (c->writing) {
                    conn_close(c);
                    continue;
                }
                /* Best effort: a 408 if the socket takes it at once. */
                conn_answer_text(c, 408);
                (void)send(c->fd, c->out.data, c->out.len,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
                conn_close(c);
                continue;
            }
            if (c->deadline_ns < next) {
                next = c->deadline_ns;
            }
            pfd[n].fd = c->fd;
            pfd[n].events = c->writing ? POLLOUT : POLLIN;
            who[n++] = i;
        }
        timeout = (int)((next - now) / 1000000 + 1);
        rc = poll(pfd, (nfds_t)n, timeout);
        if (rc < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[0].revents != 0) {
            break; /* told to stop */
        }
        for (i = 2; i < n; i++) {
            conn_t *c = &H.conns[who[i]];

            if (pfd[i].revents == 0 || c->fd != pfd[i].fd) {
                continue;
            }
            if (c->writing) {
                conn_write(c);
            }
            else {
                conn_read(c);
                if (c->fd >= 0 && c->writing) {
                    conn_write(c); /* most answers go out at once */
                }
            }
        }
        if (pfd[1].revents & POLLIN) {
            accept_one();
        }
    }
    return NULL;
}

/* Writes the bound address of H.lfd into addr. */
static void
bound_address(char *addr, size_t addrlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";

    if (H.cfg.family == AF_UNIX) {
        snprintf(addr, addrlen, "unix:%s", H.unix_path);
        return;
    }
    if (getsockname(H.lfd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(addr, addrlen, "?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(addr, addrlen, "[%s]:%d", host, ntohs(s6->sin6_port));
    }
    else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(addr, addrlen, "%s:%d", host, ntohs(s4->sin_port));
    }
}

/* A socket file left by a process that is gone (nobody accepts on it):
 * removed, and 1 returned; anything else at path (a live socket, a
 * regular file) is left alone, 0. */
static int
stale_socket(const char *path)
{
    struct sockaddr_un su;
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        return 0;
    }
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    memcpy(su.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    rc = connect(fd, (struct sockaddr *)&su, sizeof(su));
    rc = rc < 0 && errno == ECONNREFUSED;
    close(fd);
    return rc && unlink(path) == 0;
}

static int
open_listener(const sw_http_cfg_t *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (cfg->family == AF_UNIX) {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        size_t n = strlen(cfg->path);

        if (n == 0 || n >= sizeof(su->sun_path)) {
            snprintf(err, errlen,
                     "a unix socket path must have 1 to %zu "
                     "bytes",
                     sizeof(su->sun_path) - 1);
            return SW_EINVAL;
        }
        su->sun_family = AF_UNIX;
        memcpy(su->sun_path, cfg->path, n + 1);
        sl = sizeof(*su);
    }
    else if (cfg->family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, cfg->host, &s6->sin6_addr) != 1) {
            snprintf(err, errlen, "not an IPv6 address: %.64s", cfg->host);
            return SW_EINVAL;
        }
        sl = sizeof(*s6);
    }
    else if (cfg->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, cfg->host, &s4->sin_addr) != 1) {
            snprintf(err, errlen, "not an IPv4 address: %.64s", cfg->host);
            return SW_EINVAL;
        }
        sl = sizeof(*s4);
    }
    else {
        snprintf(err, errlen, "unknown address family %d", cfg->family);
        return SW_EINVAL;
    }
    if (cfg->port < 0 || cfg->port > 65535) {
        snprintf(err, errlen, "port %d is outside 0..65535", cfg->port);
        return SW_EINVAL;
    }
    fd = socket(cfg->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a socket: %s", strerror(errno));
        return SW_ESYS;
    }
    if (cfg->family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (cfg->family == AF_UNIX) {
        /* Created 0600 from the start: no moment where others could
         * connect. */
        mode_t old = umask(0177);
        int rc = bind(fd, (struct sockaddr *)&ss, sl);
        int e = errno;

        if (rc < 0 && e == EADDRINUSE && stale_socket(cfg->path)) {
            rc = bind(fd, (struct sockaddr *)&ss, sl);
            e = errno;
        }
        umask(old);
        if (rc < 0) {
            errno = e;
        }
        if (rc == 0 && chmod(cfg->path, 0600) < 0) {
            rc = -1;
        }
        if (rc < 0) {
            goto fail;
        }
    }
    else if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        goto fail;
    }
    if (listen(fd, 128) < 0) {
        goto fail;
    }
    return fd;
fail : {
    int e = errno;

    if (cfg->family == AF_UNIX) {
        snprintf(err, errlen, "cannot listen on unix:%s: %s", cfg->path,
                 strerror(e));
    }
    else {
        snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s",
                 cfg->family == AF_INET6 ? "[" : "", cfg->host,
                 cfg->family == AF_INET6 ? "]" : "", cfg->port, strerror(e));
    }
    close(fd);
    errno = e;
    return SW_ESYS;
}
}

int
sw_http_start(const sw_http_cfg_t *cfg, char *addr, size_t addrlen, char *err,
              size_t errlen)
{
    sigset_t all, old;
    int rc, i;

    if (atomic_load(&H.running)) {
        snprintf(err, errlen, "the HTTP endpoint is already serving");
        return SW_EBUSY;
    }
    if (cfg->handler == NULL) {
        snprintf(err, errlen, "no handler");
        return SW_EINVAL;
    }
    if (H.conns == NULL) {
        H.conns = calloc(SW_HTTP_MAX_CONNS, sizeof(conn_t));
        if (H.conns == NULL) {
            snprintf(err, errlen, "out of memory");
            return SW_ENOMEM;
        }
    }
    for (i = 0; i < SW_HTTP_MAX_CONNS; i++) {
        H.conns[i].fd = -1;
        sw_buf_init(&H.conns[i].out);
    }
    H.cfg = *cfg;
    rc = open_listener(cfg, err, errlen);
    if (rc < 0) {
        return rc;
    }
    H.lfd = rc;
    snprintf(H.unix_path, sizeof(H.unix_path), "%s",
             cfg->family == AF_UNIX ? cfg->path : "");
    if (pipe2(H.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        rc = SW_ESYS;
        goto fail;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&H.thread, NULL, http_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the HTTP thread: %s",
                 strerror(rc));
        errno = rc;
        rc = SW_ESYS;
        goto fail;
    }
    bound_address(addr, addrlen);
    atomic_store(&H.running, 1);
    return 0;
fail:
    close(H.lfd);
    H.lfd = -1;
    if (H.unix_path[0]) {
        unlink(H.unix_path);
    }
    for (i = 0; i < 2; i++) {
        if (H.wake[i] >= 0) {
            close(H.wake[i]);
            H.wake[i] = -1;
        }
    }
    return rc;
}

/* Closes every socket; with unlink_path, removes the unix socket. */
static void
close_all(int unlink_path)
{
    int i;

    for (i = 0; H.conns != NULL && i < SW_HTTP_MAX_CONNS; i++) {
        conn_close(&H.conns[i]);
    }
    if (H.lfd >= 0) {
        close(H.lfd);
        H.lfd = -1;
    }
    if (unlink_path && H.unix_path[0]) {
        unlink(H.unix_path);
    }
    H.unix_path[0] = '\0';
    for (i = 0; i < 2; i++) {
        if (H.wake[i] >= 0) {
            close(H.wake[i]);
            H.wake[i] = -1;
        }
    }
}

void
sw_http_stop(void)
{
    char byte = 'q';

    if (!atomic_load(&H.running)) {
        return;
    }
    while (write(H.wake[1], &byte, 1) < 0 && errno == EINTR) {
    }
    pthread_join(H.thread, NULL);
    close_all(1);
    atomic_store(&H.running, 0);
}

int
sw_http_running(void)
{
    return atomic_load(&H.running);
}

void
sw_http_get_stats(sw_http_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->accepted = atomic_load_explicit(&H.accepted, memory_order_relaxed);
    st->requests = atomic_load_explicit(&H.requests, memory_order_relaxed);
    st->refused = atomic_load_explicit(&H.refused, memory_order_relaxed);
    st->evicted = atomic_load_explicit(&H.evicted, memory_order_relaxed);
    st->timeouts = atomic_load_explicit(&H.timeouts, memory_order_relaxed);
    st->errors = atomic_load_explicit(&H.errors, memory_order_relaxed);
    st->open = atomic_load_explicit(&H.open, memory_order_relaxed);
}

void
sw_http_atfork_child(void)
{
    int i;

    if (!atomic_load(&H.running)) {
        return;
    }
    /* The buffers may be mid-use by the parent's thread at fork: leak
     * them rather than free what may be inconsistent. */
    for (i = 0; H.conns != NULL && i < SW_HTTP_MAX_CONNS; i++) {
        if (H.conns[i].fd >= 0) {
            close(H.conns[i].fd);
        }
        H.conns[i].fd = -1;
        sw_buf_init(&H.conns[i].out);
    }
    atomic_store(&H.open, 0);
    close_all(0);
    atomic_store(&H.running, 0);
}
