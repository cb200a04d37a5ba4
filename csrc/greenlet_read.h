/* The GIL-free side of greenlet tracking (see greenlet.h): which greenlet
 * runs on a thread, read by the sampler and the dump thread.
 *
 * Pure C; no Python.h. */
#ifndef SW_GREENLET_READ_H
#define SW_GREENLET_READ_H

#include <stdint.h>

/* The id of the greenlet running on the thread (tstate, tstate_id), or 0
 * when the thread has no hook (or greenlet is not used).
 * Context: no GIL needed; lock-free. */
uint32_t sw_greenlet_current(uintptr_t tstate, uint64_t tstate_id);

/* Switches seen on that thread since its hook was installed.
 * Context: no GIL needed; lock-free. */
uint64_t sw_greenlet_switches(uintptr_t tstate, uint64_t tstate_id);

#endif
