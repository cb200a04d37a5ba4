/* Greenlet tracking: which greenlet runs on each thread, and how often
 * threads switch.
 *
 * A METH_FASTCALL C function is registered with greenlet.settrace() in
 * each thread that uses greenlets (settrace is per thread).  On every
 * "switch" and "throw" it runs in the target greenlet, with the GIL, and
 * publishes the target's id in the thread's record with an atomic store;
 * the sampler, without the GIL, reads the record of the thread state it
 * is walking.  The callback chains the trace function it replaced and
 * never raises on its own account (greenlet would drop it and throw into
 * the target).
 *
 * Greenlet ids are small integers (1, 2, ...), given on first sight and
 * forgotten when the greenlet dies (a weak reference's callback), so an
 * address reused by a new greenlet gets a new id.  Id 0 means unknown.
 *
 * Threads: records are claimed by the thread that installs the hook and
 * released when its hook object is freed.  A record names its thread
 * state by address and serial number (PyThreadState.id), so a record left
 * behind by a dead thread never matches a new thread at the same address.
 * At most 1024 threads have records at once; the id table (GIL-guarded)
 * gives at most ~1M ids per process, then 0.
 * Fork: records of threads that do not exist in the child are retired by
 * sw_greenlet_after_fork_child(). */
#ifndef SW_GREENLET_H
#define SW_GREENLET_H

#include <Python.h>
#include <stdint.h>

#include "greenlet_read.h"

/* Installs the hook in the calling thread (idempotent), chaining the
 * trace function already set.  Context: GIL held; imports greenlet,
 * allocates.  Returns 1 if installed (or already), 0 if greenlet is not
 * importable (ImportError, cleared), -1 with an exception set (greenlet's
 * gettrace/settrace/getcurrent failed, or no memory).  Also 1 when all
 * 1024 thread records are taken: the hook is then installed but the
 * thread's greenlets are never seen by GIL-free readers (silently). */
int sw_greenlet_install(void);

/* Adds (on) or removes a user of greenlet tracking.  With no user, hooks
 * pass events on without looking at them.  The count never goes below
 * 0.  Context: any (an atomic); GIL held in practice.  No errors. */
void sw_greenlet_track(int on);

/* Removes the hook from the calling thread if it is still the thread's
 * trace function (restoring the one it replaced).  Context: GIL held.
 * Returns 0 (also when greenlet cannot be imported, for any reason: the
 * exception is cleared) or -1 with an exception set (gettrace/settrace
 * raised). */
int sw_greenlet_uninstall(void);

/* A dict {id: (greenlet or None, type name)} of the greenlets with ids
 * (only: NULL for all, else an iterable of the ids wanted; others are
 * left out), live ones by object, dead ones by the type name taken at
 * first sight.  The dict holds the live ones: keep it for no longer than
 * needed (a thread's main greenlet held while the thread ends makes
 * greenlet's clean-up of that thread search the whole heap for the
 * holder).  Context: GIL held.  Returns a new reference, or NULL with an
 * exception set (no memory, or only is not an iterable of ints). */
PyObject *sw_greenlet_table(PyObject *only);

/* Retires the records of threads other than the calling one.
 * Context: GIL held, in the child after fork (os.register_at_fork).  No
 * errors. */
void sw_greenlet_after_fork_child(void);

/* The id of greenlet g (given now if it had none).  Context: GIL held;
 * may allocate (a weak reference to g, table growth).  Never raises:
 * returns 0 with no exception set when g cannot be weakly referenced, on
 * allocation failure, or once ~1M ids have been given. */
uint32_t sw_greenlet_id_of(PyObject *g);

/* Switch timing on the calling thread, for assert_switches: between
 * start and stop the hook measures the longest time without a switch
 * (without a switch into greenlet `hub` when hub_only) and counts the
 * switches into the hub.  Scopes nest: start saves the enclosing state,
 * stop restores it.  Context: GIL held, the thread that started.
 * Returns 0, or -1 (no exception set) when the thread has no hook
 * record; *saved / the outputs are then untouched. */
typedef struct sw_greenlet_timing {
    int timing, hub_only;
    uint32_t hub;
    uint64_t last_ns, max_gap_ns, hub_entries, switches;
} sw_greenlet_timing_t;
int sw_greenlet_timing_start(uint32_t hub, int hub_only,
                             sw_greenlet_timing_t *saved);
int sw_greenlet_timing_stop(const sw_greenlet_timing_t *saved,
                            uint64_t *switches, uint64_t *hub_entries,
                            uint64_t *max_gap_ns);

/* A function the hook calls, with the GIL held, on every switch or throw
 * into greenlet `to` (id `to_id`, 0 if none could be given) while
 * tracking is on, in threads that have a hook record: the tracer's
 * switch records.  It must not raise (an exception it leaves set is
 * cleared).  Context: GIL held.  NULL: none. */
typedef void (*sw_greenlet_listener_fn)(uint32_t to_id, PyObject *to);
void sw_greenlet_set_listener(sw_greenlet_listener_fn fn);

/* A function called, with the GIL held, when a greenlet that has an id
 * is freed (its id is never given again): the memory profiler's per-
 * greenlet counters end there.  Context: GIL held, any thread.  Must not
 * raise.  NULL: none. */
typedef void (*sw_greenlet_death_fn)(uint32_t id);
void sw_greenlet_set_death_listener(sw_greenlet_death_fn fn);

/* Module glue: readies the hook type and interns the event names.
 * Context: GIL held, at import.  Returns 0, or -1 with an exception set. */
int sw_greenlet_init(PyObject *module);

#endif
