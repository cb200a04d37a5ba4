/* On-demand dumps; see dump.h.
 *
 * Threads and ownership.  The signal handler runs on whatever thread the
 * kernel picks (often the main thread, possibly inside a long C call that
 * holds the GIL); it calls only atomic operations and write(2), preserves
 * errno, and never allocates, locks or touches the Python API.  The dump
 * thread, a native pthread with every signal blocked and no Python thread
 * state, waits on the pipe and answers requests one at a time; it holds no
 * lock while it waits for the GIL side, and it never takes the GIL.
 *
 * Lock order: L.lock (the log's, held while a log snapshot is composed
 * and written), then the code cache (during capture only) or the service
 * channel's own lock (while asking); the cache and the service lock are
 * never held together.  So the GIL side must not take L.lock with the GIL
 * held: sw_dump_log_start/stop are called with it released.
 *
 * Fork.  The child gets a new pipe (an inherited one would be shared with
 * the parent's dump thread) and no dump thread; requests that arrive
 * before the Python layer enables dumps again are dropped.
 *
 * Exit.  The Python layer disables dumps from an atexit handler: the old
 * signal action is restored first, then the thread is told to stop and
 * joined. */
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "compat/layout.h"
#include "dump.h"
#include "ondemand.h"
#include "errors.h"
#include "service.h"
#include "snapshot.h"

#define SLOTS 16
#define SLOT_VALID (1ull << 62)
#define SLOT_QUEUED (1ull << 61)

static struct {
    int signum;
    struct sigaction old;
    _Atomic int pipe_wr; /* read by the handler */
    int pipe_rd;
    _Atomic int stop;
    int running;
    pthread_t thread;
    char dir[96];
    uint64_t gil_wait_ns;
    sw_codecache_t *cache;
    _Atomic uint64_t slots[SLOTS];
    _Atomic uint64_t dropped;
    _Atomic unsigned long holder; /* GIL holder at the last capture */
} D = {.pipe_wr = -1, .pipe_rd = -1};

/* The slow-script log, written by the dump thread.  `lock` is held by the
 * thread while it writes a snapshot and by the GIL side (with the GIL
 * released) while it changes the settings, so the fd is never closed
 * under a write.  Rotation (max_bytes > 0) happens on the dump thread
 * under `lock`: the log is renamed to path.1 and a new file opened at
 * path is dup'ed onto fd, so fd stays the caller's to close. */
static struct {
    pthread_mutex_t lock;
    _Atomic int active;
    int fd;
    uint32_t flags;
    uint64_t interval_ns, gil_wait_ns, start_ns, next_ns, max_bytes;
    char path[4096], backup[4096 + 2];
    _Atomic uint64_t count, errors;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* The thread serving an on-demand profile (at most one: the engine takes
 * one at a time).  Started and reaped by the dump thread; joined by
 * sw_dump_disable after cancelling the profile (exiting set first). */
static struct {
    int running;          /* a thread to join */
    int fd;               /* its client's socket */
    uint64_t interval_ns; /* send the profile so far this often; 0: never */
    pthread_t thread;
    _Atomic int done;    /* the thread is about to end */
    _Atomic int exiting; /* dumps are being disabled */
} P = {.fd = -1};

/* ---- the signal handler (async-signal-safe) --------------------------- */

static void
on_signal(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno, fd, i;
    uint64_t v = SLOT_VALID;
    char byte = 'd';
    (void)sig;
    (void)ctx;

    if (info != NULL) {
        v |= ((uint64_t)(uint32_t)info->si_pid & 0x1FFFFFFFu) << 32;
        if (info->si_code == SI_QUEUE) {
            v |= SLOT_QUEUED | (uint32_t)info->si_value.sival_int;
        }
    }
    for (i = 0; i < SLOTS; i++) {
        uint64_t expect = 0;

        if (atomic_compare_exchange_strong(&D.slots[i], &expect, v)) {
            break;
        }
    }
    if (i == SLOTS) {
        atomic_fetch_add(&D.dropped, 1);
    }
    fd = atomic_load(&D.pipe_wr);
    if (fd >= 0) {
        ssize_t rc = write(fd, &byte, 1);
        (void)rc;
    }
    errno = saved;
}

/* ---- the dump thread ---------------------------------------------------- */

static void
header(sw_buf_t *out)
{
    char cmd[512];
    ssize_t n = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC), i;

    if (fd >= 0) {
        n = read(fd, cmd, sizeof(cmd) - 1);
        close(fd);
    }
    if (n < 0) {
        n = 0;
    }
    cmd[n] = '\0';
    for (i = 0; i + 1 < n; i++) {
        if (cmd[i] == '\0') {
            cmd[i] = ' ';
        }
    }
    sw_buf_printf(out, "Process %d: %s\nPython %s\n\n", (int)getpid(), cmd,
                  sw_layout.version);
}

/* The note written when the GIL side did not answer in time. */
static void
gil_note(const sw_snapshot_t *snap, uint64_t gil_wait_ns, unsigned fmt,
         sw_buf_t *out)
{
    const sw_snap_thread_t *h = sw_snapshot_gil_holder(snap);
    char name[64] = "";

    sw_buf_printf(out, "\nNote: the GIL was not released within %.1f s",
                  gil_wait_ns / 1e9);
    if (h != NULL) {
        if (sw_names_get(h->t.ident, h->tid, name, sizeof(name))) {
            sw_buf_printf(out, "; thread %s (0x%lx) holds the GIL", name,
                          h->t.ident);
        }
        else {
            sw_buf_printf(out, "; thread 0x%lx holds the GIL", h->t.ident);
        }
        if (h->nframes > 0) {
            sw_fmt_frame_t leaf;

            sw_snap_fmt_frame(snap, &snap->frames[h->first], &leaf);
            sw_buf_puts(out, " in ");
            sw_stackfmt_frame(out, &leaf, SW_FMT_LABEL, fmt);
        }
    }
    sw_buf_puts(out, snap->with_locals
                         ? "; greenlets and tasks unavailable, locals of "
                           "simple types only (thread names as last seen)\n"
                         : "; greenlets, tasks and locals unavailable (thread "
                           "names as last seen)\n");
}

/* Builds the answer to a request with the given flags. */
static void
compose(uint32_t flags, uint64_t gil_wait_ns, sw_codecache_t *cache,
        sw_buf_t *out)
{
    const sw_snap_thread_t *holder;
    sw_snapshot_t snap;
    sw_reader_t r;
    sw_buf_t extra;
    unsigned fmt = ((flags & SW_DUMP_SOURCE) ? SW_FMT_SOURCE : 0) |
                   ((flags & SW_DUMP_FULL_PATHS) ? 0 : SW_FMT_SHORT);
    int answered;

    sw_buf_init(&extra);
    if (sw_reader_open(&r) < 0) {
        sw_buf_puts(out, "stackwatch: cannot read the interpreter here\n");
        return;
    }
    /* The stacks first, at once; then, within a bounded wait, what only
     * the GIL side can give (names refreshed, greenlets, locals). */
    /* With --locals, every frame's locals too, read natively: shown only
     * if the GIL side cannot answer with its full safe reprs. */
    sw_snapshot_capture_ex(&snap, &r, cache, 0,
                           (flags & SW_DUMP_LOCALS) ? SW_SNAP_LOCALS : 0);
    sw_reader_close(&r);
    holder = sw_snapshot_gil_holder(&snap);
    atomic_store(&D.holder, holder != NULL ? holder->t.ident : 0);
    answered =
        sw_service_ask(SW_SERVICE_ASK_RUN_INFO, flags, gil_wait_ns, &extra);
    if (flags & SW_DUMP_JSON) {
        sw_buf_printf(out, "{\"pid\": %d, \"python\": ", (int)getpid());
        sw_buf_json_str(out, sw_layout.version);
        sw_buf_puts(out, ", \"gil_answered\": ");
        sw_buf_puts(out, answered ? "true" : "false");
        sw_buf_puts(out, ",\n\"stacks\": ");
        sw_snapshot_format_json(&snap, out);
        sw_buf_puts(out, ",\n\"run_info\": ");
        if (answered && extra.len > 0) {
            sw_buf_put(out, extra.data, extra.len);
        }
        else {
            sw_buf_puts(out, "null");
        }
        sw_buf_puts(out, "}\n");
    }
    else {
        header(out);
        /* Without the GIL side's answer, --locals' locals are the ones
         * read natively, under each frame. */
        sw_snapshot_format_ex(&snap, out,
                              answered ? fmt : fmt | SW_FMT_LOCALS);
        if (answered) {
            if (extra.len > 0) {
                sw_buf_putc(out, '\n');
                sw_buf_put(out, extra.data, extra.len);
            }
        }
        else {
            gil_note(&snap, gil_wait_ns, fmt & SW_FMT_SHORT, out);
        }
    }
    sw_buf_free(&extra);
    sw_snapshot_free(&snap);
}

/* A socket connected to the requester's, or -1. */
static int
connect_requester(pid_t sender, uint32_t value)
{
    struct sockaddr_un addr;
    struct timeval tv = {5, 0};
    int fd, n;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/req-%d-%05x.sock",
                 D.dir, (int)sender, value & SW_DUMP_NONCE_MASK);
    if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the answer to the requester's socket. */
static void
reply_socket(pid_t sender, uint32_t value, const sw_buf_t *text)
{
    int fd = connect_requester(sender, value);

    if (fd >= 0) {
        (void)sw_buf_write_fd(text, fd);
        close(fd);
    }
}

/* ---- on-demand profiles (SW_DUMP_PROFILE) ------------------------------ */

/* Reads one line (up to cap - 1 bytes, newline dropped) within timeout_ms.
 * Returns its length, or -1 (timeout, error, end before a newline). */
static int
read_line(int fd, char *line, size_t cap, int timeout_ms)
{
    uint64_t until = sw_now_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t n = 0;

    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = sw_now_ns();
        ssize_t got;

        if (now >= until ||
            poll(&p, 1, (int)((until - now) / 1000000u) + 1) <= 0) {
            return -1;
        }
        got = read(fd, line + n, 1);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (line[n] == '\n') {
            line[n] = '\0';
            return (int)n;
        }
        n++;
    }
    return -1;
}

static void
put_line(int fd, const char *text)
{
    sw_buf_t b;

    sw_buf_init(&b);
    sw_buf_puts(&b, text);
    (void)sw_buf_write_fd(&b, fd);
    sw_buf_free(&b);
}

/* Serves one started profile on its client's socket: waits for its end
 * (time up, "stop", the client gone, exit), finishes it and sends it. */
static void *
profile_main(void *arg)
{
    int fd = P.fd, gone = 0, stopped = 0;
    uint64_t every = P.interval_ns, next = sw_now_ns() + every, n = 0;
    sw_ondemand_result_t res;
    sw_buf_t part, head;
    (void)arg;

    put_line(fd, "ok\n");
    while (!sw_ondemand_wait(100000000ull)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (every > 0 && sw_now_ns() >= next) {
            /* `stackwatch top`: the profile so far, every interval (the
             * labels' wait kept short: the next one comes soon). */
            sw_buf_init(&part);
            sw_buf_init(&head);
            if (sw_ondemand_snapshot(D.gil_wait_ns < 200000000ull
                                         ? D.gil_wait_ns
                                         : 200000000ull,
                                     &part) == 0) {
                sw_buf_printf(&head, "part %llu %zu\n",
                              (unsigned long long)++n, part.len);
                if (sw_buf_write_fd(&head, fd) < 0 ||
                    sw_buf_write_fd(&part, fd) < 0) {
                    gone = 1;
                }
            }
            sw_buf_free(&part);
            sw_buf_free(&head);
            next += every;
            if (next <= sw_now_ns()) {
                next = sw_now_ns() + every;
            }
            if (gone) {
                stopped = 1;
                sw_ondemand_cancel();
                break;
            }
        }
        if (poll(&p, 1, 0) > 0) {
            char buf[64];
            ssize_t got = read(fd, buf, sizeof(buf));

            if (got <= 0 && !(got < 0 && errno == EINTR)) {
                gone = 1; /* the client went away: nobody to send to */
            }
            stopped = 1;
            sw_ondemand_cancel();
            break;
        }
    }
    sw_buf_init(&part);
    sw_buf_init(&head);
    if (sw_ondemand_finish(&res, gone ? 0 : D.gil_wait_ns, NULL, 0) == 0) {
        if (!gone && sw_ondemand_encode(&res, &part) == 0) {
            const char *why = !res.early                ? "done"
                              : atomic_load(&P.exiting) ? "exit"
                              : stopped                 ? "stopped"
                                                        : "exit";

            sw_buf_printf(&head, "end %s %zu\n", why, part.len);
            if (sw_buf_write_fd(&head, fd) == 0) {
                (void)sw_buf_write_fd(&part, fd);
            }
        }
        sw_session_free(res.session);
    }
    sw_buf_free(&part);
    sw_buf_free(&head);
    close(fd);
    atomic_store(&P.done, 1);
    return NULL;
}

/* Reaps a serving thread that ended (the dump thread, or disable). */
static void
profile_reap(int wait)
{
    if (P.running && (wait || atomic_load(&P.done))) {
        pthread_join(P.thread, NULL);
        P.running = 0;
    }
}

/* Answers an SW_DUMP_PROFILE request: reads its settings, starts the
 * profile and hands the socket to a serving thread. */
static void
profile_request(pid_t sender, uint32_t value)
{
    sw_ondemand_cfg_t cfg;
    char line[160], err[256], msg[300];
    double rate, seconds;
    int fd = connect_requester(sender, value), mode, lines, rc, fields;
    int interval_ms = 0;
    sigset_t all, old;

    if (fd < 0) {
        return;
    }
    if (read_line(fd, line, sizeof(line), 5000) < 0 ||
        (fields = sscanf(line, "profile %lf %lf %d %d %d", &rate, &seconds,
                         &mode, &lines, &interval_ms)) < 4 ||
        !(seconds > 0 && seconds <= 86400) ||
        !(interval_ms >= 0 && interval_ms <= 3600000)) {
        put_line(fd, "error a bad profile request\n");
        close(fd);
        return;
    }
    profile_reap(0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.rate_hz = rate;
    cfg.mode = mode;
    cfg.lines = lines;
    cfg.duration_ns = (int64_t)(seconds * 1e9);
    rc = P.running ? SW_EBUSY : sw_ondemand_start(&cfg, err, sizeof(err));
    if (rc == SW_EBUSY && P.running) {
        snprintf(err, sizeof(err),
                 "busy: another on-demand profile is being taken in process "
                 "%d; try again when it ends",
                 (int)getpid());
    }
    if (rc == 0) {
        P.fd = fd;
        P.interval_ns = fields == 5 ? (uint64_t)interval_ms * 1000000u : 0;
        atomic_store(&P.done, 0);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&P.thread, NULL, profile_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0) {
            P.running = 1;
            return;
        }
        snprintf(err, sizeof(err), "cannot start a thread: %s", strerror(rc));
        {
            sw_ondemand_result_t res;

            if (sw_ondemand_finish(&res, 0, NULL, 0) == 0) {
                sw_session_free(res.session);
            }
        }
    }
    snprintf(msg, sizeof(msg), "error %s\n", err);
    put_line(fd, msg);
    close(fd);
}

static void
handle(uint64_t v)
{
    pid_t sender = (pid_t)((v >> 32) & 0x1FFFFFFFu);
    uint32_t value = (uint32_t)v;
    sw_buf_t text;

    sw_buf_init(&text);
    if ((v & SLOT_QUEUED) && (value & SW_DUMP_PROFILE)) {
        profile_request(sender, value);
    }
    else if (v & SLOT_QUEUED) {
        compose(value & ~SW_DUMP_NONCE_MASK, D.gil_wait_ns, D.cache, &text);
        reply_socket(sender, value, &text);
    }
    else {
        /* A plain kill: write to our own stderr, as faulthandler does. */
        sw_buf_printf(&text, "stackwatch: dump requested by pid %d\n",
                      (int)sender);
        compose(0, D.gil_wait_ns, D.cache, &text);
        (void)sw_buf_write_fd(&text, 2);
    }
    sw_buf_free(&text);
}

/* Makes room for `incoming` more bytes: when the log is not empty and
 * would pass max_bytes, it becomes path.1 (replacing an older one) and
 * a new empty log takes its place on the same fd.  On failure the
 * snapshot goes to the old file and the error is counted.  Caller holds
 * L.lock. */
static void
log_rotate_unlocked(size_t incoming)
{
    struct stat st;
    int fd;

    if (L.max_bytes == 0 || L.path[0] == '\0' || fstat(L.fd, &st) < 0 ||
        st.st_size == 0 || (uint64_t)st.st_size + incoming <= L.max_bytes) {
        return;
    }
    if (rename(L.path, L.backup) < 0) {
        atomic_fetch_add(&L.errors, 1);
        return;
    }
    fd = open(L.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        atomic_fetch_add(&L.errors, 1);
        return;
    }
    if (dup3(fd, L.fd, O_CLOEXEC) < 0) {
        atomic_fetch_add(&L.errors, 1);
    }
    close(fd);
}

/* Writes a log snapshot if one is due; returns the time until the next
 * one in ms (-1: no log). */
static int
log_tick(void)
{
    uint64_t now = sw_now_ns(), left;
    int ms;

    pthread_mutex_lock(&L.lock);
    if (!L.active) {
        pthread_mutex_unlock(&L.lock);
        return -1;
    }
    if (now >= L.next_ns) {
        sw_buf_t text;
        uint64_t n = atomic_fetch_add(&L.count, 1) + 1;

        sw_buf_init(&text);
        sw_buf_printf(&text, "==== stackwatch snapshot %llu at ",
                      (unsigned long long)n);
        sw_buf_put_localtime(&text);
        sw_buf_printf(&text, " (%.3f s after start) ====\n",
                      (now - L.start_ns) / 1e9);
        compose(L.flags, L.gil_wait_ns, D.cache, &text);
        sw_buf_putc(&text, '\n');
        log_rotate_unlocked(text.len);
        if (sw_buf_write_fd(&text, L.fd) < 0) {
            atomic_fetch_add(&L.errors, 1);
        }
        sw_buf_free(&text);
        now = sw_now_ns();
        /* The next one an interval after this one was due; when a
         * snapshot took longer than the interval, skip ahead. */
        L.next_ns += L.interval_ns;
        if (L.next_ns <= now) {
            L.next_ns = now + L.interval_ns;
        }
    }
    left = L.next_ns > now ? L.next_ns - now : 0;
    pthread_mutex_unlock(&L.lock);
    ms = (int)((left + 999999u) / 1000000u);
    return ms;
}

static void *
dump_main(void *arg)
{
    struct pollfd p;
    char sink[64];
    int i;
    (void)arg;

    p.fd = D.pipe_rd;
    p.events = POLLIN;
    while (!atomic_load(&D.stop)) {
        int timeout = log_tick();

        if (atomic_load(&D.stop)) {
            break;
        }
        if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
            break;
        }
        while (read(D.pipe_rd, sink, sizeof(sink)) > 0) {
        }
        if (atomic_load(&D.stop)) {
            break;
        }
        for (i = 0; i < SLOTS; i++) {
            uint64_t v = atomic_exchange(&D.slots[i], 0);

            if (v != 0) {
                handle(v);
            }
        }
    }
    return NULL;
}

static int
open_pipe(char *err, size_t errlen)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return SW_ESYS;
    }
    D.pipe_rd = fds[0];
    atomic_store(&D.pipe_wr, fds[1]);
    return 0;
}

/* Starts the dump thread if it is not running. */
static int
start_thread(char *err, size_t errlen)
{
    sigset_t all, old;
    int rc;

    if (D.running) {
        return 0;
    }
    if (D.pipe_rd < 0 && (rc = open_pipe(err, errlen)) < 0) {
        return rc;
    }
    atomic_store(&D.stop, 0);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&D.thread, NULL, dump_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the dump thread: %s",
                 strerror(rc));
        errno = rc;
        return SW_ESYS;
    }
    D.running = 1;
    return 0;
}

/* Stops the dump thread when neither dumps nor the log need it. */
static void
stop_thread_if_idle(void)
{
    char byte = 'q';

    if (D.running && D.signum == 0 && !atomic_load(&L.active)) {
        ssize_t rc;

        atomic_store(&D.stop, 1);
        rc = write(atomic_load(&D.pipe_wr), &byte, 1);
        (void)rc;
        pthread_join(D.thread, NULL);
        D.running = 0;
    }
}

static void
wake_thread(void)
{
    char byte = 'w';
    ssize_t rc = write(atomic_load(&D.pipe_wr), &byte, 1);

    (void)rc;
}

int
sw_dump_log_start(int fd, uint64_t interval_ns, uint64_t gil_wait_ns,
                  uint32_t flags, const char *path, uint64_t max_bytes,
                  sw_codecache_t *cache, char *err, size_t errlen)
{
    int rc;

    if (interval_ns < 1000000u) {
        snprintf(err, errlen, "the interval must be at least 1 ms");
        return SW_EINVAL;
    }
    if (max_bytes > 0 &&
        (path == NULL || path[0] != '/' || strlen(path) >= sizeof(L.path))) {
        snprintf(err, errlen, "a log with a size cap needs its absolute path");
        return SW_EINVAL;
    }
    if (D.cache == NULL) {
        D.cache = cache;
    }
    pthread_mutex_lock(&L.lock);
    L.fd = fd;
    L.flags = flags;
    L.interval_ns = interval_ns;
    L.gil_wait_ns = gil_wait_ns;
    L.max_bytes = max_bytes;
    L.path[0] = '\0';
    if (max_bytes > 0) {
        snprintf(L.path, sizeof(L.path), "%s", path);
        snprintf(L.backup, sizeof(L.backup), "%s.1", path);
    }
    L.start_ns = sw_now_ns();
    L.next_ns = L.start_ns + interval_ns;
    atomic_store(&L.count, 0);
    atomic_store(&L.errors, 0);
    L.active = 1;
    pthread_mutex_unlock(&L.lock);
    if ((rc = start_thread(err, errlen)) < 0) {
        int saved = errno;

        pthread_mutex_lock(&L.lock);
        L.active = 0;
        L.fd = -1;
        pthread_mutex_unlock(&L.lock);
        errno = saved;
        return rc;
    }
    wake_thread();
    return 0;
}

void
sw_dump_log_stop(uint64_t *count, uint64_t *errors)
{
    pthread_mutex_lock(&L.lock);
    L.active = 0;
    L.fd = -1;
    pthread_mutex_unlock(&L.lock);
    *count = atomic_load(&L.count);
    *errors = atomic_load(&L.errors);
    stop_thread_if_idle();
}

void
sw_dump_compose(uint32_t flags, uint64_t gil_wait_ns, sw_codecache_t *cache,
                sw_buf_t *out)
{
    compose(flags, gil_wait_ns, cache, out);
}

unsigned long
sw_dump_gil_holder(void)
{
    return atomic_load(&D.holder);
}

int
sw_dump_enable(int signum, const char *dir, uint64_t gil_wait_ns,
               sw_codecache_t *cache, char *err, size_t errlen)
{
    struct sigaction sa;
    int rc;

    if (strlen(dir) + 40 >= sizeof(D.dir)) {
        snprintf(err, errlen, "the runtime directory path is too long: %s",
                 dir);
        return SW_EINVAL;
    }
    if (signum <= 0 || signum >= NSIG || signum == SIGKILL ||
        signum == SIGSTOP) {
        snprintf(err, errlen, "cannot use signal %d for dumps", signum);
        return SW_EINVAL;
    }
    if (D.signum != 0 && D.signum != signum) {
        sw_dump_disable();
    }
    snprintf(D.dir, sizeof(D.dir), "%s", dir);
    D.gil_wait_ns = gil_wait_ns;
    D.cache = cache;
    if ((rc = start_thread(err, errlen)) < 0) {
        return rc;
    }
    if (D.signum != signum) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signum, &sa, &D.old) < 0) {
            snprintf(err, errlen, "cannot install a handler for signal %d: %s",
                     signum, strerror(errno));
            return SW_ESYS;
        }
        D.signum = signum;
    }
    return 0;
}

int
sw_dump_disable(void)
{
    if (D.signum != 0) {
        sigaction(D.signum, &D.old, NULL);
        D.signum = 0;
    }
    stop_thread_if_idle();
    if (!D.running && P.running) {
        /* A profile being served: it ends now and is sent (the client
         * is told the target is exiting), then its thread is joined.
         * The dump thread, which reaps it otherwise, is gone. */
        atomic_store(&P.exiting, 1);
        sw_ondemand_cancel();
        profile_reap(1);
        atomic_store(&P.exiting, 0);
    }
    return 0;
}

int
sw_dump_signal(void)
{
    return D.signum;
}

void
sw_dump_atfork_prepare(void)
{
}

void
sw_dump_atfork_parent(void)
{
}

void
sw_dump_atfork_child(void)
{
    int fds[2], old_rd = D.pipe_rd, old_wr = atomic_load(&D.pipe_wr);

    /* No dump thread here.  Give the handler a pipe of our own that
     * nobody reads until dumps are enabled again, so the parent's thread
     * never sees this process's requests. */
    D.running = 0;
    /* The parent's on-demand profile is not the child's: its socket is
     * closed here (the client must see the parent's end of it only). */
    if (P.running && P.fd >= 0) {
        close(P.fd);
    }
    P.running = 0;
    P.fd = -1;
    /* The log is the parent's: the child does not write to it. */
    pthread_mutex_init(&L.lock, NULL);
    L.active = 0;
    L.fd = -1;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        D.pipe_rd = fds[0];
        atomic_store(&D.pipe_wr, fds[1]);
    }
    else {
        D.pipe_rd = -1;
        atomic_store(&D.pipe_wr, -1);
    }
    if (old_rd >= 0) {
        close(old_rd);
    }
    if (old_wr >= 0) {
        close(old_wr);
    }
    for (int i = 0; i < SLOTS; i++) {
        atomic_store(&D.slots[i], 0);
    }
}
