/* The watchdog; see watchdog.h for the design.
 *
 * Lock order: W.mu, then (inside the greenlet readers) nothing.  The
 * monitor thread drops W.mu before it reads stacks (which takes the code
 * cache lock), writes reports or asks the GIL side. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "greenlet_read.h"
#include "service.h"
#include "snapshot.h"
#include "watchdog.h"

#define MAX_WATCHES 256
#define MAX_EVENTS 256
#define MAX_TODO 32
#define NAME_LEN 128
#define UPDATE_MAX_NS (60 * 1000000000ull)
#define IDLE_SLEEP_NS (1000000000ull)
#define POLL_MIN_NS (1000000ull)
#define POLL_MAX_NS (10000000ull)

typedef struct watch {
    _Atomic uint64_t id; /* 0: free; else (serial << 8) | slot */
    int kind;
    uintptr_t tstate;
    uint64_t tstate_id;
    unsigned long ident;
    long tid;
    uint32_t hub;
    char name[NAME_LEN];
    uint64_t threshold_ns;
    uint64_t since_ns;        /* deadline: entered; hub: count first seen */
    _Atomic uint64_t beat_ns; /* loop: when it last entered or left its
                                 selector */
    _Atomic int in_select;    /* loop: waiting for I/O */
    uint64_t last_beat, switches;
    int stalled, stalls, dormant, removed;
    uint64_t stall_start_ns, next_update_ns, update_step_ns, end_ns;
} watch_t;

/* What the monitor thread does after dropping the lock. */
enum { TODO_START = 1, TODO_UPDATE = 2, TODO_END = 3 };

typedef struct todo {
    int what;
    watch_t w; /* a copy */
    uint64_t duration_ns;
    uint32_t greenlet;
} todo_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;  /* the monitor thread's sleep */
    pthread_cond_t ready; /* events for sw_wd_take */
    int running, stop, interrupted;
    pthread_t thread;
    sw_wd_settings_t set;
    sw_codecache_t *cache;
    watch_t watches[MAX_WATCHES];
    uint64_t serial;
    sw_wd_event_t events[MAX_EVENTS];
    int ev_head, ev_len;
    /* memory */
    uint64_t next_mem_ns, mem_peak;
    int mem_over;
    sw_wd_stats_t stats;
    /* Report descriptors replaced while the monitor thread may be
     * writing to them: it closes them at its next pass. */
    int retired[8];
    int nretired;
    /* CPU time of the monitor threads that ran before this one; the
     * running thread adds its own at each pass (stats.cpu_ns). */
    uint64_t cpu_base;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .set = {.report_fd = -1}};

static pthread_once_t conds_once = PTHREAD_ONCE_INIT;

/* The monitor thread's copy of the settings, taken under the lock at
 * each pass, read while it works without the lock. */
static sw_wd_settings_t cur_set;

static void
init_conds(void)
{
    sw_cond_init_monotonic(&W.wake);
    sw_cond_init_monotonic(&W.ready);
}

static char *
dupstr(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s ? s : "", n + 1);
    }
    return p;
}

void
sw_wd_event_free(sw_wd_event_t *e)
{
    free(e->name);
    free(e->report);
    free(e->stack);
    free(e->label);
    memset(e, 0, sizeof(*e));
}

/* Queues an event (takes ownership of its strings).  Lock held. */
static void
push_event_locked(sw_wd_event_t *e)
{
    if (W.ev_len == MAX_EVENTS) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
        W.stats.events_dropped++;
    }
    W.events[(W.ev_head + W.ev_len) % MAX_EVENTS] = *e;
    W.ev_len++;
    pthread_cond_broadcast(&W.ready);
}

static void
push_event(sw_wd_event_t *e)
{
    pthread_mutex_lock(&W.mu);
    push_event_locked(e);
    pthread_mutex_unlock(&W.mu);
}

/* ---- output ------------------------------------------------------------- */

static void
emit(int fd, const sw_buf_t *text)
{
    (void)sw_buf_write_fd(text, fd);
}

/* What the watch is, for a report line: 'gevent hub "x"', ... */
static void
put_what(sw_buf_t *out, const watch_t *w)
{
    switch (w->kind) {
    case SW_WD_HUB:
        sw_buf_printf(out, "gevent hub%s%s", w->name[0] ? " " : "", w->name);
        break;
    case SW_WD_LOOP:
        sw_buf_printf(out, "asyncio loop%s%s", w->name[0] ? " " : "", w->name);
        break;
    default:
        sw_buf_printf(out, "deadline \"%s\"", w->name);
        break;
    }
}

/* Starts a report line in out (initialised here): the time and the
 * watch. */
static void
put_header(sw_buf_t *out, const watch_t *w)
{
    sw_buf_init(out);
    sw_buf_puts(out, "[stackwatch ");
    sw_buf_put_localtime(out);
    sw_buf_puts(out, "] ");
    put_what(out, w);
}

static void
put_thread(sw_buf_t *out, const watch_t *w)
{
    char name[96];

    if (sw_names_get(w->ident, w->tid, name, sizeof(name))) {
        sw_buf_printf(out, "thread \"%s\"", name);
    }
    else {
        sw_buf_printf(out, "thread 0x%lx", w->ident);
    }
    if (w->tid > 0) {
        sw_buf_printf(out, " (tid %ld)", w->tid);
    }
}

/* The frame after the asyncio machinery (Handle._run) toward the leaf:
 * the outermost coroutine of the running task.  -1 if none. */
static int
task_frame(const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    uint32_t k;

    for (k = t->nframes; k-- > 1;) {
        const sw_snap_frame_t *f = &snap->frames[t->first + k];
        const char *n = sw_snap_str(snap, f->name);

        if ((strcmp(n, "_run") == 0 || strcmp(n, "Handle._run") == 0) &&
            strstr(sw_snap_str(snap, f->file), "asyncio") != NULL) {
            return (int)(k - 1);
        }
    }
    return -1;
}

/* Whether the thread is inside an asyncio loop's run_forever. */
static int
in_loop(const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    uint32_t k;

    for (k = 0; k < t->nframes; k++) {
        const sw_snap_frame_t *f = &snap->frames[t->first + k];
        const char *n = sw_snap_str(snap, f->name);

        if ((strcmp(n, "run_forever") == 0 ||
             strcmp(n, "BaseEventLoop.run_forever") == 0) &&
            strstr(sw_snap_str(snap, f->file), "asyncio") != NULL) {
            return 1;
        }
    }
    return 0;
}

static void
put_frame(sw_buf_t *out, const sw_snapshot_t *snap, const sw_snap_frame_t *f)
{
    if (f->line >= 0) {
        sw_buf_printf(out, "%s (%s:%d)", sw_snap_str(snap, f->name),
                      sw_snap_str(snap, f->file), f->line);
    }
    else {
        sw_buf_printf(out, "%s (%s)", sw_snap_str(snap, f->name),
                      sw_snap_str(snap, f->file));
    }
}

/* Whether a frame is stackwatch's own (a wrapper around user code). */
static int
hidden(const sw_snapshot_t *snap, const sw_snap_frame_t *f)
{
    size_t n = strlen(cur_set.hide);

    return n > 0 && strncmp(sw_snap_str(snap, f->file), cur_set.hide, n) == 0;
}

/* The stack, root first, as Python prints tracebacks. */
static void
put_stack(sw_buf_t *out, const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    uint32_t k;

    sw_buf_puts(out, "  Stack (most recent call last):\n");
    if (t->truncated) {
        sw_buf_puts(out, "    ... (outer frames not shown)\n");
    }
    for (k = t->nframes; k-- > 0;) {
        const sw_snap_frame_t *f = &snap->frames[t->first + k];

        if (hidden(snap, f)) {
            continue;
        }
        if (f->line >= 0) {
            sw_buf_printf(out, "    File \"%s\", line %d, in %s\n",
                          sw_snap_str(snap, f->file), f->line,
                          sw_snap_str(snap, f->name));
        }
        else {
            sw_buf_printf(out, "    File \"%s\", in %s\n",
                          sw_snap_str(snap, f->file),
                          sw_snap_str(snap, f->name));
        }
    }
    if (t->nframes == 0) {
        sw_buf_puts(out, "    (no Python frames)\n");
    }
}

static char *
stack_data(const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    sw_buf_t b;
    uint32_t k;
    char *s;

    sw_buf_init(&b);
    for (k = 0; k < t->nframes; k++) {
        const sw_snap_frame_t *f = &snap->frames[t->first + k];

        if (hidden(snap, f)) {
            continue;
        }
        sw_buf_printf(&b, "%s\t%s\t%d\n", sw_snap_str(snap, f->name),
                      sw_snap_str(snap, f->file), f->line);
    }
    s = dupstr(b.data && sw_buf_ok(&b) ? b.data : "");
    sw_buf_free(&b);
    return s;
}

/* A name from the GIL side, within the wait, when the thread does not
 * hold the GIL (otherwise the answer could not come in time). */
static void
ask_label(const todo_t *td, int holds_gil, int slot, char *out, size_t cap)
{
    sw_buf_t reply;
    uint32_t kind = 0, flags = 0;

    out[0] = '\0';
    if (holds_gil || cur_set.name_wait_ns == 0 || !sw_service_alive()) {
        return;
    }
    if (td->w.kind == SW_WD_HUB && td->greenlet != 0) {
        kind = SW_WD_ASK_GREENLET;
        flags = td->greenlet;
    }
    else if (td->w.kind == SW_WD_LOOP) {
        kind = SW_WD_ASK_TASK;
        flags = (uint32_t)slot;
    }
    else {
        return;
    }
    sw_buf_init(&reply);
    if (sw_service_ask(kind, flags, cur_set.name_wait_ns, &reply) &&
        reply.data != NULL && sw_buf_ok(&reply)) {
        snprintf(out, cap, "%.*s", (int)reply.len, reply.data);
    }
    sw_buf_free(&reply);
}

/* Reads the stack and writes the report of a stall that starts or goes
 * on.  Returns 0, or 1 if the stall is not one (a loop not running). */
static int
report_stall(const todo_t *td, int fd)
{
    sw_snapshot_t snap;
    sw_reader_t r;
    sw_buf_t out;
    sw_wd_event_t ev;
    const sw_snap_thread_t *t = NULL;
    const watch_t *w = &td->w;
    char label[160] = "";
    double dur = td->duration_ns / 1e9;
    int tf = -1;

    memset(&snap, 0, sizeof(snap));
    if (sw_reader_open(&r) == 0) {
        sw_snapshot_capture(&snap, &r, W.cache, w->tstate_id);
        sw_reader_close(&r);
    }
    for (uint32_t i = 0; i < snap.nthreads; i++) {
        if (snap.threads[i].t.id == w->tstate_id) {
            t = &snap.threads[i];
        }
    }
    if (t == NULL && td->what == TODO_START && w->kind == SW_WD_LOOP) {
        sw_snapshot_free(&snap);
        return 1; /* the thread is gone */
    }
    if (t != NULL && w->kind == SW_WD_LOOP && !in_loop(&snap, t)) {
        sw_snapshot_free(&snap);
        return 1; /* the loop is not running: it cannot poll */
    }
    if (t != NULL && w->kind == SW_WD_LOOP) {
        tf = task_frame(&snap, t);
    }
    if (td->what == TODO_START) {
        ask_label(td, t ? t->t.holds_gil : 0, (int)(w->id & 0xFF), label,
                  sizeof(label));
    }

    put_header(&out, w);
    if (td->what == TODO_START) {
        if (w->kind == SW_WD_DEADLINE) {
            sw_buf_printf(&out,
                          " exceeded (limit %.3f s): still running "
                          "after %.3f s in ",
                          w->threshold_ns / 1e9, dur);
        }
        else {
            sw_buf_printf(&out, " blocked for %.3f s (threshold %.3f s) in ",
                          dur, w->threshold_ns / 1e9);
        }
        put_thread(&out, w);
        sw_buf_putc(&out, '\n');
        if (w->kind == SW_WD_HUB) {
            sw_buf_printf(&out, "  running greenlet #%u", td->greenlet);
            if (label[0]) {
                sw_buf_printf(&out, ": %s", label);
            }
            sw_buf_puts(&out, "\n");
        }
        else if (w->kind == SW_WD_LOOP) {
            if (label[0]) {
                sw_buf_printf(&out, "  running task %s\n", label);
            }
            else if (tf >= 0) {
                sw_buf_puts(&out, "  running the task of coroutine ");
                put_frame(&out, &snap, &snap.frames[t->first + (uint32_t)tf]);
                sw_buf_putc(&out, '\n');
            }
        }
        if (t == NULL) {
            sw_buf_puts(&out, "  (the thread's stack could not be read)\n");
        }
        else {
            sw_buf_puts(&out, t->t.holds_gil
                                  ? "  The thread holds the GIL.\n"
                                  : "  The thread does not hold the GIL.\n");
            put_stack(&out, &snap, t);
        }
    }
    else {
        sw_buf_printf(&out, " still %s after %.3f s",
                      w->kind == SW_WD_DEADLINE ? "running" : "blocked", dur);
        if (t != NULL && t->nframes > 0) {
            sw_buf_puts(&out, ", in ");
            put_frame(&out, &snap, &snap.frames[t->first]);
        }
        sw_buf_putc(&out, '\n');
    }
    emit(fd, &out);

    if (td->what == TODO_START) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = w->kind == SW_WD_DEADLINE ? SW_WDE_DEADLINE : SW_WDE_BLOCKED;
        ev.watch_kind = w->kind;
        ev.watch_id = w->id;
        ev.name = dupstr(w->name);
        ev.report = dupstr(out.data && sw_buf_ok(&out) ? out.data : "");
        ev.stack = t ? stack_data(&snap, t) : dupstr("");
        if (!label[0] && tf >= 0) {
            snprintf(
                label, sizeof(label), "coroutine %s",
                sw_snap_str(&snap, snap.frames[t->first + (uint32_t)tf].name));
        }
        ev.label = dupstr(label);
        ev.ident = w->ident;
        ev.tid = w->tid;
        ev.greenlet = td->greenlet;
        ev.holds_gil = t ? t->t.holds_gil : 0;
        ev.duration = dur;
        ev.threshold = w->threshold_ns / 1e9;
        push_event(&ev);
    }
    sw_buf_free(&out);
    sw_snapshot_free(&snap);
    return 0;
}

static void
report_end(const todo_t *td, int fd)
{
    const watch_t *w = &td->w;
    sw_wd_event_t ev;
    sw_buf_t out;
    double dur = td->duration_ns / 1e9;

    put_header(&out, w);
    if (w->kind == SW_WD_DEADLINE) {
        sw_buf_printf(&out, " finished after %.3f s (limit %.3f s)", dur,
                      w->threshold_ns / 1e9);
    }
    else {
        sw_buf_printf(&out, " unblocked after %.3f s", dur);
    }
    sw_buf_puts(&out, " in ");
    put_thread(&out, w);
    sw_buf_putc(&out, '\n');
    emit(fd, &out);

    memset(&ev, 0, sizeof(ev));
    ev.kind =
        w->kind == SW_WD_DEADLINE ? SW_WDE_DEADLINE_END : SW_WDE_UNBLOCKED;
    ev.watch_kind = w->kind;
    ev.watch_id = w->id;
    ev.name = dupstr(w->name);
    ev.report = dupstr(out.data && sw_buf_ok(&out) ? out.data : "");
    ev.stack = dupstr("");
    ev.label = dupstr("");
    ev.ident = w->ident;
    ev.tid = w->tid;
    ev.duration = dur;
    ev.threshold = w->threshold_ns / 1e9;
    push_event(&ev);
    sw_buf_free(&out);
}

/* ---- memory ------------------------------------------------------------ */

static int
read_statm(uint64_t mem[5])
{
    char buf[256];
    unsigned long long v[7] = {0};
    long page = sysconf(_SC_PAGESIZE);
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6]) < 6) {
        return -1;
    }
    /* statm: size resident shared text lib data dt */
    mem[0] = v[1] * (uint64_t)page; /* rss */
    mem[1] = v[0] * (uint64_t)page; /* vms */
    mem[2] = v[2] * (uint64_t)page; /* shared */
    mem[3] = v[3] * (uint64_t)page; /* text */
    mem[4] = v[5] * (uint64_t)page; /* data */
    return 0;
}

/* Lock held. */
static void
check_memory_locked(uint64_t now)
{
    uint64_t mem[5];
    sw_wd_event_t ev;

    if (W.set.mem_period_ns == 0 || now < W.next_mem_ns) {
        return;
    }
    W.next_mem_ns = now + W.set.mem_period_ns;
    if (W.set.mem_max == 0 || read_statm(mem) < 0) {
        return;
    }
    if (mem[0] > W.mem_peak) {
        W.mem_peak = mem[0];
    }
    memset(&ev, 0, sizeof(ev));
    if (!W.mem_over && mem[0] > W.set.mem_max) {
        W.mem_over = 1;
        W.mem_peak = mem[0];
        ev.kind = SW_WDE_MEM_OVER;
    }
    else if (W.mem_over && mem[0] <= W.set.mem_max) {
        W.mem_over = 0;
        ev.kind = SW_WDE_MEM_UNDER;
    }
    else {
        return;
    }
    memcpy(ev.mem, mem, sizeof(mem));
    ev.mem_max = W.set.mem_max;
    ev.mem_peak = W.mem_peak;
    ev.name = dupstr("");
    ev.report = dupstr("");
    ev.stack = dupstr("");
    ev.label = dupstr("");
    push_event_locked(&ev);
}

/* ---- the monitor thread ----------------------------------------------- */

static uint64_t
poll_ns(uint64_t threshold_ns)
{
    uint64_t p = threshold_ns / 20;

    return p < POLL_MIN_NS ? POLL_MIN_NS : p > POLL_MAX_NS ? POLL_MAX_NS : p;
}

static void
start_stall(watch_t *w, uint64_t now, uint64_t since, todo_t *td)
{
    w->stalled = 1;
    w->stalls++;
    w->stall_start_ns = since;
    w->update_step_ns = W.set.update_ns;
    w->next_update_ns = now + w->update_step_ns;
    td->what = TODO_START;
    td->duration_ns = now - since;
}

/* Checks one watch; fills td when there is something to report.
 * Returns the time by which it wants to be checked again. */
static uint64_t
check_watch(watch_t *w, uint64_t now, todo_t *td)
{
    uint64_t next = now + IDLE_SLEEP_NS;

    td->what = 0;
    if (w->kind == SW_WD_HUB) {
        uint64_t sw = sw_greenlet_switches(w->tstate, w->tstate_id);
        uint32_t cur = sw_greenlet_current(w->tstate, w->tstate_id);

        if (sw != w->switches) {
            w->switches = sw;
            w->since_ns = now;
            if (w->stalled) {
                w->stalled = 0;
                td->what = TODO_END;
                td->duration_ns = now - w->stall_start_ns;
            }
        }
        else if (!w->stalled && cur != 0 && cur != w->hub &&
                 now - w->since_ns >= w->threshold_ns) {
            start_stall(w, now, w->since_ns, td);
            td->greenlet = cur;
        }
        next = now + poll_ns(w->threshold_ns);
        if (!w->stalled && cur != 0 && cur != w->hub &&
            w->since_ns + w->threshold_ns > now &&
            w->since_ns + w->threshold_ns < next) {
            next = w->since_ns + w->threshold_ns; /* no later than due */
        }
    }
    else if (w->kind == SW_WD_LOOP) {
        /* The loop marks when it enters and leaves its selector
         * (sw_wd_select); it is blocked when it has been out of the
         * selector for the threshold. */
        uint64_t b = atomic_load_explicit(&w->beat_ns, memory_order_acquire);
        int idle = atomic_load_explicit(&w->in_select, memory_order_relaxed);

        if (b != w->last_beat) {
            w->last_beat = b;
            w->dormant = 0;
            if (w->stalled) {
                w->stalled = 0;
                td->what = TODO_END;
                td->duration_ns = b - w->stall_start_ns;
            }
        }
        else if (!idle && !w->stalled && !w->dormant &&
                 now - b >= w->threshold_ns) {
            start_stall(w, now, b, td);
        }
        next = now + poll_ns(w->threshold_ns);
        if (!idle && !w->stalled && b + w->threshold_ns > now &&
            b + w->threshold_ns < next) {
            next = b + w->threshold_ns;
        }
    }
    else {
        uint64_t at = w->since_ns + w->threshold_ns;

        if (w->removed) {
            if (w->stalled) {
                w->stalled = 0;
                td->what = TODO_END;
                td->duration_ns = w->end_ns - w->since_ns;
            }
            return next;
        }
        if (!w->stalled) {
            if (now >= at) {
                start_stall(w, now, w->since_ns, td);
            }
            else {
                next = at;
            }
        }
    }
    if (w->stalled && td->what == 0 && now >= w->next_update_ns) {
        td->what = TODO_UPDATE;
        td->duration_ns = now - w->stall_start_ns;
        w->update_step_ns *= 2;
        if (w->update_step_ns > UPDATE_MAX_NS) {
            w->update_step_ns = UPDATE_MAX_NS;
        }
        w->next_update_ns = now + w->update_step_ns;
    }
    if (w->stalled && w->next_update_ns < next) {
        next = w->next_update_ns;
    }
    return next;
}

static void
free_slot_locked(watch_t *w)
{
    atomic_store(&w->id, 0);
    w->kind = 0;
}

static void *
wd_main(void *arg)
{
    todo_t todo[MAX_TODO];
    (void)arg;

    pthread_mutex_lock(&W.mu);
    for (;;) {
        uint64_t now = sw_now_ns(), next = now + IDLE_SLEEP_NS;
        int ntodo = 0, fd, i;
        /* Once told to stop, one last pass writes the end lines of stalls
         * that ended meanwhile (a deadline block that just finished, a hub
         * that switched), and nothing new. */
        int last = W.stop;

        W.stats.polls++;
        W.stats.cpu_ns = W.cpu_base + sw_self_cpu_ns();
        while (W.nretired > 0) {
            close(W.retired[--W.nretired]);
        }
        for (i = 0; i < MAX_WATCHES; i++) {
            watch_t *w = &W.watches[i];
            uint64_t at;

            if (atomic_load(&w->id) == 0) {
                continue;
            }
            if (ntodo == MAX_TODO) {
                next = now; /* more next time round */
                break;
            }
            at = check_watch(w, now, &todo[ntodo]);
            if (at < next) {
                next = at;
            }
            if (todo[ntodo].what != 0) {
                todo[ntodo].w = *w;
                ntodo++;
            }
            if (w->removed && !w->stalled) {
                free_slot_locked(w);
            }
        }
        check_memory_locked(now);
        if (W.set.mem_period_ns != 0 && W.next_mem_ns < next) {
            next = W.next_mem_ns;
        }
        fd = W.set.report_fd;
        cur_set = W.set;
        if (ntodo > 0) {
            pthread_mutex_unlock(&W.mu);
            for (i = 0; i < ntodo; i++) {
                if (todo[i].what == TODO_END) {
                    report_end(&todo[i], fd);
                }
                else if (last) {
                    continue;
                }
                else if (report_stall(&todo[i], fd) == 1) {
                    /* Not a stall after all: a loop that stopped. */
                    watch_t *w = &W.watches[todo[i].w.id & 0xFF];

                    pthread_mutex_lock(&W.mu);
                    if (atomic_load(&w->id) == todo[i].w.id) {
                        w->stalled = 0;
                        w->stalls--;
                        w->dormant = 1;
                    }
                    pthread_mutex_unlock(&W.mu);
                    continue;
                }
                pthread_mutex_lock(&W.mu);
                W.stats.reports++;
                pthread_mutex_unlock(&W.mu);
            }
            pthread_mutex_lock(&W.mu);
            if (last) {
                break;
            }
            continue;
        }
        if (last) {
            break;
        }
        if (!W.stop) {
            struct timespec ts = sw_timespec(next);

            pthread_cond_timedwait(&W.wake, &W.mu, &ts);
        }
    }
    W.cpu_base += sw_self_cpu_ns();
    W.stats.cpu_ns = W.cpu_base;
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

/* ---- the API ----------------------------------------------------------- */

int
sw_wd_start(const sw_wd_settings_t *s, sw_codecache_t *cache, char *err,
            size_t errlen)
{
    int fd = -1, rc = 0;

    pthread_once(&conds_once, init_conds);
    if (s->report_fd >= 0) {
        fd = fcntl(s->report_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            snprintf(err, errlen, "cannot use descriptor %d for reports: %s",
                     s->report_fd, strerror(errno));
            return -1;
        }
    }
    pthread_mutex_lock(&W.mu);
    if (W.set.report_fd >= 0) {
        if (W.running && W.nretired < 8) {
            W.retired[W.nretired++] = W.set.report_fd;
        }
        else if (!W.running) {
            close(W.set.report_fd);
        }
        /* else: more than 8 reconfigurations within one pass; leak one
         * descriptor rather than close one that may be in use. */
    }
    if (s->mem_max != W.set.mem_max) {
        W.mem_over = 0;
        W.mem_peak = 0;
    }
    W.set = *s;
    W.set.report_fd = fd;
    W.next_mem_ns = 0;
    W.cache = cache;
    if (!W.running) {
        sigset_t all, old;

        W.stop = 0;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&W.thread, NULL, wd_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the monitor thread: %s",
                     strerror(rc));
        }
        else {
            W.running = 1;
        }
    }
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    return rc == 0 ? 0 : -1;
}

void
sw_wd_stop(void)
{
    pthread_mutex_lock(&W.mu);
    if (!W.running) {
        pthread_mutex_unlock(&W.mu);
        return;
    }
    W.stop = 1;
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    pthread_mutex_lock(&W.mu);
    W.running = 0;
    if (W.set.report_fd >= 0) {
        close(W.set.report_fd);
        W.set.report_fd = -1;
    }
    while (W.nretired > 0) {
        close(W.retired[--W.nretired]);
    }
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_clear(void)
{
    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        free_slot_locked(&W.watches[i]);
    }
    while (W.ev_len > 0) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
}

uint64_t
sw_wd_add(int kind, uintptr_t tstate, uint64_t tstate_id, unsigned long ident,
          long tid, uint32_t hub, uint64_t threshold_ns, const char *name)
{
    uint64_t id = 0, now = sw_now_ns();

    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        watch_t *w = &W.watches[i];

        if (atomic_load(&w->id) != 0) {
            continue;
        }
        memset((char *)w + sizeof(w->id), 0, sizeof(*w) - sizeof(w->id));
        w->kind = kind;
        w->tstate = tstate;
        w->tstate_id = tstate_id;
        w->ident = ident;
        w->tid = tid;
        w->hub = hub;
        snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
        w->threshold_ns = threshold_ns;
        w->since_ns = now;
        w->switches =
            kind == SW_WD_HUB ? sw_greenlet_switches(tstate, tstate_id) : 0;
        atomic_store(&w->beat_ns, now);
        w->last_beat = now;
        id = (++W.serial << 8) | (uint64_t)i;
        atomic_store(&w->id, id);
        break;
    }
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    return id;
}

int
sw_wd_set_threshold(uint64_t id, uint64_t threshold_ns)
{
    int rc = -1;
    watch_t *w = &W.watches[id & 0xFF];

    pthread_mutex_lock(&W.mu);
    if (id != 0 && atomic_load(&w->id) == id && !w->removed) {
        w->threshold_ns = threshold_ns;
        rc = 0;
        pthread_cond_signal(&W.wake);
    }
    pthread_mutex_unlock(&W.mu);
    return rc;
}

int
sw_wd_remove(uint64_t id)
{
    int rc = -1;
    watch_t *w = &W.watches[id & 0xFF];

    pthread_mutex_lock(&W.mu);
    if (id != 0 && atomic_load(&w->id) == id && !w->removed) {
        rc = w->stalls;
        if (w->stalled && W.running) {
            /* The monitor writes the final line, then frees it. */
            w->removed = 1;
            w->end_ns = sw_now_ns();
            pthread_cond_signal(&W.wake);
        }
        else {
            free_slot_locked(w);
        }
    }
    pthread_mutex_unlock(&W.mu);
    return rc;
}

void
sw_wd_select(uint64_t id, int entering)
{
    watch_t *w = &W.watches[id & 0xFF];

    if (atomic_load_explicit(&w->id, memory_order_relaxed) == id) {
        atomic_store_explicit(&w->in_select, entering, memory_order_relaxed);
        atomic_store_explicit(&w->beat_ns, sw_now_ns(), memory_order_release);
    }
}

int
sw_wd_take(sw_wd_event_t *out, int cap, uint64_t timeout_ns)
{
    struct timespec ts = sw_timespec(sw_now_ns() + timeout_ns);
    int n = 0;

    pthread_once(&conds_once, init_conds);
    pthread_mutex_lock(&W.mu);
    while (W.ev_len == 0 && !W.interrupted) {
        if (pthread_cond_timedwait(&W.ready, &W.mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    W.interrupted = 0;
    while (n < cap && W.ev_len > 0) {
        out[n++] = W.events[W.ev_head];
        memset(&W.events[W.ev_head], 0, sizeof(W.events[0]));
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
    return n;
}

void
sw_wd_interrupt(void)
{
    pthread_once(&conds_once, init_conds);
    pthread_mutex_lock(&W.mu);
    W.interrupted = 1;
    pthread_cond_broadcast(&W.ready);
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_get_stats(sw_wd_stats_t *st)
{
    pthread_mutex_lock(&W.mu);
    *st = W.stats;
    st->watches = 0;
    for (int i = 0; i < MAX_WATCHES; i++) {
        st->watches += atomic_load(&W.watches[i].id) != 0;
    }
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_atfork_prepare(void)
{
    pthread_mutex_lock(&W.mu);
}

void
sw_wd_atfork_parent(void)
{
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_atfork_child(void)
{
    pthread_mutex_init(&W.mu, NULL);
    sw_cond_init_monotonic(&W.wake);
    sw_cond_init_monotonic(&W.ready);
    W.running = 0;
    W.stop = 0;
    W.interrupted = 0;
    memset(&W.stats, 0, sizeof(W.stats));
    W.cpu_base = 0;
}

void
sw_wd_after_fork_child(uintptr_t tstate, uint64_t tstate_id)
{
    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        watch_t *w = &W.watches[i];

        if (atomic_load(&w->id) != 0 &&
            (w->tstate != tstate || w->tstate_id != tstate_id)) {
            free_slot_locked(w);
        }
        else if (atomic_load(&w->id) != 0) {
            w->tid = (long)gettid();
            w->stalled = 0;
        }
    }
    while (W.ev_len > 0) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
}
