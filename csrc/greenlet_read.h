/* The GIL-free side of greenlet tracking (see greenlet.h): which greenlet
 * runs on a thread, read by the sampler, snapshots (dump thread) and the
 * watchdog.
 *
 * Pure C; no Python.h. */
#ifndef SW_GREENLET_READ_H
#define SW_GREENLET_READ_H

#include <stdint.h>

/* The id of the greenlet running on the thread (tstate, tstate_id), or 0
 * when the thread has no hook record (or greenlet is not used, or its id
 * could not be given).  Context: any thread, no GIL needed; lock-free
 * (acquire loads), no allocation, async-signal-safe. */
uint32_t sw_greenlet_current(uintptr_t tstate, uint64_t tstate_id);

/* Switches seen on that thread since its hook was installed (0 without a
 * hook record; counted only while tracking is on).  Context: as
 * sw_greenlet_current(). */
uint64_t sw_greenlet_switches(uintptr_t tstate, uint64_t tstate_id);

/* The id of the greenlet running on the calling thread, as its hook last
 * saw it (0: none seen, or no hook in this thread): a thread-local copy of
 * its record's current greenlet, for the allocator hooks (memtrack.c),
 * which need no tstate to read it.  Written by the hook in its own thread
 * only; read by that thread only.  Stale while tracking is off. */
extern _Thread_local uint32_t sw_greenlet_here
    __attribute__((tls_model("initial-exec")));

#endif
