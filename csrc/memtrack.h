/* The memory profiler's engine (issue 14): per-thread allocation
 * counters, the side table that remembers each tracked block's size and
 * owner, and the native writer thread that appends the counters to the
 * profile's files (docs/memory-format.md).
 *
 * The allocator hooks themselves (PyMem_SetAllocator wrappers) are in
 * memprof_py.c; they call sw_mem_enter(), then the previous allocator,
 * then sw_mem_alloced() / sw_mem_forget() + sw_mem_freed(), then
 * sw_mem_leave().
 *
 * Pure C; no Python.h. */
#ifndef SW_MEMTRACK_H
#define SW_MEMTRACK_H

#include <stddef.h>
#include <stdint.h>

/* Threads with counters of their own; the later ones share the last slot,
 * written as "other-threads". */
#define SW_MEM_MAX_THREADS 4096

/* What a block was taken through (the columns it is counted in). */
enum sw_mem_kind {
    SW_MEM_PY = 0, /* Python's allocators (RAW, MEM, OBJ) */
    SW_MEM_C = 1,  /* the C library, directly */
};

typedef struct sw_mem_config {
    const char *dir;      /* DIR/<pid>, which exists */
    uint64_t interval_ns; /* between two lines (> 0) */
    const char *profile;  /* "python", "c" or "both" (written in a header) */
    long pid;
} sw_mem_config_t;

/* Counters the Python layer can read (stats()). */
typedef struct sw_mem_stats {
    uint64_t threads;      /* slots in use */
    uint64_t tracked;      /* blocks in the hash table (big, misaligned) */
    uint64_t untracked;    /* blocks the table could not take (no memory) */
    uint64_t table_bytes;  /* the side table's own memory (mapped) */
    uint64_t lines;        /* data lines written */
    uint64_t write_errors; /* failed writes (the first errno in errno_) */
    int errno_;
} sw_mem_stats_t;

/* Starts a profile: clears the counters and the side table, creates
 * dir/process.mem with its headers, starts the writer thread (one line
 * per interval).  Tracking stays off until sw_mem_set_tracking(1).
 * Context: GIL held (one caller at a time), no profile running.
 * Returns 0; SW_EBUSY when one runs; SW_ESYS (errno set) when the file
 * cannot be created or the thread started; SW_ENOMEM.  err gets a
 * message on failure. */
int sw_mem_start(const sw_mem_config_t *cfg, char *err, size_t errlen);

/* Turns the counting on or off (the hooks pass through when it is off).
 * Context: any thread.  No errors. */
void sw_mem_set_tracking(int on);

/* Ends the profile: a last line for every file (counters frozen: the
 * caller turned tracking off first), `# end <t>`, files closed, the
 * writer joined.  Context: GIL held, not the writer.  Returns 0, or
 * SW_EINVAL when no profile runs. */
int sw_mem_stop(void);

/* Whether a profile is running (started and not stopped).  Context: any
 * thread. */
int sw_mem_running(void);

/* Fills *out.  Context: any thread.  No errors. */
void sw_mem_get_stats(sw_mem_stats_t *out);

/* ---- the hooks' side ------------------------------------------------- */

/* Enters the bookkeeping of an allocator call.  Returns 1 when the call
 * must be tracked (tracking is on and this thread is not already inside
 * a hook: the previous allocator calling another hooked one, a signal
 * handler interrupting the bookkeeping); the caller then calls
 * sw_mem_leave() when done.  Returns 0 otherwise (pass through, no
 * sw_mem_leave()).  Context: any thread, any allocator hook. */
int sw_mem_enter(void);
void sw_mem_leave(void);

/* Records a new block of size bytes at p, owned by the calling thread.
 * Context: between sw_mem_enter() and sw_mem_leave().  Lock: one shard
 * spinlock of the side table, for a few instructions; allocates nothing
 * from any allocator but mmap (when the shard grows). */
void sw_mem_alloced(void *p, size_t size, int kind);

/* Removes p from the side table before the block is given back (an
 * address can be handed out again as soon as it is freed).  Returns 1
 * and its record in *rec if p was tracked, else 0.  Context: as
 * sw_mem_alloced(). */
int sw_mem_forget(void *p, uint64_t *rec);

/* Puts a record taken by sw_mem_forget() back (a realloc() that failed:
 * the block is still there).  Context: as sw_mem_alloced(). */
void sw_mem_restore(void *p, uint64_t rec);

/* Counts the block of rec as freed, against the thread that allocated
 * it.  Context: as sw_mem_alloced(). */
void sw_mem_freed(uint64_t rec);

/* Fork (pthread_atfork, through module.c): the child stops counting,
 * resets the side table's locks, closes the parent's files without
 * writing to them and forgets the writer thread (it does not exist
 * there).  Async-signal-safe. */
void sw_mem_atfork_child(void);

#endif
