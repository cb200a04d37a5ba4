/* The memory profiler's engine (issue 14): per-thread allocation
 * counters, the side table that remembers each tracked block's size and
 * owner, and the native writer thread that appends the counters to the
 * profile's files (docs/memory-format.md).
 *
 * The allocator hooks themselves (PyMem_SetAllocator wrappers) are in
 * memprof_py.c; their bodies are sw_mem_malloc() and friends, here.
 *
 * Pure C; no Python.h. */
#ifndef SW_MEMTRACK_H
#define SW_MEMTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "memstacks.h"

/* Threads with counters of their own; the later ones share the last slot,
 * written as "other-threads". */
#define SW_MEM_MAX_THREADS 4096

/* With per-greenlet counters (sw_mem_config_t.greenlets): the slots below
 * this are threads' (the last of them shared, "other-threads"), the
 * others greenlets' (SW_MEM_MAX_THREADS - SW_MEM_GREENLET_THREADS of them
 * at once: live greenlets, and ended ones some of whose blocks are still
 * live; a slot is reused once an ended greenlet's blocks are all freed). */
#define SW_MEM_GREENLET_THREADS 1024

/* Greenlets given a file of their own in one profile (the later ones are
 * counted in their threads and, once ended, in their threads' ended-
 * greenlets file). */
#define SW_MEM_MAX_GREENLET_FILES 256

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
    uint64_t sample_interval;      /* stacks: mean bytes between samples; 0:
                                 no stacks */
    sw_memstacks_tstate_fn tstate; /* stacks: the caller's thread state */
    /* The filter: whether an allocation of the calling thread counts
     * (called in the hook, after the block was given; any thread, GIL
     * held or not); NULL: every allocation counts. */
    int (*keep)(void);
    /* Per-greenlet counters too: each allocation is also counted for the
     * greenlet running on the thread (greenlet_read.h's
     * sw_greenlet_here), until sw_mem_greenlet_ended() says it is freed. */
    int greenlets;
} sw_mem_config_t;

/* Counters the Python layer can read (stats()). */
typedef struct sw_mem_stats {
    uint64_t threads;      /* slots in use */
    uint64_t tracked;      /* blocks in the hash table (big, misaligned) */
    uint64_t untracked;    /* blocks the table could not take (no memory) */
    uint64_t table_bytes;  /* the side table's own memory (resident) */
    uint64_t table_leaves; /* granule map leaves (256 KiB of words each) */
    uint64_t arenas_freed; /* pymalloc arenas freed while tracking */
    uint64_t table_given;  /* bytes of the map's pages given back for them */
    uint64_t lines;        /* data lines written */
    uint64_t write_errors; /* failed writes (the first errno in errno_) */
    int errno_;
    uint64_t greenlets;           /* greenlet slots given (greenlets=True) */
    uint64_t greenlets_unslotted; /* greenlets that found no free slot:
                                     counted in their threads only */
    uint64_t greenlet_files;      /* greenlet files created */
} sw_mem_stats_t;

/* Starts a profile: clears the counters and the side table, creates
 * dir/process.mem with its headers, starts the writer thread (one line
 * per interval).  Tracking stays off until sw_mem_set_tracking(1).
 * Context: GIL held (one caller at a time), no profile running.
 * With a sample_interval, sampled blocks' stacks go to <thread>.stack
 * (memstacks.h).
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

/* One thread's live bytes: allocated and not yet freed (by any thread),
 * both kinds, as its counters stand. */
typedef struct sw_mem_thread_live {
    long tid;      /* its native id (the first one, for the shared slot) */
    int other;     /* the slot shared by the threads past the others */
    uint64_t live; /* bytes (its greenlets' included) */
    uint32_t slot; /* its counters' slot */
} sw_mem_thread_live_t;

/* Fills out with up to max threads' live bytes, in slot order; returns
 * how many (0 when no profile runs).  Context: any thread, without the
 * GIL; reads the counters (relaxed loads), takes no lock, allocates
 * nothing.  No errors. */
size_t sw_mem_threads_live(sw_mem_thread_live_t *out, size_t max);

/* Greenlet `gid` (an id of greenlet.h's) was freed: its counters end
 * (its file gets its last line; what it still holds, and what is freed of
 * that later, go to its thread's ended-greenlets file).  Context: any
 * thread (the greenlet hook's death listener, GIL held); lock-free.  No
 * errors; nothing when greenlets are not counted. */
void sw_mem_greenlet_ended(uint32_t gid);

/* The ids of the greenlets whose files wait for a label (up to max, into
 * out); returns how many.  Context: GIL held (the naming thread). */
size_t sw_mem_greenlets_unnamed(uint32_t *out, size_t max);

/* Gives greenlet gid its label (the sampler's, greenlets.py's label()),
 * used when its file is created.  Context: GIL held.  Unknown or ended
 * greenlets are ignored. */
void sw_mem_greenlet_name(uint32_t gid, const char *label);

/* The granule map's census (a debugging aid: bench/ and tests).  pages:
 * its leaves' pages that take memory (mincore), of which pages_unmapped
 * describe 16 KiB of address space that is (partly) no longer mapped,
 * pages_idle 16 KiB that is mapped but has no page in memory; apart,
 * pages_empty: those whose words are all zero (no tracked block). */
typedef struct sw_mem_census {
    uint64_t leaves, pages, pages_unmapped, pages_idle, pages_empty;
    uint64_t pages_shared; /* of pages: not the process's own (the zero
                              page, mapped by a read), from pagemap */
} sw_mem_census_t;

/* Fills *out (all zeros when no profile ran).  Context: any thread;
 * walks the whole tree, a system call per leaf and per page that takes
 * memory: slow, not for the hooks. */
void sw_mem_map_census(sw_mem_census_t *out);

/* ---- the hooks' side ------------------------------------------------- */

typedef void *(*sw_malloc_fn)(void *ctx, size_t size);
typedef void *(*sw_calloc_fn)(void *ctx, size_t nelem, size_t elsize);
typedef void *(*sw_realloc_fn)(void *ctx, void *ptr, size_t size);
typedef void (*sw_free_fn)(void *ctx, void *ptr);

/* The bodies of the allocator hooks: call fn (the allocator that was
 * installed before the hook) with ctx and the arguments, and track the
 * block (kind: enum sw_mem_kind).  A call made inside another hook of
 * the same thread (the previous allocator calling a hooked one, a signal
 * handler interrupting the bookkeeping) or while tracking is off only
 * passes through.  Context: any thread, any allocator hook.  Lock: at
 * most one shard spinlock of the side table (big or misaligned blocks),
 * and memstacks' mutex for a sampled block; allocates nothing from any
 * allocator but mmap (and malloc for a sampled block's stack). */
void *sw_mem_malloc(sw_malloc_fn fn, void *ctx, size_t size, int kind);
void *sw_mem_calloc(sw_calloc_fn fn, void *ctx, size_t nelem, size_t elsize,
                    int kind);
void *sw_mem_realloc(sw_realloc_fn fn, void *ctx, void *ptr, size_t size,
                     int kind);
void sw_mem_free(sw_free_fn fn, void *ctx, void *ptr);

/* Pymalloc is about to give back the arena [ptr, ptr + size) (the
 * arena allocator's free hook, before the previous allocator's free):
 * every block in it is free, so its granule words are zeros (or stale),
 * and no one can be handed an address in it before it is unmapped.  The
 * pages of the granule map that describe nothing but that span are
 * given back (MADV_DONTNEED: still mapped, read back as zeros, so a
 * thread that remembers the leaf stays safe).  Does nothing while
 * tracking is off.  Context: pymalloc's, i.e. the GIL held (of the
 * arena's interpreter); a madvise per region the arena spans. */
void sw_mem_arena_freed(void *ptr, size_t size);

/* Fork (pthread_atfork, through module.c): the child stops counting,
 * resets the side table's locks, closes the parent's files without
 * writing to them and forgets the writer thread (it does not exist
 * there).  Async-signal-safe. */
void sw_mem_atfork_child(void);

/* The calling thread is stackwatch's own (for good): what it allocates is
 * not counted (no file of its own in the program's profile); blocks of the
 * program's that it frees still are. */
void sw_mem_exclude_this_thread(void);

#endif
