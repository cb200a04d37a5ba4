/* The watchdog's timing decisions, pure: when a watch stalls, when a
 * stall report is updated (1, 2, 4 ... 60 s), when it ends, when the
 * monitor thread must look again, and when memory crosses its threshold.
 * Every function takes the time (`now`, CLOCK_MONOTONIC nanoseconds) and
 * what was observed (a hub's switch counter) as arguments and reads no
 * clock and no memory of its own, so tests drive it with a fake clock
 * (tests/c/test_watchdog.c).  The monitor thread (watchdog.c) calls it
 * with its lock held.
 *
 * Context: any thread; no GIL, no Python API, no lock, no allocation.
 *
 * Pure C; no Python.h. */
#ifndef SW_WD_TIMING_H
#define SW_WD_TIMING_H

#include <stdatomic.h>
#include <stdint.h>

#define SW_WD_NAME_LEN 128
#define SW_WD_UPDATE_MAX_NS (60 * 1000000000ull)
#define SW_WD_IDLE_SLEEP_NS (1000000000ull)
#define SW_WD_POLL_MIN_NS (1000000ull)
#define SW_WD_POLL_MAX_NS (10000000ull)

/* One watch (see watchdog.h for the kinds).  The monitor thread owns it
 * under the watchdog's lock; beat_ns and in_select are written by the
 * watched loop without the lock (sw_wd_select). */
typedef struct sw_wd_watch {
    _Atomic uint64_t id; /* 0: free; else (serial << 8) | slot */
    int kind;
    uintptr_t tstate;
    uint64_t tstate_id;
    unsigned long ident;
    long tid;
    uint32_t hub;
    char name[SW_WD_NAME_LEN];
    uint64_t threshold_ns;
    uint64_t since_ns;        /* deadline: entered; hub: count first seen */
    _Atomic uint64_t beat_ns; /* loop: when it last entered or left its
                                 selector */
    _Atomic int in_select;    /* loop: waiting for I/O */
    _Atomic int ticked;       /* loop: a ticked one (sw_wd_tick) */
    _Atomic uint32_t base;    /* ticked loop: frames below the loop */
    uint64_t idle_ns;         /* ticked loop: last seen waiting (its stack) */
    uint64_t last_beat, switches;
    int stalled, stalls, dormant, removed;
    uint64_t stall_start_ns, next_update_ns, update_step_ns, end_ns;
} sw_wd_watch_t;

/* What the monitor thread does after dropping its lock. */
enum sw_wd_todo_kind {
    SW_WD_TODO_START = 1,  /* a stall began: the full report */
    SW_WD_TODO_UPDATE = 2, /* it goes on: a one-line update */
    SW_WD_TODO_END = 3,    /* it ended: the end line */
};

typedef struct sw_wd_todo {
    int what;        /* 0 or enum sw_wd_todo_kind */
    sw_wd_watch_t w; /* a copy of the watch, taken by the caller */
    uint64_t duration_ns;
    uint32_t greenlet; /* SW_WD_TODO_START of a hub: the running one */
} sw_wd_todo_t;

/* What the monitor thread saw of a hub's thread this pass (the greenlet
 * hook's counters; unused for other kinds). */
typedef struct sw_wd_hub_seen {
    uint64_t switches; /* greenlet switches so far */
    uint32_t current;  /* the running greenlet's id, 0 if unknown */
} sw_wd_hub_seen_t;

/* How often a hub or loop with this threshold is polled: threshold / 20,
 * between 1 and 10 ms.  Context: any; pure. */
uint64_t sw_wd_poll_ns(uint64_t threshold_ns);

/* Checks one watch at time now: updates its state and fills td->what
 * (0: nothing to report), td->duration_ns and, for a hub's START,
 * td->greenlet; td->w is left to the caller.  update_ns: the first update
 * interval of a stall (the settings'); each later one doubles, up to 60
 * s.  hub: what was seen of a hub's thread (only read for SW_WD_HUB; a
 * hub stalls only while a greenlet other than the hub runs).  A loop does
 * not stall while in its selector or dormant; a removed deadline ends its
 * stall.  Returns the time by which the watch wants to be checked again
 * (a hub or loop: within its poll interval; a deadline: its expiry or
 * next update, else 1 s).  No errors.  Context: the caller owns w (the
 * watchdog's lock); pure otherwise. */
uint64_t sw_wd_check(sw_wd_watch_t *w, uint64_t now, uint64_t update_ns,
                     const sw_wd_hub_seen_t *hub, sw_wd_todo_t *td);

/* The memory threshold's state: whether RSS is over it, and the peak
 * since it went over. */
typedef struct sw_wd_mem_state {
    uint64_t peak;
    int over;
} sw_wd_mem_state_t;

/* One RSS reading against the threshold max (bytes, > 0): returns
 * SW_WDE_MEM_OVER when it goes above (the peak restarts there),
 * SW_WDE_MEM_UNDER when it comes back to or under it, 0 otherwise; keeps
 * the peak.  Never an error code.  Context: the caller owns m. */
int sw_wd_mem_step(sw_wd_mem_state_t *m, uint64_t rss, uint64_t max);

#endif
