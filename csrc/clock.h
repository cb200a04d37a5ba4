/* Clocks: monotonic time and per-thread CPU time, in nanoseconds, and
 * the helpers for absolute CLOCK_MONOTONIC deadlines on condition
 * variables (every timed wait in stackwatch uses them).
 *
 * Pure C; no Python.h. */
#ifndef SW_CLOCK_H
#define SW_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* ns as a timespec (for absolute deadlines).  Pure; any context. */
static inline struct timespec
sw_timespec(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC
 * (wall-clock jumps must not stretch or cut a wait).  The pthread
 * calls' return codes are ignored (they fail only on bad arguments or
 * ENOMEM).  Context: any thread, before the variable is used. */
static inline void
sw_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* CLOCK_MONOTONIC in ns.  Context: any, async-signal-safe. */
static inline uint64_t
sw_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread in ns.  Context: any, async-signal-safe. */
static inline uint64_t
sw_self_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the thread with kernel id tid, in ns, through the clock id
 * glibc's pthread_getcpuclockid() would build: ((~tid) << 3) | 6
 * (CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED).  Built from the tid, not from a
 * pthread_t, so a thread that has exited gives EINVAL, not undefined
 * behaviour.  Context: any thread, async-signal-safe.
 * Returns 0 and sets *out, or -1 (errno EINVAL or ESRCH from
 * clock_gettime, unchanged when tid <= 0) if the thread is gone or tid
 * unknown; *out is untouched on error. */
static inline int
sw_thread_cpu_ns(long tid, uint64_t *out)
{
    struct timespec ts;
    clockid_t clk;

    if (tid <= 0) {
        return -1;
    }
    clk = (clockid_t)(((unsigned int)~tid << 3) | 6);
    if (clock_gettime(clk, &ts) != 0) {
        return -1;
    }
    *out = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

#endif
