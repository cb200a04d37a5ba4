/* Unit tests of the watchdog's pure parts, with a fake clock: the timing
 * decisions (wd_timing.c: stalls, updates, ends, polling, memory
 * crossings), the report text and the stack handed to Python
 * (wd_report.c), and the statm parser (procmem.c).  The monitor thread
 * itself is tested in real time from Python (tests/test_monitor.py).
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Icsrc -Itests/c tests/c/test_watchdog.c
 *        csrc/wd_timing.c csrc/wd_report.c csrc/procmem.c csrc/stackfmt.c
 *        csrc/buf.c; run with no argument to list the tests, with a name
 *        to run one. */
#include <string.h>

#include "errors.h"
#include "procmem.h"
#include "runner.h"
#include "watchdog.h"
#include "wd_report.h"
#include "wd_timing.h"

#define MS (1000000ull)
#define S (1000000000ull)
#define T0 (1000 * S) /* the fake clock's start */

/* ---- timing ------------------------------------------------------------ */

static void
new_watch(sw_wd_watch_t *w, int kind, uint64_t threshold_ns)
{
    memset(w, 0, sizeof(*w));
    atomic_store(&w->id, (1u << 8) | 3u);
    w->kind = kind;
    w->threshold_ns = threshold_ns;
    w->since_ns = T0;
    atomic_store(&w->beat_ns, T0);
    w->last_beat = T0;
}

static const sw_wd_hub_seen_t no_hub = {0, 0};

TEST(poll_interval_is_a_twentieth_of_the_threshold_within_1_to_10_ms)
{
    ASSERT_EQ(sw_wd_poll_ns(100 * MS), 5 * MS);
    ASSERT_EQ(sw_wd_poll_ns(10 * MS), 1 * MS); /* 0.5 ms, raised */
    ASSERT_EQ(sw_wd_poll_ns(10 * S), 10 * MS); /* 500 ms, lowered */
    ASSERT_EQ(sw_wd_poll_ns(0), 1 * MS);
}

TEST(deadline_fires_at_its_limit_and_not_before)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    uint64_t next;

    new_watch(&w, SW_WD_DEADLINE, 500 * MS);
    next = sw_wd_check(&w, T0 + 499 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(next, T0 + 500 * MS); /* wakes exactly when due */
    ASSERT_EQ(w.stalled, 0);

    next = sw_wd_check(&w, T0 + 520 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    ASSERT_EQ(td.duration_ns, 520 * MS);
    ASSERT_EQ(w.stalled, 1);
    ASSERT_EQ(w.stalls, 1);
    ASSERT_EQ(w.stall_start_ns, T0);
    ASSERT_EQ(next, T0 + 520 * MS + 1 * S); /* the first update */

    /* Nothing new until the update is due. */
    sw_wd_check(&w, T0 + 1 * S, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
}

TEST(updates_come_at_1_2_4_seconds_then_every_60)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    uint64_t now = T0 + 1 * S, next;
    uint64_t expect_step = 1 * S;
    int i;

    new_watch(&w, SW_WD_DEADLINE, 1 * S);
    next = sw_wd_check(&w, now, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    ASSERT_EQ(next, now + 1 * S);
    for (i = 0; i < 10; i++) {
        ASSERT_EQ(w.next_update_ns, now + expect_step);
        /* Woken earlier (the idle sleep is 1 s): nothing to say. */
        sw_wd_check(&w, w.next_update_ns - 1, 1 * S, &no_hub, &td);
        ASSERT_EQ(td.what, 0);
        now = w.next_update_ns;
        next = sw_wd_check(&w, now, 1 * S, &no_hub, &td);
        ASSERT(next <= now + 1 * S);
        ASSERT_EQ(td.what, SW_WD_TODO_UPDATE);
        ASSERT_EQ(td.duration_ns, now - T0);
        expect_step *= 2;
        if (expect_step > SW_WD_UPDATE_MAX_NS) {
            expect_step = SW_WD_UPDATE_MAX_NS;
        }
    }
    ASSERT_EQ(w.update_step_ns, 60 * S);
    ASSERT_EQ(w.stalls, 1); /* updates are not new stalls */
}

TEST(removed_deadline_reports_its_end_once)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;

    new_watch(&w, SW_WD_DEADLINE, 100 * MS);
    sw_wd_check(&w, T0 + 150 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    w.removed = 1;
    w.end_ns = T0 + 300 * MS;
    sw_wd_check(&w, T0 + 310 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_END);
    ASSERT_EQ(td.duration_ns, 300 * MS); /* until removed, not now */
    ASSERT_EQ(w.stalled, 0);
    sw_wd_check(&w, T0 + 320 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
}

TEST(hub_stalls_when_switches_stop_while_a_greenlet_runs)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    sw_wd_hub_seen_t seen = {7, 42};
    uint64_t next;

    new_watch(&w, SW_WD_HUB, 100 * MS);
    w.hub = 1;
    w.switches = 7;
    next = sw_wd_check(&w, T0 + 98 * MS, 1 * S, &seen, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(next, T0 + 100 * MS); /* due before the next poll */
    next = sw_wd_check(&w, T0 + 100 * MS, 1 * S, &seen, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    ASSERT_EQ(td.greenlet, 42);
    ASSERT_EQ(td.duration_ns, 100 * MS);
    /* A switch ends it. */
    seen.switches = 8;
    sw_wd_check(&w, T0 + 250 * MS, 1 * S, &seen, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_END);
    ASSERT_EQ(td.duration_ns, 250 * MS);
    ASSERT_EQ(w.since_ns, T0 + 250 * MS);
}

TEST(hub_running_itself_or_nothing_known_is_not_a_stall)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    sw_wd_hub_seen_t idle = {7, 1}, unknown = {7, 0};
    uint64_t next;

    new_watch(&w, SW_WD_HUB, 100 * MS);
    w.hub = 1;
    w.switches = 7;
    next = sw_wd_check(&w, T0 + 5 * S, 1 * S, &idle, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(next, T0 + 5 * S + 5 * MS); /* keeps polling */
    sw_wd_check(&w, T0 + 6 * S, 1 * S, &unknown, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(w.stalls, 0);
}

TEST(loop_stalls_out_of_select_and_ends_at_its_next_beat)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    uint64_t next;

    new_watch(&w, SW_WD_LOOP, 200 * MS);
    atomic_store(&w.in_select, 0);
    next = sw_wd_check(&w, T0 + 199 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(next, T0 + 200 * MS);
    sw_wd_check(&w, T0 + 230 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    ASSERT_EQ(td.duration_ns, 230 * MS);
    /* The loop enters select() again at +400 ms: the stall lasted until
     * that beat, not until the check. */
    atomic_store(&w.beat_ns, T0 + 400 * MS);
    atomic_store(&w.in_select, 1);
    sw_wd_check(&w, T0 + 405 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_END);
    ASSERT_EQ(td.duration_ns, 400 * MS);
}

TEST(loop_waiting_in_select_or_dormant_never_stalls)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;

    new_watch(&w, SW_WD_LOOP, 100 * MS);
    atomic_store(&w.in_select, 1);
    sw_wd_check(&w, T0 + 10 * S, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
    atomic_store(&w.in_select, 0);
    w.dormant = 1; /* a loop found not running */
    sw_wd_check(&w, T0 + 20 * S, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
    /* A beat wakes it up. */
    atomic_store(&w.beat_ns, T0 + 21 * S);
    sw_wd_check(&w, T0 + 21 * S, 1 * S, &no_hub, &td);
    ASSERT_EQ(w.dormant, 0);
    sw_wd_check(&w, T0 + 21 * S + 100 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
}

TEST(ticked_loop_seen_waiting_stalls_only_a_threshold_after_that)
{
    sw_wd_watch_t w;
    sw_wd_todo_t td;
    uint64_t next;

    /* A ticked loop whose last tick was at T0, found waiting for I/O at
     * +300 ms (the watchdog sets idle_ns: its process was short of CPU,
     * or another thread held the GIL): busy at most since then. */
    new_watch(&w, SW_WD_LOOP, 100 * MS);
    atomic_store(&w.ticked, 1);
    w.idle_ns = T0 + 300 * MS;
    next = sw_wd_check(&w, T0 + 350 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, 0);
    ASSERT_EQ(next, T0 + 355 * MS); /* polled every 5 ms meanwhile */
    /* Still no tick a threshold after it was seen waiting: a stall, from
     * then. */
    sw_wd_check(&w, T0 + 420 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_START);
    ASSERT_EQ(td.duration_ns, 120 * MS);
    /* It ends at the next tick. */
    atomic_store(&w.beat_ns, T0 + 500 * MS);
    sw_wd_check(&w, T0 + 505 * MS, 1 * S, &no_hub, &td);
    ASSERT_EQ(td.what, SW_WD_TODO_END);
    ASSERT_EQ(td.duration_ns, 200 * MS);
}

TEST(memory_crossings_up_then_down_with_the_peak)
{
    sw_wd_mem_state_t m = {0, 0};

    ASSERT_EQ(sw_wd_mem_step(&m, 90, 100), 0);
    ASSERT_EQ(sw_wd_mem_step(&m, 150, 100), SW_WDE_MEM_OVER);
    ASSERT_EQ(m.peak, 150);
    ASSERT_EQ(sw_wd_mem_step(&m, 180, 100), 0); /* still over */
    ASSERT_EQ(sw_wd_mem_step(&m, 120, 100), 0);
    ASSERT_EQ(m.peak, 180);
    ASSERT_EQ(sw_wd_mem_step(&m, 100, 100), SW_WDE_MEM_UNDER);
    ASSERT_EQ(sw_wd_mem_step(&m, 50, 100), 0);
    ASSERT_EQ(sw_wd_mem_step(&m, 101, 100), SW_WDE_MEM_OVER);
    ASSERT_EQ(m.peak, 101); /* the peak restarts at each crossing */
}

/* ---- process memory ---------------------------------------------------- */

TEST(procmem_parses_statm_pages_into_bytes)
{
    sw_procmem_t m;

    ASSERT_EQ(sw_procmem_parse("10 4 2 1 0 3 0\n", 4096, &m), 0);
    ASSERT_EQ(m.vms, 10 * 4096);
    ASSERT_EQ(m.rss, 4 * 4096);
    ASSERT_EQ(m.shared, 2 * 4096);
    ASSERT_EQ(m.text, 1 * 4096);
    ASSERT_EQ(m.data, 3 * 4096);
    m.rss = 77;
    ASSERT_EQ(sw_procmem_parse("10 4 2", 4096, &m), SW_EINVAL);
    ASSERT_EQ(m.rss, 77); /* untouched on error */
}

TEST(procmem_reads_this_process)
{
    sw_procmem_t m;

    ASSERT_EQ(sw_procmem_read(&m), 0);
    ASSERT(m.rss > 0);
    ASSERT(m.vms >= m.rss);
}

/* ---- reports ----------------------------------------------------------- */

/* A snapshot of one thread with the frames given leaf first as
 * name, file, line triples. */
typedef struct fake {
    sw_snapshot_t snap;
    sw_snap_thread_t thread;
    sw_snap_frame_t frames[16];
} fake_t;

static uint32_t
add_str(fake_t *f, const char *s)
{
    uint32_t off = (uint32_t)f->snap.strings.len;

    sw_buf_put(&f->snap.strings, s, strlen(s) + 1);
    return off;
}

static void
fake_init(fake_t *f, int holds_gil, int n, const char *const *nfl,
          const int *lines)
{
    memset(f, 0, sizeof(*f));
    sw_buf_init(&f->snap.strings);
    sw_buf_putc(&f->snap.strings, '\0');
    for (int i = 0; i < n; i++) {
        f->frames[i].name = add_str(f, nfl[2 * i]);
        f->frames[i].file = add_str(f, nfl[2 * i + 1]);
        f->frames[i].line = lines[i];
    }
    f->snap.frames = f->frames;
    f->snap.nframes = (uint32_t)n;
    f->snap.threads = &f->thread;
    f->snap.nthreads = 1;
    f->thread.t.holds_gil = holds_gil;
    f->thread.nframes = (uint32_t)n;
}

/* The report text after its "[stackwatch <time>] " header. */
static const char *
after_time(const sw_buf_t *b)
{
    const char *p;

    ASSERT(b->data != NULL && sw_buf_ok(b));
    ASSERT(strncmp(b->data, "[stackwatch ", 12) == 0);
    p = strstr(b->data, "] ");
    ASSERT(p != NULL);
    return p + 2;
}

/* Formats r and checks the text after the header. */
static void
expect_report(const sw_wd_report_t *r, const char *text)
{
    sw_buf_t out;

    sw_buf_init(&out);
    sw_wd_report_text(&out, r);
    ASSERT_STR_EQ(after_time(&out), text);
    sw_buf_free(&out);
}

static const char *const loop_frames[] = {
    "crunch",
    "/app/h.py", /* leaf */
    "handler",
    "/app/h.py", /* the task's coroutine */
    "Handle._run",
    "/usr/lib/python3.12/asyncio/events.py",
    "wrapped",
    "/site/stackwatch/monitor.py", /* hidden */
    "BaseEventLoop.run_forever",
    "/usr/lib/python3.12/asyncio/base.py",
    "<module>",
    "/app/main.py",
};
static const int loop_lines[] = {9, 5, 84, 300, 608, 2};

TEST(asyncio_rules_find_the_loop_and_the_task_frame)
{
    fake_t f;

    fake_init(&f, 0, 6, loop_frames, loop_lines);
    ASSERT_EQ(sw_wd_in_loop(&f.snap, &f.thread), 1);
    ASSERT_EQ(sw_wd_task_frame(&f.snap, &f.thread), 1);
    /* Without asyncio in the file name, "_run" is someone else's. */
    fake_init(&f, 0, 2,
              (const char *const[]){"coro", "/a.py", "_run", "/b.py"},
              (const int[]){1, 2});
    ASSERT_EQ(sw_wd_task_frame(&f.snap, &f.thread), -1);
    ASSERT_EQ(sw_wd_in_loop(&f.snap, &f.thread), 0);
}

TEST(loop_stall_report_names_the_task_and_prints_a_traceback)
{
    fake_t f;
    sw_wd_report_t r;

    fake_init(&f, 1, 6, loop_frames, loop_lines);
    memset(&r, 0, sizeof(r));
    r.what = SW_WD_TODO_START;
    r.kind = SW_WD_LOOP;
    r.name = "main";
    r.ident = 0x1234;
    r.tid = 42;
    r.thread_name = NULL;
    r.threshold_ns = 200 * MS;
    r.duration_ns = 250 * MS;
    r.label = "";
    r.snap = &f.snap;
    r.t = &f.thread;
    r.task_frame = sw_wd_task_frame(&f.snap, &f.thread);
    r.hide = "/site/stackwatch/";
    expect_report(
        &r, "asyncio loop main blocked for 0.250 s (threshold 0.200 s) in "
            "thread 0x1234 (tid 42)\n"
            "  running the task of coroutine handler (/app/h.py:5)\n"
            "  The thread holds the GIL.\n"
            "  Stack (most recent call last):\n"
            "    File \"/app/main.py\", line 2, in <module>\n"
            "    File \"/usr/lib/python3.12/asyncio/base.py\", line 608, in "
            "BaseEventLoop.run_forever\n"
            "    File \"/usr/lib/python3.12/asyncio/events.py\", line 84, in "
            "Handle._run\n"
            "    File \"/app/h.py\", line 5, in handler\n"
            "    File \"/app/h.py\", line 9, in crunch\n");
    sw_buf_free(&f.snap.strings);
}

TEST(deadline_report_update_and_end_lines)
{
    fake_t f;
    sw_wd_report_t r;

    fake_init(
        &f, 0, 2,
        (const char *const[]){"work", "/app/job.py", "<module>", "<string>"},
        (const int[]){-1, 1});
    memset(&r, 0, sizeof(r));
    r.what = SW_WD_TODO_START;
    r.kind = SW_WD_DEADLINE;
    r.name = "nightly";
    r.ident = 0xab;
    r.thread_name = "Worker-1";
    r.threshold_ns = 500 * MS;
    r.duration_ns = 600 * MS;
    r.snap = &f.snap;
    r.t = &f.thread;
    r.task_frame = -1;
    f.thread.truncated = 1;
    expect_report(&r, "deadline \"nightly\" exceeded (limit 0.500 s): still "
                      "running after 0.600 s in thread \"Worker-1\"\n"
                      "  The thread does not hold the GIL.\n"
                      "  Stack (most recent call last):\n"
                      "    ... (outer frames not shown)\n"
                      "    File \"<string>\", line 1, in <module>\n"
                      "    File \"/app/job.py\", in work\n");

    r.what = SW_WD_TODO_UPDATE;
    r.duration_ns = 1600 * MS;
    expect_report(&r, "deadline \"nightly\" still running "
                      "after 1.600 s, in work (/app/job.py)\n");

    r.what = SW_WD_TODO_END;
    r.duration_ns = 2 * S;
    r.snap = NULL;
    r.t = NULL;
    expect_report(&r, "deadline \"nightly\" finished after 2.000 s (limit "
                      "0.500 s) in thread \"Worker-1\"\n");
    sw_buf_free(&f.snap.strings);
}

TEST(hub_report_with_greenlet_label_and_unreadable_stack)
{
    sw_wd_report_t r;

    memset(&r, 0, sizeof(r));
    r.what = SW_WD_TODO_START;
    r.kind = SW_WD_HUB;
    r.name = "";
    r.ident = 0x10;
    r.greenlet = 7;
    r.label = "Greenlet-3 (serve)";
    r.threshold_ns = 100 * MS;
    r.duration_ns = 100 * MS;
    r.task_frame = -1;
    expect_report(&r, "gevent hub blocked for 0.100 s (threshold 0.100 s) in "
                      "thread 0x10\n"
                      "  running greenlet #7: Greenlet-3 (serve)\n"
                      "  (the thread's stack could not be read)\n");

    r.what = SW_WD_TODO_END;
    r.duration_ns = 300 * MS;
    expect_report(&r, "gevent hub unblocked after 0.300 s in thread 0x10\n");
}

TEST(stack_for_python_is_outermost_first_without_hidden_frames)
{
    fake_t f;
    sw_fmt_frame_t *fr;
    size_t n;
    int task;

    fake_init(&f, 0, 6, loop_frames, loop_lines);
    ASSERT_EQ(sw_wd_report_frames(&f.snap, &f.thread, "/site/stackwatch/", 1,
                                  &fr, &n, &task),
              0);
    ASSERT_EQ(n, 5);
    ASSERT_STR_EQ(fr[0].name, "<module>");
    ASSERT_STR_EQ(fr[0].file, "/app/main.py");
    ASSERT_EQ(fr[0].line, 2);
    ASSERT_STR_EQ(fr[1].name, "BaseEventLoop.run_forever");
    ASSERT_STR_EQ(fr[2].name, "Handle._run");
    ASSERT_STR_EQ(fr[4].name, "crunch");
    ASSERT_EQ(fr[4].line, 9);
    ASSERT_EQ(task, 3);
    ASSERT_STR_EQ(fr[task].name, "handler");
    free(fr);

    f.thread.nframes = 0;
    ASSERT_EQ(sw_wd_report_frames(&f.snap, &f.thread, "", 1, &fr, &n, &task),
              0);
    ASSERT(fr == NULL);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(task, -1);
    sw_buf_free(&f.snap.strings);
}

RUNNER_MAIN()
