/* The code cache: code object address -> function name, file name, first
 * line and line table, shared by every reader of stacks (sampler, dump
 * thread, stackwatch.dump()).
 *
 * An address is not an identity: a code object can be freed and another
 * allocated at the same address.  Entries are therefore re-checked (one
 * read of the code header: same type, strings, line table, first line,
 * and co_version on 3.12+) when they are older than the re-check period,
 * and at once when a frame's instruction offset does not fit the cached
 * code.  A replaced entry gets a new serial; serials are never reused, so
 * tables keyed by serial (profile sessions) never mix two functions.
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

typedef struct sw_codeinfo {
    uintptr_t addr;
    uint64_t serial;     /* unique for the process's lifetime */
    uint64_t checked_ns; /* when the code object was last confirmed */
    sw_code_ident_t id;
    char *name; /* UTF-8, owned */
    char *file;
    uint8_t *table; /* the line table, owned; NULL if unknown */
    uint32_t table_len;
} sw_codeinfo_t;

/* A frame after resolution. */
typedef struct sw_frameinfo {
    const sw_codeinfo_t *code;
    int line; /* -1 if unknown */
} sw_frameinfo_t;

typedef struct sw_codecache sw_codecache_t;

/* Creates a cache of at most max_entries code objects (it is emptied
 * when full).  Context: any.  Returns NULL on allocation failure. */
sw_codecache_t *sw_codecache_new(size_t max_entries);

/* Frees the cache.  The caller ensures no thread uses it. */
void sw_codecache_free(sw_codecache_t *c);

void sw_codecache_lock(sw_codecache_t *c);
void sw_codecache_unlock(sw_codecache_t *c);

/* Resolves raw frames (leaf first) to code entries and lines, in order,
 * dropping frames that have not started yet (3.11+ incomplete frames) and
 * frames whose code object does not validate (counted in r->bad_frames).
 * Context: caller holds the cache lock; no GIL needed.
 * Returns the number of frames written to out (at most n). */
int sw_codecache_resolve(sw_codecache_t *c, sw_reader_t *r,
                         const sw_rawframe_t *raw, int n, sw_frameinfo_t *out,
                         uint64_t now_ns);

/* Statistics: entries held, misses (code objects read), replacements
 * (an address that held another code object).  Caller holds the lock. */
void sw_codecache_stats(const sw_codecache_t *c, uint64_t *entries,
                        uint64_t *misses, uint64_t *replaced);

/* Fork support: the child of a fork() made while another thread held the
 * lock must not inherit it held.  Prepare takes the lock; parent and
 * child release it.  Context: pthread_atfork handlers. */
void sw_codecache_atfork_prepare(sw_codecache_t *c);
void sw_codecache_atfork_parent(sw_codecache_t *c);
void sw_codecache_atfork_child(sw_codecache_t *c);

#endif
