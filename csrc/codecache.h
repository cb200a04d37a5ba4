/* The code cache: code object address -> function name, file name, first
 * line and line table, shared by every reader of stacks (sampler, dump
 * thread, watchdog, stackwatch.dump()).  One cache per process, made at
 * import (module.c) and never freed.
 *
 * An address is not an identity: a code object can be freed and another
 * allocated at the same address -- it happens all the time: a module's
 * top-level code object is freed as soon as the import finishes.  So an
 * entry is trusted for one pass only (one sampler pass, one snapshot):
 * the first time a pass uses it, its code header is re-read and compared
 * (same type, strings, line table, first line, and co_version on 3.12+),
 * with one vectored read for every entry a stack needs.  A replaced entry
 * gets a new serial; serials are never reused, so tables keyed by serial
 * (profile sessions) never mix two functions.
 *
 * One mutex guards the cache.  Lock order: cache before any session.
 * Pointers into entries are valid while the lock is held.
 *
 * Pure C; no Python.h. */
#ifndef SW_CODECACHE_H
#define SW_CODECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "compat/reader.h"

#define SW_LINE_MEMO 4

typedef struct sw_codeinfo {
    uintptr_t addr;
    uint64_t serial;       /* unique for the process's lifetime */
    uint64_t checked_pass; /* the pass that last confirmed it */
    int valid;             /* 0: the address held no code object then */
    sw_code_ident_t id;
    char *name; /* UTF-8, owned */
    char *file;
    uint8_t *table; /* the line table, owned; NULL if unknown */
    uint32_t table_len;
    /* Lines already decoded from the table, by instruction offset: a
     * frame waiting in a call is seen at the same offset pass after
     * pass.  Direct-mapped; INT32_MIN marks an empty way. */
    int32_t memo_addr[SW_LINE_MEMO];
    int32_t memo_line[SW_LINE_MEMO];
} sw_codeinfo_t;

/* A frame after resolution. */
typedef struct sw_frameinfo {
    const sw_codeinfo_t *code;
    int line; /* -1 if unknown */
    int raw;  /* its index in the raw frames resolved */
} sw_frameinfo_t;

typedef struct sw_codecache sw_codecache_t;

/* Creates a cache of at most max_entries code objects (it is emptied
 * when full).  Context: any thread; allocates.  Returns NULL on
 * allocation failure (no other error). */
sw_codecache_t *sw_codecache_new(size_t max_entries);

/* Frees the cache and its entries; NULL is allowed.  The caller ensures
 * no thread uses it (nothing calls it today: the cache lives as long as
 * the process). */
void sw_codecache_free(sw_codecache_t *c);

/* Take / release the cache's mutex (around sw_codecache_resolve() and
 * any use of the entries it returned).  Context: any thread, no GIL
 * needed; blocks; not in a signal handler.  Lock order: cache, then a
 * session. */
void sw_codecache_lock(sw_codecache_t *c);
void sw_codecache_unlock(sw_codecache_t *c);

/* A new pass id, unique in the process (an atomic counter): entries are
 * re-checked once per pass.  Context: any thread, lock-free. */
uint64_t sw_codecache_new_pass(void);

/* Resolves raw frames (leaf first) to code entries and lines, in order,
 * dropping frames that have not started yet (3.11+ incomplete frames) and
 * frames whose code object does not validate or could not be stored
 * (counted in r->bad_frames: an allocation failure is not told apart).
 * Before 3.13, an incomplete frame under a complete one sets r->broken:
 * the stack was read while it changed.  Only the first SW_MAX_DEPTH raw
 * frames are looked at.
 * Context: caller holds the cache lock, r is the caller's reader; no GIL
 * needed; allocates on a miss (not for signal handlers).
 * Returns the number of frames written to out (0..n; never negative).
 * 0 also when the cache filled up twice while resolving this one stack
 * (the stack is given up, not counted). */
int sw_codecache_resolve(sw_codecache_t *c, sw_reader_t *r,
                         const sw_rawframe_t *raw, int n, sw_frameinfo_t *out,
                         uint64_t pass);

/* Statistics: entries held, misses (code objects read), replacements
 * (entries whose check failed and were read again, whether or not the
 * address still held a code object).  Caller holds the lock.  No
 * errors. */
void sw_codecache_stats(const sw_codecache_t *c, uint64_t *entries,
                        uint64_t *misses, uint64_t *replaced);

/* Fork support: the child of a fork() made while another thread held the
 * lock must not inherit it held.  Prepare takes the lock; parent and
 * child release it.  Context: pthread_atfork handlers (called through
 * sw_sampler_atfork_*, and only once the sampler has been started). */
void sw_codecache_atfork_prepare(sw_codecache_t *c);
void sw_codecache_atfork_parent(sw_codecache_t *c);
void sw_codecache_atfork_child(sw_codecache_t *c);

#endif
