/* The memory profiler's sampled allocation stacks (stacks=True): the
 * stack of a block chosen by the Poisson sampling in memtrack.c, read
 * from the allocating thread's own frames with the native reader
 * (compat/reader.h), resolved through a code cache of its own and
 * interned in a profile session (stacks.h); the sampled blocks still
 * live, by address; and the events ("+" a sampled block allocated, "-"
 * freed) the writer thread drains into the <thread>.stack files.
 *
 * One mutex guards all of it (the reader, the cache, the session, the
 * block table, the event queue): it is taken only for a sampled
 * allocation or the free of a sampled block, about once per
 * sample_interval bytes, and by the writer once per tick.  Lock order:
 * this mutex, then the code cache's, then the session's.
 *
 * Pure C; no Python.h. */
#ifndef SW_MEMSTACKS_H
#define SW_MEMSTACKS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* One event for the writer. */
typedef struct sw_memevent {
    char kind;      /* '+' or '-' */
    uint32_t slot;  /* the thread that allocated the block */
    uint32_t stack; /* '+': the stack id */
    uint64_t block; /* block id, unique in the process */
    uint64_t weight;
    uint64_t t_ns; /* monotonic */
} sw_memevent_t;

/* Gives the address of the calling thread's Python thread state, or 0
 * (a thread that has none).  Set by the Python edge; must not allocate
 * nor take a lock. */
typedef uintptr_t (*sw_memstacks_tstate_fn)(void);

/* Readies the stacks of a profile: a reader, a code cache and a session
 * of its own.  Context: GIL held, no profile running, tracking off.
 * Returns 0, or SW_ENOMEM / SW_ESYS / SW_EINVAL (err says why). */
int sw_memstacks_start(sw_memstacks_tstate_fn tstate, char *err,
                       size_t errlen);

/* Frees what start took.  Context: tracking off, the writer stopped
 * (its last drain done). */
void sw_memstacks_stop(void);

/* Whether stacks are being kept.  Context: any. */
int sw_memstacks_on(void);

/* Records that the block p (owned by slot) was sampled: its stack, read
 * now from the calling thread, goes in the session and a '+' event in
 * the queue.  Context: inside an allocator hook (memtrack.c). */
void sw_memstacks_alloced(void *p, uint32_t slot, uint64_t weight);

/* The sampled block p was freed: a '-' event for its owner.  Context:
 * inside an allocator hook. */
void sw_memstacks_freed(void *p);

/* Moves the queued events into *out (the caller's array, grown with
 * realloc; *cap its capacity), returning how many.  Context: the
 * writer thread. */
size_t sw_memstacks_drain(sw_memevent_t **out, size_t *cap);

/* Appends the frames of stack id, root first, each "name (file:line)",
 * separated by ';' (a ';' or line break inside a name or a file is
 * written as '_').  Context: the writer thread. */
void sw_memstacks_format(uint32_t stack, sw_buf_t *out);

/* Fork (pthread_atfork child): the mutex made again, the stacks of the
 * parent's profile forgotten (their memory is left).  Async-signal-safe
 * enough for an atfork handler: no allocation. */
void sw_memstacks_atfork_child(void);

#endif
