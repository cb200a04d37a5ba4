/* The watchdog: a native monitor thread that reports stalls while they
 * happen, and watches the process's memory.
 *
 * What it watches (each a "watch", bound to one thread state):
 * - a gevent hub: stalled when the thread's greenlet switch counter (kept
 *   by the greenlet hook, see greenlet.h) has not moved for the threshold
 *   while a greenlet other than the hub runs.  Nothing is added per
 *   switch: the hook already counts them.
 * - an asyncio loop: the loop's selector.select() is wrapped so that the
 *   loop marks when it enters and leaves it (sw_wd_select): stalled when
 *   it has been out of select() for the threshold -- the time since it
 *   last polled for I/O, exact to the iteration, at no cost while the
 *   loop is idle; only while the thread is inside the loop's
 *   run_forever.  A loop without a selector (uvloop's) ticks instead: a
 *   callback the loop runs every threshold / 8 marks it as responsive
 *   (sw_wd_tick), so it is stalled when no tick came for the threshold
 *   (timed from the last tick: up to an eighth early), and the Python
 *   layer tells when it stops running (no run_forever frame to look
 *   for).
 * - a deadline: stalled once the block has run longer than its limit.
 *
 * The thread polls its watches every few milliseconds while any hub or
 * loop is watched (threshold / 20, between 1 and 10 ms) and sleeps until
 * the next deadline or memory check otherwise.  When a stall crosses its
 * threshold it reads the stalled thread's stack with the GIL-free reader,
 * writes the report to the report descriptor at once (it never waits for
 * the GIL), then a short update at growing intervals (1, 2, 4 ... 60 s)
 * while the stall lasts, and one line when it ends.  Each report is also
 * queued as an event for the Python side (sw_wd_take), which delivers it
 * to subscribers with the GIL.
 *
 * Names that only the GIL side knows (a greenlet's name, the asyncio
 * task) are asked for through the service channel with a short wait, and
 * only when the stalled thread does not hold the GIL; otherwise the
 * report gives the greenlet's id and the coroutine on the stack.
 *
 * Memory: RSS from /proc/self/statm (procmem.h) every period; crossings
 * of the threshold (upward, then back down) become events.
 *
 * Threads and locks: one mutex guards the watch table, the event queue
 * and the settings.  The monitor thread never holds it while it reads a
 * stack, writes a report or waits for an answer; callers take the mutex
 * only briefly (with the GIL held, except sw_wd_start, sw_wd_stop and
 * sw_wd_take, which the Python layer calls with the GIL released).  No
 * Python API on the monitor thread; nothing here is async-signal-safe
 * except sw_wd_select.  Limits: 256 watches, 256 queued events (the
 * oldest is dropped and counted in events_dropped).
 *
 * Fork: the mutex is held across fork(); in the child the thread is gone
 * and the Python layer restarts it (sw_wd_after_fork_child drops the
 * watches of threads that do not exist there).
 *
 * Files: watchdog.c is the monitor thread, its watch table and event
 * queue (this header); wd_timing.{c,h} the pure timing decisions (when a
 * watch stalls, is updated, ends; tested with a fake clock);
 * wd_report.{c,h} the report text, the asyncio rules that read a stack
 * and the stack handed to Python; procmem.{c,h} the process's memory;
 * watchdog_py.c the Python functions.
 *
 * Pure C; no Python.h. */
#ifndef SW_WATCHDOG_H
#define SW_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#include "codecache.h"
#include "stackfmt.h"

enum sw_wd_kind { SW_WD_HUB = 1, SW_WD_LOOP = 2, SW_WD_DEADLINE = 3 };

enum sw_wd_event_kind {
    SW_WDE_BLOCKED = 1,      /* a hub or loop stalled past its threshold */
    SW_WDE_UNBLOCKED = 2,    /* ... and ran again */
    SW_WDE_DEADLINE = 3,     /* a deadline was exceeded */
    SW_WDE_DEADLINE_END = 4, /* ... and its block finished */
    SW_WDE_MEM_OVER = 5,     /* RSS went above the threshold */
    SW_WDE_MEM_UNDER = 6,    /* ... and back under it */
};

/* Question kinds the watchdog asks the GIL side (after dump.c's 1). */
#define SW_WD_ASK_GREENLET 2u /* flags: greenlet id -> its label */
#define SW_WD_ASK_TASK 3u     /* flags: watch slot -> the loop's task */

/* One event for the Python side.  Strings are owned by the event. */
typedef struct sw_wd_event {
    int kind;
    int watch_kind;
    uint64_t watch_id;
    char *name;             /* the watch's name */
    char *report;           /* the text written to the report stream */
    uint64_t start_ns;      /* when the stall began (sw_now_ns clock) */
    sw_fmt_frame_t *frames; /* the stack, outermost first, stackwatch's own
                               frames left out; one allocation holding
                               its strings too (sw_wd_report_frames) */
    size_t nframes;
    int task_frame; /* index in frames of the running asyncio task's
                       coroutine (sw_wd_task_frame), -1 if none */
    char *label;    /* greenlet label or task, "" if unknown */
    unsigned long ident;
    long tid;
    uint32_t greenlet;
    int holds_gil;
    double duration, threshold;
    uint64_t mem[5]; /* rss, vms, shared, text, data (bytes) */
    uint64_t mem_max, mem_peak;
} sw_wd_event_t;

/* Frees the event's strings and frames and zeroes it; safe on a zeroed
 * event.  Context: any. */
void sw_wd_event_free(sw_wd_event_t *e);

/* Settings; report_fd is dup'ed by sw_wd_start (-1: no stream). */
typedef struct sw_wd_settings {
    int report_fd;
    uint64_t mem_max;       /* bytes; 0: no threshold */
    uint64_t mem_period_ns; /* 0: memory not watched */
    uint64_t update_ns;     /* first update interval while stalled */
    uint64_t name_wait_ns;  /* wait for names from the GIL side */
    char hide[256];         /* frames in files under this prefix (our own
                               package) are left out of reports */
    int full_paths;         /* reports show files by their full paths */
} sw_wd_settings_t;

/* ---- the monitor thread ------------------------------------------------- */

/* Starts the thread (or applies new settings to the running one), with
 * every signal blocked in it.  A replaced report descriptor is closed by
 * the monitor thread at its next pass.  Context: any thread, no GIL needed
 * (called with it released); takes the mutex.
 * Returns 0, or SW_ESYS with errno and a message in err: report_fd
 * could not be dup'ed (nothing changed), or the thread could not be
 * created (the new settings stay in place, without a report descriptor:
 * the dup'ed one is closed). */
int sw_wd_start(const sw_wd_settings_t *s, sw_codecache_t *cache, char *err,
                size_t errlen);

/* Stops and joins the thread (after its last pass writes the end lines of
 * stalls that ended) and closes the report descriptors; a no-op when not
 * running.  Watches and queued events are kept until sw_wd_clear().
 * Context: the caller should not hold the GIL (the join waits for a
 * report being written and a question to the GIL side) -- the thread
 * never needs it, so holding it is only slower.  No errors. */
void sw_wd_stop(void);

/* Drops every watch and queued event.  Context: GIL held; takes the
 * mutex.  No errors. */
void sw_wd_clear(void);

/* ---- watches ------------------------------------------------------------ */

/* Adds a watch on the thread (tstate, tstate_id, ident); name is copied
 * (cut at 127 bytes; NULL: "").  hub: the hub's greenlet id (SW_WD_HUB).
 * Context: GIL held; takes the mutex.  Returns the watch id (> 0), or 0
 * when the table is full (256 watches). */
uint64_t sw_wd_add(int kind, uintptr_t tstate, uint64_t tstate_id,
                   unsigned long ident, long tid, uint32_t hub,
                   uint64_t threshold_ns, const char *name);

/* Changes a watch's threshold.  Context: GIL held; takes the mutex.
 * Returns 0, or -1 if the id is unknown or the watch is being removed. */
int sw_wd_set_threshold(uint64_t id, uint64_t threshold_ns);

/* Removes a watch; a stalled one stays until the monitor thread has
 * written its end line.  Context: GIL held; takes the mutex.  Returns how
 * many times it stalled (a deadline: 1 if it was exceeded), or -1 if the
 * id is unknown or already removed. */
int sw_wd_remove(uint64_t id);

/* A loop watch's loop enters (entering=1) or leaves its selector's
 * select(); an id that is no longer current is ignored.  Context: the
 * loop's thread (GIL held in practice); lock-free, async-signal-safe.  No
 * errors. */
void sw_wd_select(uint64_t id, int entering);

/* A ticked loop watch (a loop without a selector): running=1, the loop
 * ran its tick callback now (responsive; the watch is ticked from then
 * on: its stalls are not checked against the thread's stack for a
 * run_forever frame); running=0, the loop stopped running (no stall
 * until the next tick).  base: how many frames the thread's stack has
 * below the loop (those of the code that runs it; 0: unknown): the frame
 * above them is the callback or task the loop runs.  An id that is no
 * longer current is ignored.  Context: the loop's thread, GIL held;
 * lock-free.  No errors. */
void sw_wd_tick(uint64_t id, int running, uint32_t base);

/* ---- events and statistics ---------------------------------------------- */

/* Waits up to timeout_ns for events (or until sw_wd_interrupt); moves up
 * to cap of them to out, oldest first; the caller owns them and frees
 * each with sw_wd_event_free().  Context: the GIL released (it blocks);
 * takes the mutex.  Returns how many, 0..cap (0 on timeout or
 * interrupt); no errors. */
int sw_wd_take(sw_wd_event_t *out, int cap, uint64_t timeout_ns);

/* Wakes a sw_wd_take() waiter (the Python thread is stopping); if none
 * waits, the next sw_wd_take() returns at once.  Context: any thread;
 * takes the mutex. */
void sw_wd_interrupt(void);

typedef struct sw_wd_stats {
    uint64_t polls, reports, events_dropped;
    uint64_t cpu_ns; /* the monitor thread's CPU time, as of its last pass */
    int watches;
} sw_wd_stats_t;
/* Copies the statistics, counting the live watches.  Context: any
 * thread; takes the mutex. */
void sw_wd_get_stats(sw_wd_stats_t *st);

/* What /metrics shows of the watchdog (http_routes.c, metrics.c).  The
 * histogram's buckets are SW_WD_HIST_BOUNDS (seconds, upper bounds); a
 * stall is observed when it ends. */
#define SW_WD_HIST_N 10
#define SW_WD_HIST_BOUNDS                                     \
    {                                                         \
        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0 \
    }
typedef struct sw_wd_metrics {
    uint64_t stalls[4]; /* by enum sw_wd_kind (index 0 unused): stalls
                           reported since the process started */
    uint64_t hist[SW_WD_HIST_N + 1]; /* per bucket, not cumulative; the
                                        last one beyond 60 s */
    uint64_t hist_count;
    double hist_sum;      /* seconds */
    double current_stall; /* the longest stall going on now, seconds; 0 */
    int stalled;          /* stalls going on now */
    int running;          /* the monitor thread runs */
    int mem_watched;      /* a memory threshold is set */
    int mem_over;         /* RSS is above it */
    uint64_t mem_max;     /* the threshold, bytes (0: none) */
} sw_wd_metrics_t;
/* Copies them.  Context: any thread, no GIL; takes the mutex. */
void sw_wd_get_metrics(sw_wd_metrics_t *m);

/* ---- fork --------------------------------------------------------------- */

/* Fork (pthread_atfork, through module.c): prepare takes the mutex,
 * parent releases it; the child re-initialises the mutex and condition
 * variables, marks the thread not running and zeroes the statistics
 * (watches and events stay until sw_wd_after_fork_child). */
void sw_wd_atfork_prepare(void);
void sw_wd_atfork_parent(void);
void sw_wd_atfork_child(void);
/* In the child, with the GIL: keeps only the watches of this thread (their
 * stalls forgotten, their tid updated) and drops queued events.  No
 * errors. */
void sw_wd_after_fork_child(uintptr_t tstate, uint64_t tstate_id);

#endif
