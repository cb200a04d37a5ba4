/* The memory profiler's `c` columns (issue 14): memory C code takes from
 * the C library directly, seen by patching the global offset tables of
 * the loaded objects (no LD_PRELOAD: it works in a running process).
 *
 * Pure C; no Python.h. */
#ifndef SW_MEMGOT_H
#define SW_MEMGOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sw_memgot_stats {
    uint64_t objects; /* objects whose GOT holds at least one hook */
    uint64_t slots;   /* GOT entries patched (and not yet restored) */
    uint64_t failed;  /* entries that could not be patched (mprotect,
                         the record table full) */
    uint64_t foreign; /* entries left alone: bound to another definition
                         than the C library's (see memgot.c) */
} sw_memgot_stats_t;

/* Points the GOT entries (JUMP_SLOT and GLOB_DAT relocations of
 * undefined symbols) of malloc, calloc, realloc, reallocarray, free,
 * posix_memalign,
 * aligned_alloc, memalign, valloc, mmap, mmap64, munmap and dlopen in
 * every loaded object -- but the C library, the dynamic loader, the vDSO
 * and stackwatch itself -- at hooks that count through memtrack.h (kind
 * SW_MEM_C), and keeps the previous values.  Objects dlopen'ed later
 * through a patched dlopen are patched when it returns.  Patching twice
 * is harmless (an entry that holds a hook is left alone).
 * Context: GIL held (the patch lock is taken; dl_iterate_phdr's too).
 * Returns the number of entries patched by this call (>= 0). */
int sw_memgot_install(void);

/* Puts back every patched entry of every object still loaded, and stops
 * patching the objects dlopen'ed later.  Pointers to the hooks that
 * the program copied out of a GOT meanwhile stay valid: the hooks pass
 * straight through once tracking is off.
 * Context: GIL held.  No errors. */
void sw_memgot_uninstall(void);

/* Whether the hooks are installed.  Context: any thread. */
int sw_memgot_installed(void);

/* Fills *out.  Context: any thread. */
void sw_memgot_get_stats(sw_memgot_stats_t *out);

/* Fork: the child resets the patch lock (another thread may have held
 * it).  The entries stay patched (the hooks pass through while nothing
 * counts); memprof_py's fork handler restores them.  Async-signal-safe. */
void sw_memgot_atfork_child(void);

#endif
