/* Profiling a process that did not enable stackwatch, from outside: at a
 * rate, every thread of process pid is read through the outside reader
 * (compat/target.c's layout, compat/reader.c through process_vm_readv on
 * its pid) and its stack added to a profile session, as the in-process
 * sampler adds its own.  The target is never stopped or written to.
 *
 * Runs in the calling thread (the CLI's, without the GIL), in slices, so
 * that the caller can look at signals (Ctrl-C) between them; what was
 * sampled stays in the session whatever ends the run (the time is up,
 * the caller stops, the target exits).
 *
 * Modes, as the in-process sampler's: wall (every thread, each sample
 * weighs one interval), gil (only the thread holding the GIL), cpu (only
 * threads that ran since the last pass, weighed by the CPU time they
 * used, from /proc/PID/task/TID/schedstat; a thread whose kernel id is
 * unknown -- 3.9/3.10 read by a CLI on 3.11+ -- is left out).
 *
 * Pure C; no Python.h. */
#ifndef SW_OUTSIDE_H
#define SW_OUTSIDE_H

#include <stdint.h>

#include "codecache.h"
#include "compat/reader.h"
#include "compat/target.h"
#include "stacks.h"

enum sw_outside_mode {
    SW_OUTSIDE_WALL = 0,
    SW_OUTSIDE_CPU = 1,
    SW_OUTSIDE_GIL = 2,
};

#define SW_OUTSIDE_TIDS 1024 /* threads whose CPU time is followed */

typedef struct sw_outside_rec {
    sw_target_t target;
    sw_reader_t reader;
    int reader_open;
    sw_codecache_t *cache;
    sw_session_t *s; /* borrowed */
    int mode;
    uint64_t interval_ns;
    uint64_t next_ns; /* the next pass */
    int gone;         /* the target exited */
    /* cpu mode: each thread's CPU time at the last pass */
    long tids[SW_OUTSIDE_TIDS];
    uint64_t cpu[SW_OUTSIDE_TIDS];
    int ntids;
    /* scratch for one pass */
    sw_thread_t *threads;
    sw_rawframe_t *raw;
    sw_frameinfo_t *info;
    uint32_t *frames;
} sw_outside_rec_t;

/* Finds process pid's interpreter (sw_target_open) and prepares to add
 * its samples to s at rate_hz in mode.  Marks the session started.
 * Context: any thread, no GIL; allocates.  Returns 0, or as
 * sw_target_open() (SW_ESYS with errno, SW_EINVAL with err), or
 * SW_ENOMEM; rec is then closed (nothing to release). */
int sw_outside_rec_open(sw_outside_rec_t *rec, sw_session_t *s, int pid,
                        double rate_hz, int mode, char *err, size_t errlen);

/* Samples until the monotonic clock reaches until_ns or the target
 * exits, at the rate given, each pass under s->mu.  Context: the thread
 * that opened rec, no GIL; sleeps between passes.  Returns 0, or
 * SW_ESYS with errno ESRCH once the target is gone (rec->gone: later
 * calls return at once). */
int sw_outside_rec_run(sw_outside_rec_t *rec, uint64_t until_ns);

/* Ends the run (the session's stop time) and releases what open took.
 * Idempotent. */
void sw_outside_rec_close(sw_outside_rec_t *rec);

#endif
