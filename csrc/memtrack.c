/* The memory profiler's engine: counters, side table, writer thread.
 *
 * Threads.  Every thread that allocates while tracking is on (any thread:
 * the RAW domain is called without the GIL) updates counters in a slot
 * of its own, claimed at its first tracked allocation with one atomic
 * increment and remembered in a thread-local variable (with the profile's
 * generation, so that a new profile or a forked child claims again).  The
 * counters are 64-bit atomics.  Those only the owning thread writes (what
 * it allocated, what it freed itself) are updated with a relaxed load and
 * store, no read-modify-write; a free made by another thread adds to the
 * owner's "freed" counter with a relaxed fetch-add, on a cache line of
 * its own (slot_t).  No lock.  The common case (a thread's own small
 * block, no filter) takes the fast paths (count_alloc, fast_forget),
 * about 70 instructions a call.  The writer thread (native, never takes
 * the GIL)
 * reads them every interval and appends lines to the files; it alone
 * touches the files and its per-slot state.
 *
 * The side table.  A block freed by another thread must be subtracted
 * from the thread that allocated it, with its exact size, so the size
 * and owner of every tracked block are kept, by address: small aligned
 * blocks in the granule map (a 32-bit word per 16 bytes, found through a
 * radix tree of pages, no lock: see below), the others (128 KiB and
 * more, misaligned) in a hash table split in 256 shards, each behind a
 * spinlock held for a few instructions.  Chosen over a header in front
 * of each block because a header makes the blocks allocated before
 * enable() (no header) and those freed after disable() (with one)
 * impossible to tell apart or to hand back to the previous allocator:
 * with a side table, a block allocated before enable() is simply not
 * found when freed (not counted, as it was not counted when allocated),
 * and after disable() the previous allocators are back exactly, every
 * block theirs.  And the granule map over a hash table (the first
 * version) because a hash table's random probes miss the cache on every
 * call: 3.5 times slower on an allocation-heavy loop, against (see
 * BENCHMARKS.md) for the map.  The side table's memory comes from mmap,
 * never from an allocator we hook.

 * An address is in the table at most once: the hooks insert after the
 * allocator returned the block, and remove before they give it back, so
 * no other thread can be handed the same address in between.
 *
 * Re-entrancy: a thread-local depth makes every hook that runs inside
 * another (pymalloc falling back on PyMem_RawMalloc, a signal handler
 * that interrupts the bookkeeping) pass through untracked, so a shard
 * lock is never taken twice by one thread.
 *
 * Fork: the child resets the shard locks (another thread may have held
 * one), stops counting, closes the parent's files without a byte and
 * forgets the writer thread.  Interpreter exit: the Python layer stops
 * the profile (memory.py) before the interpreter finalizes. */
#include "memtrack.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "greenlet_read.h"
#include "memstacks.h"
#include "procmem.h"
#include "service.h"
#include "snapshot.h"

/* The slot shared by the threads past the others: the last slot, or with
 * greenlets the last thread slot.  Set by sw_mem_start (nothing tracks). */
static uint32_t slot_other = SW_MEM_MAX_THREADS - 1;
#define SLOT_OTHER slot_other

/* Greenlet slots (greenlets=True): [GSLOT_FIRST, SW_MEM_MAX_THREADS). */
#define GSLOT_FIRST SW_MEM_GREENLET_THREADS
#define NGSLOTS (SW_MEM_MAX_THREADS - GSLOT_FIRST)
#define GWORDS (NGSLOTS / 64)
/* Greenlet ids are below this (greenlet.c gives at most ~1M). */
#define MAX_GID (1u << 20)

/* A record: owner slot (16 bits), kind (1 bit), size (the rest). */
#define REC_SLOT(r) ((uint32_t)((r)&0xffffu))
#define REC_KIND(r) ((int)(((r) >> 16) & 1u))
#define REC_SAMPLED(r) ((int)(((r) >> 17) & 1u))
#define REC_SIZE(r) ((r) >> 18)
#define REC_SAMPLED_BIT ((uint64_t)1 << 17)
#define REC_MAKE(size, slot, kind) \
    (((uint64_t)(size) << 18) | ((uint64_t)(kind) << 16) | (uint64_t)(slot))

/* A slot is three cache lines: the first written by the owning thread
 * alone (its allocations, its own frees), the second by the other threads
 * that free its blocks, so that a consumer freeing a producer's blocks
 * does not take the producer's line away at each of its allocations (with
 * threads running at once: RAW and C calls made without the GIL), and the
 * third, set when the slot is claimed, only read on the hot path. */
typedef struct slot {
    _Alignas(64) _Atomic uint64_t alloc[2]; /* by kind; owner only */
    _Atomic uint64_t freed_self[2];         /* by the owner */
    _Atomic uint64_t nalloc; /* a greenlet's blocks allocated (its thread) */
    _Atomic uint64_t nfreed_self;           /* and freed by its thread */
    _Alignas(64) _Atomic uint64_t freed[2]; /* by other threads */
    _Atomic uint64_t nfreed;                /* by other threads */
    _Alignas(64) _Atomic long tid;
    _Atomic unsigned long ident;
    _Atomic int used;
    /* A greenlet's slot: its id, its thread's slot, whether it was freed. */
    _Atomic uint32_t gid;
    _Atomic uint32_t parent;
    _Atomic int ended;
} slot_t;

static slot_t slots[SW_MEM_MAX_THREADS];
static _Atomic uint32_t nslots;
static _Atomic uint32_t generation = 1;
static _Atomic int tracking;
/* The kinds counted (bit 1 << kind): the `python` profile counts only
 * SW_MEM_PY, `c` only SW_MEM_C (Python's hooks are installed all the
 * same, so that what they call is not counted as C), `both` both. */
static _Atomic int counted = 1 << SW_MEM_PY;
/* The kinds (bit 1 << kind) whose allocations may take the hooks' fast
 * path (count_alloc): the counted ones when there is no filter; 0
 * otherwise. */
static _Atomic int fast_kinds;
/* The filter (sw_mem_config_t.keep), or NULL. */
static int (*_Atomic keep_fn)(void);
/* The mean of the sampling's intervals in bytes; 0: no stacks. */
static _Atomic uint64_t sample_mean;
/* Per-greenlet counters on (sw_mem_config_t.greenlets). */
static _Atomic int per_greenlet;
/* Free greenlet slots, a bit each (set: free). */
static _Atomic uint64_t gfree[GWORDS];
/* Greenlet id -> its slot (0: none), mmap'd once (MAX_GID entries,
 * pages touched as ids are used), zeroed for each profile. */
static _Atomic uint16_t *gslot_of;
static _Atomic uint64_t gslots_given;
static _Atomic uint64_t gslots_missed;

typedef _Atomic uint32_t gword_t;

typedef struct tl {
    uint32_t gen;
    uint32_t slot;
    uint32_t depth;
    uint32_t ours; /* a thread of stackwatch's: its allocations are
                      not the program's (its frees still count) */
    uint32_t cgen; /* the generation creg/cleaf were found in */
    /* For the fast paths (set by my_slot): per kind, the generation in
     * which allocations of that kind may take it (0: none); the word of
     * the thread's blocks in the granule map (G_VALID and the slot; 0 in
     * the shared slot); the thread's slot. */
    uint32_t fgen[2];
    uint32_t gbase;
    uint32_t pg; /* per-greenlet counters (per_greenlet) */
    slot_t *sp;
    /* The granule map's leaves the thread looked up last, direct-mapped
     * by region number (see granule()). */
    uintptr_t creg[4];
    uintptr_t cleaf[4];
    int64_t countdown; /* bytes to the next sampled block (stacks) */
    uint64_t rng;      /* xorshift state */
    uint32_t gid;      /* the greenlet last counted for (0: none) */
    uint32_t gslot;    /* its slot (the thread's when it has none) */
} tl_t;

/* initial-exec: no __tls_get_addr call on every allocation (136 bytes
 * of the static TLS surplus glibc keeps for libraries loaded later). */
static _Thread_local tl_t tl __attribute__((tls_model("initial-exec")));

static inline gword_t *granule(uintptr_t p, int create);

/* ---- the side table ---------------------------------------------------- */

#define NSHARDS 256
#define SHARD_MIN 512 /* entries */
#define EMPTY ((uintptr_t)0)

typedef struct entry {
    uintptr_t key;
    uint64_t rec;
} entry_t;

typedef struct shard {
    _Alignas(64) atomic_flag lock;
    entry_t *e;
    size_t cap;  /* a power of two, or 0 */
    size_t live; /* keys */
} shard_t;

static shard_t shards[NSHARDS];
static _Atomic uint64_t untracked;
static _Atomic uint64_t table_bytes;
static _Atomic uint64_t tracked;
static _Atomic uint64_t table_used; /* entries in the hash table */

static inline uint64_t
hash_ptr(uintptr_t p)
{
    uint64_t h = (uint64_t)p; /* murmur3's finalizer */

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static inline void
shard_lock(shard_t *s)
{
    unsigned spins = 0;

    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) {
        if (++spins >= 64) {
            sched_yield();
            spins = 0;
        }
    }
}

static inline void
shard_unlock(shard_t *s)
{
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static entry_t *
map_entries(size_t cap)
{
    void *m = mmap(NULL, cap * sizeof(entry_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return m == MAP_FAILED ? NULL : (entry_t *)m;
}

/* Rehashes s into cap entries.  Caller holds s's lock.  Returns 0, or -1
 * (s unchanged) when mmap fails. */
static int
shard_resize(shard_t *s, size_t cap)
{
    entry_t *ne = map_entries(cap);
    size_t i;

    if (ne == NULL) {
        return -1;
    }
    for (i = 0; i < s->cap; i++) {
        uintptr_t k = s->e[i].key;
        size_t j;

        if (k == EMPTY) {
            continue;
        }
        j = (size_t)hash_ptr(k) & (cap - 1);
        while (ne[j].key != EMPTY) {
            j = (j + 1) & (cap - 1);
        }
        ne[j] = s->e[i];
    }
    if (s->e != NULL) {
        munmap(s->e, s->cap * sizeof(entry_t));
        atomic_fetch_sub_explicit(&table_bytes, s->cap * sizeof(entry_t),
                                  memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&table_bytes, cap * sizeof(entry_t),
                              memory_order_relaxed);
    s->e = ne;
    s->cap = cap;
    return 0;
}

/* Inserts (or replaces) key.  Linear probing, at most half full, no
 * tombstones (table_take shifts the entries after a removed one back).
 * Returns 0, or -1 when the shard is full and cannot grow. */
static int
table_put(uintptr_t key, uint64_t rec)
{
    uint64_t h = hash_ptr(key);
    shard_t *s = &shards[h >> 56];
    size_t j, mask;
    int rc = 0;

    shard_lock(s);
    if ((s->live + 1) * 2 > s->cap) {
        if (shard_resize(s, s->cap ? s->cap * 2 : SHARD_MIN) < 0 &&
            s->live + 1 >= s->cap) {
            rc = -1;
            goto done;
        }
    }
    mask = s->cap - 1;
    j = (size_t)h & mask;
    for (;;) {
        uintptr_t k = s->e[j].key;

        if (k == key) {
            s->e[j].rec = rec; /* a stale record (freed behind our back) */
            goto done;
        }
        if (k == EMPTY) {
            break;
        }
        j = (j + 1) & mask;
    }
    s->e[j].key = key;
    s->e[j].rec = rec;
    s->live++;
    atomic_fetch_add_explicit(&tracked, 1, memory_order_relaxed);
done:
    shard_unlock(s);
    return rc;
}

static int
table_take(uintptr_t key, uint64_t *rec)
{
    uint64_t h = hash_ptr(key);
    shard_t *s = &shards[h >> 56];
    size_t i, j, mask;
    int found = 0;

    shard_lock(s);
    if (s->cap == 0) {
        goto done;
    }
    mask = s->cap - 1;
    i = (size_t)h & mask;
    for (;;) {
        uintptr_t k = s->e[i].key;

        if (k == EMPTY) {
            goto done;
        }
        if (k == key) {
            break;
        }
        i = (i + 1) & mask;
    }
    *rec = s->e[i].rec;
    found = 1;
    s->live--;
    atomic_fetch_sub_explicit(&tracked, 1, memory_order_relaxed);
    /* Backward shift: every later entry of the run whose home is not
     * between the hole and itself moves into the hole. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (s->e[j].key == EMPTY) {
            break;
        }
        home = (size_t)hash_ptr(s->e[j].key) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->e[i] = s->e[j];
            i = j;
        }
    }
    s->e[i].key = EMPTY;
done:
    shard_unlock(s);
    return found;
}

/* Empties the table (keeps its memory, up to a shard's first size).
 * Context: no hook tracks (tracking off). */
static void
table_clear(void)
{
    int i;

    for (i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];

        shard_lock(s);
        if (s->e != NULL) {
            munmap(s->e, s->cap * sizeof(entry_t));
            atomic_fetch_sub_explicit(&table_bytes, s->cap * sizeof(entry_t),
                                      memory_order_relaxed);
        }
        s->e = NULL;
        s->cap = s->live = 0;
        shard_unlock(s);
    }
    atomic_store(&tracked, 0);
    atomic_store(&table_used, 0);
}

/* ---- the granule map ----------------------------------------------------
 *
 * Most blocks are small and 16-byte aligned (pymalloc's, glibc's): their
 * record is a 32-bit word at a place computed from the address, one word
 * per 16-byte granule of the regions (1 MiB of address space) that held
 * tracked blocks, found through a two-level radix tree of regions (like
 * pymalloc's own arena map), with the last leaves each thread used
 * remembered in the thread (a region is an arena of pymalloc's: almost
 * every call finds its leaf there; with 4 KiB leaves, the first version,
 * pymalloc's size classes in pools of their own made 60 to 80 % of the
 * calls walk the tree).  No hashing and no probing: the words of blocks
 * allocated one after the other are next to each other (the cache lines
 * a hash table would miss), and no lock (two blocks never start in one
 * granule; a block's record is written by the thread that allocated it
 * and cleared by the one that frees it, after the program's own
 * hand-over).  Nodes
 * are created on first use, published with a compare-and-swap, and come
 * from chunks mapped with mmap, never handed back while the process runs
 * (a hook that is late by a whole profile still finds memory there):
 * between profiles their pages are given back with MADV_DONTNEED, which
 * leaves zeros.  Blocks of 128 KiB or more, misaligned blocks, and
 * addresses above 2^47 go to the hash table above instead.  Cost: 4
 * bytes per 16 bytes of the pages that held small tracked blocks (a
 * quarter of pymalloc's heap at most): a leaf is 256 KiB of address
 * space, mapped without reserve, of which only the pages written to take
 * memory (stats() counts those, with mincore).
 *
 * Giving pages back during a profile (issue 14).  A page of words, once
 * written, stays resident even when every block it described is freed:
 * the map follows the address space the allocators have used, not the
 * memory in use.  Where that address space moves, this was a slow leak:
 * pymalloc frees an arena whose blocks are all free and maps the next
 * one wherever the kernel says.  So the arena allocator is hooked too
 * (memprof_py.c) and, before an arena goes back, sw_mem_arena_freed()
 * gives back (MADV_DONTNEED) the pages of words that lie wholly inside
 * the arena's span: those words are zeros (or stale) since all its blocks
 * are free, and no thread can write one, because pymalloc runs under the
 * GIL and no allocator can hand out an address in the arena before it is
 * unmapped, which comes after.  The pages stay mapped and read back as
 * zeros, so a thread that remembers the leaf, or the leaf's pointer that
 * stays published in the tree, is still safe.  The pages at the two edges
 * of an arena, shared with the words of its neighbours' addresses, are
 * kept (at most 8 KiB per place an arena was ever mapped at, when it is
 * not 16 KiB aligned).  A leaf stays once made, even when its whole region
 * is gone: its pages were given back, only its address space stays.
 *
 * The C library's heaps are not covered, and cannot be safely: glibc
 * gives the free tail of a thread's heap back with MADV_DONTNEED (the
 * address space stays mapped, to grow into again), calling madvise
 * internally where no hook sees it, so the words of those ranges stay
 * resident up to the heap's highest extent; a scavenger that gave back
 * pages of words found all zero could race with a thread writing the
 * word of a block just allocated there (RAW and C calls hold no GIL):
 * the record would be lost and the block's free never subtracted.  No
 * such scavenger without a cost on every call.  Measured in BENCHMARKS.md
 * ("the profiler's own memory"): in the server-like workload, that is
 * where the remaining growth is, and it levels off. */

#define G_VALID (1u << 31)
#define G_KIND (1u << 30)
#define G_SAMPLED (1u << 29)
#define G_SLOT_SHIFT 17
#define G_SIZE_MAX ((1u << 17) - 1)

#define REGION_SHIFT 20 /* region number: 27 bits, 13 + 14 */
#define L1_BITS 13
#define L2_BITS 14
#define LEAF_WORDS (1u << (REGION_SHIFT - 4))

#define CHUNK_SIZE ((size_t)8 << 20)
#define MAX_CHUNKS 4096

static _Atomic(uintptr_t) l1[1u << L1_BITS];
static uintptr_t chunk_base[MAX_CHUNKS];
static _Atomic int nchunks;        /* mapped */
static _Atomic int chunk_cur = -1; /* the one being carved, or -1 */
static _Atomic size_t chunk_off;   /* in it */
static atomic_flag chunk_lock = ATOMIC_FLAG_INIT;
static _Atomic uint64_t map_bytes;
static _Atomic uint64_t map_leaves; /* leaves created (this profile) */
/* Arenas freed while tracking, and the bytes of leaf pages given back
 * for them (sw_mem_arena_freed). */
static _Atomic uint64_t arenas_freed;
static _Atomic uint64_t map_given;

/* n zeroed bytes (a multiple of 64, at most CHUNK_SIZE), or NULL. */
static void *
arena_alloc(size_t n)
{
    for (;;) {
        int cur = atomic_load_explicit(&chunk_cur, memory_order_acquire);

        if (cur >= 0) {
            size_t off = atomic_fetch_add(&chunk_off, n);

            if (off + n <= CHUNK_SIZE) {
                return (void *)(chunk_base[cur] + off);
            }
        }
        while (atomic_flag_test_and_set_explicit(&chunk_lock,
                                                 memory_order_acquire)) {
            sched_yield();
        }
        if (atomic_load(&chunk_cur) == cur) {
            int next = cur + 1;

            if (next >= atomic_load(&nchunks)) {
                void *m;

                if (next >= MAX_CHUNKS) {
                    atomic_flag_clear(&chunk_lock);
                    return NULL;
                }
                m = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (m == MAP_FAILED) {
                    atomic_flag_clear(&chunk_lock);
                    return NULL;
                }
                chunk_base[next] = (uintptr_t)m;
                atomic_store(&nchunks, next + 1);
            }
            atomic_store(&chunk_off, 0);
            atomic_store_explicit(&chunk_cur, next, memory_order_release);
        }
        atomic_flag_clear_explicit(&chunk_lock, memory_order_release);
    }
}

/* The child node in *slot, created (size bytes) when create is set. */
static uintptr_t
node_at(_Atomic(uintptr_t) *slot, size_t size, int create)
{
    uintptr_t n = atomic_load_explicit(slot, memory_order_acquire);
    uintptr_t expected = 0;

    if (n != 0 || !create) {
        return n;
    }
    n = (uintptr_t)arena_alloc(size);
    if (n == 0) {
        return 0;
    }
    if (!atomic_compare_exchange_strong_explicit(
            slot, &expected, n, memory_order_acq_rel, memory_order_acquire)) {
        return expected; /* another thread's (ours is lost: rare) */
    }
    atomic_fetch_add_explicit(&map_bytes, size, memory_order_relaxed);
    if (size == sizeof(gword_t) * LEAF_WORDS) {
        atomic_fetch_add_explicit(&map_leaves, 1, memory_order_relaxed);
    }
    return n;
}

/* The granule words of region r, walking the tree (slow path of
 * granule()). */
static __attribute__((noinline)) uintptr_t
leaf_of(uintptr_t r, int create)
{
    uintptr_t n2 =
        node_at(&l1[r >> L2_BITS], sizeof(uintptr_t) << L2_BITS, create);

    if (n2 == 0) {
        return 0;
    }
    return node_at(&((_Atomic(uintptr_t) *)n2)[r & ((1u << L2_BITS) - 1)],
                   sizeof(gword_t) * LEAF_WORDS, create);
}

/* The word of the granule at p (16-aligned, below 2^47), or NULL (no
 * leaf, and create not set or no memory).  The calling thread remembers
 * the leaves of the last regions it used, one per value of the region
 * number's two low bits (an arena that is not aligned spans two). */
static inline gword_t *
granule(uintptr_t p, int create)
{
    uintptr_t r = p >> REGION_SHIFT;
    uint32_t gen = atomic_load_explicit(&generation, memory_order_relaxed);
    tl_t *t = &tl;
    unsigned e = (unsigned)r & 3u;
    uintptr_t g;

    if (__builtin_expect(t->cgen != gen, 0)) {
        memset(t->creg, 0xff, sizeof t->creg); /* matches no region */
        t->cgen = gen;
    }
    g = t->cleaf[e];
    if (__builtin_expect(t->creg[e] != r, 0)) {
        g = leaf_of(r, create);
        if (g == 0) {
            return NULL;
        }
        t->creg[e] = r;
        t->cleaf[e] = g;
    }
    return &((gword_t *)g)[(p >> 4) & (LEAF_WORDS - 1)];
}

static inline int
in_map(uintptr_t p)
{
    return (p & 15u) == 0 && (p >> 47) == 0;
}

/* The bytes of the granule map's chunks that take memory (pages written,
 * or read: the zero page), from mincore; what was carved of them when
 * mincore fails.  Context: any thread; a system call per chunk. */
static uint64_t
map_resident(void)
{
    unsigned char vec[CHUNK_SIZE / 4096];
    long pg = sysconf(_SC_PAGESIZE);
    int i, n = atomic_load(&nchunks);
    uint64_t total = 0;

    if (pg < 4096) {
        return atomic_load(&map_bytes);
    }
    for (i = 0; i < n; i++) {
        size_t j, npg = CHUNK_SIZE / (size_t)pg;

        if (mincore((void *)chunk_base[i], CHUNK_SIZE, vec) != 0) {
            return atomic_load(&map_bytes);
        }
        for (j = 0; j < npg; j++) {
            total += (uint64_t)(vec[j] & 1u) * (uint64_t)pg;
        }
    }
    return total;
}

/* Gives every node's memory back (left mapped: zeros).  Context: no
 * profile running. */
static void
map_clear(void)
{
    int i, n = atomic_load(&nchunks);

    for (i = 0; i < (1 << L1_BITS); i++) {
        atomic_store(&l1[i], 0);
    }
    for (i = 0; i < n; i++) {
        madvise((void *)chunk_base[i], CHUNK_SIZE, MADV_DONTNEED);
    }
    atomic_store(&chunk_off, 0);
    atomic_store(&chunk_cur, -1);
    atomic_store(&map_bytes, 0);
    atomic_store(&map_leaves, 0);
    atomic_store(&arenas_freed, 0);
    atomic_store(&map_given, 0);
}

void
sw_mem_arena_freed(void *ptr, size_t size)
{
    uintptr_t a = (uintptr_t)ptr, end = a + size, r;

    /* Spans smaller than pymalloc's smallest arenas (256 KiB, 3.9) are
     * not arenas: the frame stacks' chunks of 3.11+ (16 KiB, from the
     * same allocator, freed and mapped again as a deep call stack moves
     * across a chunk's edge) hold no tracked blocks, and their words are
     * at most a page: not worth a system call each. */
    if (!atomic_load_explicit(&tracking, memory_order_relaxed) ||
        size < ((size_t)256 << 10) || end < a || ((end - 1) >> 47) != 0) {
        return;
    }
    for (r = a >> REGION_SHIFT; r <= (end - 1) >> REGION_SHIFT; r++) {
        uintptr_t base = r << REGION_SHIFT, leaf = leaf_of(r, 0);
        uintptr_t lo = a > base ? a - base : 0;
        uintptr_t hi = end - base < ((uintptr_t)1 << REGION_SHIFT)
                           ? end - base
                           : (uintptr_t)1 << REGION_SHIFT;
        /* The words of the granules wholly inside, then the pages wholly
         * inside those words. */
        uintptr_t wlo = leaf + ((lo + 15) >> 4) * sizeof(gword_t);
        uintptr_t whi = leaf + (hi >> 4) * sizeof(gword_t);

        if (leaf == 0) {
            continue;
        }
        wlo = (wlo + 4095) & ~(uintptr_t)4095;
        whi &= ~(uintptr_t)4095;
        if (wlo < whi && madvise((void *)wlo, whi - wlo, MADV_DONTNEED) == 0) {
            atomic_fetch_add_explicit(&map_given, whi - wlo,
                                      memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&arenas_freed, 1, memory_order_relaxed);
}

void
sw_mem_map_census(sw_mem_census_t *out)
{
    static unsigned char vec[LEAF_WORDS * sizeof(gword_t) / 4096];
    static uint64_t pmv[sizeof vec];
    unsigned char avec[16384 / 4096];
    size_t i, j, k;
    int pm;

    memset(out, 0, sizeof *out);
    if (sysconf(_SC_PAGESIZE) != 4096) {
        return;
    }
    pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    for (i = 0; i < ((size_t)1 << L1_BITS); i++) {
        uintptr_t n2 = atomic_load_explicit(&l1[i], memory_order_acquire);

        if (n2 == 0) {
            continue;
        }
        for (j = 0; j < ((size_t)1 << L2_BITS); j++) {
            uintptr_t leaf = atomic_load_explicit(
                &((_Atomic(uintptr_t) *)n2)[j], memory_order_acquire);
            uintptr_t region = ((i << L2_BITS) | j) << REGION_SHIFT;

            if (leaf == 0) {
                continue;
            }
            out->leaves++;
            if (mincore((void *)leaf, sizeof vec * 4096, vec) != 0) {
                continue;
            }
            if (pm < 0 || pread(pm, pmv, sizeof pmv,
                                (off_t)(leaf / 4096 * sizeof(uint64_t))) !=
                              (ssize_t)sizeof pmv) {
                memset(pmv, 0xff, sizeof pmv);
            }
            /* Each page of words covers 4096 / 4 granules: 16 KiB. */
            for (k = 0; k < sizeof vec; k++) {
                uintptr_t a = region + k * (4096 / sizeof(gword_t)) * 16;
                size_t m, any = 0;

                if (!(vec[k] & 1u)) {
                    continue;
                }
                out->pages++;
                if (!((pmv[k] >> 56) & 1u)) {
                    out->pages_shared++; /* the zero page */
                }
                {
                    const gword_t *w = (const gword_t *)(leaf + k * 4096);
                    size_t z;

                    for (z = 0; z < 4096 / sizeof(gword_t); z++) {
                        if (atomic_load_explicit(&w[z],
                                                 memory_order_relaxed)) {
                            break;
                        }
                    }
                    if (z == 4096 / sizeof(gword_t)) {
                        out->pages_empty++;
                    }
                }
                if (mincore((void *)a, sizeof avec * 4096, avec) != 0) {
                    out->pages_unmapped++; /* (some of) it unmapped */
                    continue;
                }
                for (m = 0; m < sizeof avec; m++) {
                    any |= avec[m] & 1u;
                }
                if (!any) {
                    out->pages_idle++;
                }
            }
        }
    }
    if (pm >= 0) {
        close(pm);
    }
}

/* ---- the hooks' side ---------------------------------------------------- */

static inline int
mem_enter(void)
{
    tl_t *t = &tl;

    if (!atomic_load_explicit(&tracking, memory_order_relaxed) ||
        t->depth != 0) {
        return 0;
    }
    t->depth = 1;
    return 1;
}

static inline void
mem_leave(void)
{
    tl.depth = 0;
}

/* For an allocation: tracked, and not by a thread of ours. */
static inline int
mem_enter_alloc(void)
{
    return !tl.ours && mem_enter();
}

void
sw_mem_exclude_this_thread(void)
{
    tl.ours = 1;
}

/* The calling thread's slot (claimed at its first tracked call). */
static uint32_t
my_slot(tl_t *t)
{
    uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    uint32_t i;

    if (t->gen == gen) {
        return t->slot;
    }
    i = atomic_fetch_add_explicit(&nslots, 1, memory_order_relaxed);
    if (i >= SLOT_OTHER) {
        i = SLOT_OTHER;
    }
    else {
        atomic_store_explicit(&slots[i].tid, (long)syscall(SYS_gettid),
                              memory_order_relaxed);
        atomic_store_explicit(&slots[i].ident, (unsigned long)pthread_self(),
                              memory_order_relaxed);
    }
    atomic_store_explicit(&slots[i].used, 1, memory_order_release);
    t->gen = gen;
    t->slot = i;
    /* No stacks: never a sample due (the fast path compares only). */
    t->countdown =
        atomic_load_explicit(&sample_mean, memory_order_relaxed) != 0
            ? 0
            : INT64_MAX;
    t->gid = 0;
    {
        int k, fk = atomic_load_explicit(&fast_kinds, memory_order_relaxed);

        for (k = 0; k < 2; k++) {
            t->fgen[k] = i != SLOT_OTHER && (fk & (1 << k)) ? gen : 0;
        }
    }
    t->gbase = i != SLOT_OTHER ? G_VALID | (i << G_SLOT_SHIFT) : 0;
    t->sp = &slots[i];
    t->pg =
        (uint32_t)atomic_load_explicit(&per_greenlet, memory_order_relaxed);
    /* The leaves remembered are those of this generation from now on
     * (the fast paths rely on it). */
    memset(t->creg, 0xff, sizeof t->creg); /* matches no region */
    t->cgen = gen;
    return i;
}

static inline int
is_gslot(uint32_t i)
{
    return i >= GSLOT_FIRST &&
           atomic_load_explicit(&per_greenlet, memory_order_relaxed);
}

/* A free greenlet slot taken, or 0 when none is free.  Lock-free. */
static uint32_t
claim_gslot(void)
{
    int w;

    for (w = 0; w < GWORDS; w++) {
        uint64_t b = atomic_load_explicit(&gfree[w], memory_order_acquire);

        while (b != 0) {
            uint64_t bit = b & (~b + 1);

            if (atomic_compare_exchange_weak_explicit(&gfree[w], &b, b & ~bit,
                                                      memory_order_acquire,
                                                      memory_order_acquire)) {
                return GSLOT_FIRST + (uint32_t)w * 64 +
                       (uint32_t)__builtin_ctzll(bit);
            }
        }
    }
    return 0;
}

/* The slot that counts an allocation of thread slot `thread` while
 * greenlet g runs on it: g's own (claimed at its first allocation), or
 * the thread's when g ended, has an id out of range or found no free
 * slot.  The thread remembers the last greenlet it looked up. */
static uint32_t
greenlet_slot(tl_t *t, uint32_t g, uint32_t thread)
{
    uint32_t v;
    slot_t *s;

    if (t->gid == g) {
        v = t->gslot;
        if (v == thread) {
            return thread;
        }
        s = &slots[v];
        if (atomic_load_explicit(&s->gid, memory_order_relaxed) == g &&
            !atomic_load_explicit(&s->ended, memory_order_relaxed)) {
            return v;
        }
        t->gslot = thread; /* ended (a stale id: tracking was off) */
        return thread;
    }
    t->gid = g;
    t->gslot = thread;
    if (g >= MAX_GID || gslot_of == NULL) {
        return thread;
    }
    v = atomic_load_explicit(&gslot_of[g], memory_order_acquire);
    if (v != 0) {
        s = &slots[v];
        if (atomic_load_explicit(&s->gid, memory_order_relaxed) == g &&
            !atomic_load_explicit(&s->ended, memory_order_relaxed)) {
            t->gslot = v;
            return v;
        }
        return thread; /* it had one, and ended */
    }
    v = claim_gslot();
    if (v == 0) {
        atomic_fetch_add_explicit(&gslots_missed, 1, memory_order_relaxed);
        return thread;
    }
    s = &slots[v];
    atomic_store_explicit(&s->gid, g, memory_order_relaxed);
    atomic_store_explicit(&s->parent, thread, memory_order_relaxed);
    atomic_store_explicit(&s->ended, 0, memory_order_relaxed);
    atomic_store_explicit(&s->used, 1, memory_order_release);
    atomic_store_explicit(&gslot_of[g], (uint16_t)v, memory_order_release);
    atomic_fetch_add_explicit(&gslots_given, 1, memory_order_relaxed);
    t->gslot = v;
    return v;
}

void
sw_mem_greenlet_ended(uint32_t gid)
{
    uint32_t v;

    if (!atomic_load(&per_greenlet) || gslot_of == NULL || gid == 0 ||
        gid >= MAX_GID) {
        return;
    }
    v = atomic_load_explicit(&gslot_of[gid], memory_order_acquire);
    if (v >= GSLOT_FIRST && atomic_load(&slots[v].gid) == gid) {
        atomic_store_explicit(&slots[v].ended, 1, memory_order_release);
    }
}

/* Records rec (the 64-bit form) for p: in the granule map when it fits,
 * else in the hash table.  Returns 0, or -1 when neither can take it. */
static inline int
put(uintptr_t p, uint64_t rec)
{
    if (in_map(p) && REC_SIZE(rec) <= G_SIZE_MAX) {
        gword_t *g = granule(p, 1);

        if (g != NULL) {
            atomic_store_explicit(g,
                                  G_VALID | (REC_KIND(rec) ? G_KIND : 0) |
                                      (REC_SAMPLED(rec) ? G_SAMPLED : 0) |
                                      (REC_SLOT(rec) << G_SLOT_SHIFT) |
                                      (uint32_t)REC_SIZE(rec),
                                  memory_order_relaxed);
            return 0;
        }
    }
    if (table_put(p, rec) < 0) {
        return -1;
    }
    atomic_fetch_add_explicit(&table_used, 1, memory_order_relaxed);
    return 0;
}

/* An exponential draw of mean bytes (the gap to the next sampled
 * byte), from the thread's own xorshift generator. */
static int64_t
draw(tl_t *t, uint64_t mean)
{
    double u;

    if (t->rng == 0) {
        t->rng = sw_now_ns() ^ ((uint64_t)(uintptr_t)t << 17) ^
                 0x9e3779b97f4a7c15ull;
    }
    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 7;
    t->rng ^= t->rng << 17;
    u = ((double)(t->rng >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    return (int64_t)(-log(u) * (double)mean) + 1;
}

static inline void
mem_alloced(void *p, size_t size, int kind)
{
    tl_t *t = &tl;
    uint32_t i, owner;
    uint64_t mean, rec, weight = 0;
    int (*keep)(void) = atomic_load_explicit(&keep_fn, memory_order_relaxed);

    if (!(atomic_load_explicit(&counted, memory_order_relaxed) &
          (1 << kind)) ||
        (keep != NULL && !keep())) {
        return;
    }
    i = my_slot(t);
    owner = i;
    if (atomic_load_explicit(&per_greenlet, memory_order_relaxed) &&
        i != SLOT_OTHER && sw_greenlet_here != 0) {
        owner = greenlet_slot(t, sw_greenlet_here, i);
    }
    mean = atomic_load_explicit(&sample_mean, memory_order_relaxed);
    rec = REC_MAKE(size, owner, kind);
    if (mean != 0) {
        /* Poisson sampling by bytes: each byte is sampled with
         * probability 1/mean, so a block of size bytes is with
         * probability 1 - exp(-size/mean), and stands for
         * size / (1 - exp(-size/mean)) bytes (unbiased). */
        if (t->countdown == 0) {
            t->countdown = draw(t, mean);
        }
        t->countdown -= (int64_t)size;
        if (t->countdown <= 0) {
            double q = -expm1(-(double)size / (double)mean);

            while (t->countdown <= 0) {
                t->countdown += draw(t, mean);
            }
            weight = q > 0 ? (uint64_t)((double)size / q + 0.5) : mean;
            rec |= REC_SAMPLED_BIT;
        }
    }
    if (put((uintptr_t)p, rec) < 0) {
        atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
        return;
    }
    if (weight != 0) {
        sw_memstacks_alloced(p, i, weight); /* in the thread's .stack */
    }
    /* One writer (the owner, or a greenlet's thread), except for the
     * shared last slot. */
    if (owner == SLOT_OTHER) {
        atomic_fetch_add_explicit(&slots[owner].alloc[kind], size,
                                  memory_order_relaxed);
    }
    else {
        slot_t *s = &slots[owner];

        atomic_store_explicit(
            &s->alloc[kind],
            atomic_load_explicit(&s->alloc[kind], memory_order_relaxed) + size,
            memory_order_relaxed);
        if (owner != i) {
            atomic_store_explicit(
                &s->nalloc,
                atomic_load_explicit(&s->nalloc, memory_order_relaxed) + 1,
                memory_order_release);
        }
    }
}

static inline int
mem_forget(void *p, uint64_t *rec)
{
    uintptr_t a = (uintptr_t)p;

    if (in_map(a)) {
        gword_t *g = granule(a, 0);

        if (g != NULL) {
            uint32_t w = atomic_load_explicit(g, memory_order_relaxed);

            if (w & G_VALID) {
                atomic_store_explicit(g, 0, memory_order_relaxed);
                *rec = REC_MAKE(w & G_SIZE_MAX, (w >> G_SLOT_SHIFT) & 0xfffu,
                                (w & G_KIND) ? 1 : 0) |
                       ((w & G_SAMPLED) ? REC_SAMPLED_BIT : 0);
                goto found;
            }
        }
    }
    if (atomic_load_explicit(&table_used, memory_order_relaxed) == 0 ||
        !table_take(a, rec)) {
        return 0;
    }
    atomic_fetch_sub_explicit(&table_used, 1, memory_order_relaxed);
found:
    if (REC_SAMPLED(*rec)) {
        /* Before the block is given back: its address may be handed out
         * (and sampled) again at once. */
        sw_memstacks_freed(p);
        *rec &= ~REC_SAMPLED_BIT;
    }
    return 1;
}

static inline void mem_freed(uint64_t rec);

static void
mem_restore(void *p, uint64_t rec)
{
    if (put((uintptr_t)p, rec) < 0) {
        /* The block stays but cannot be found when freed: count it freed
         * now, so that live bytes do not grow forever. */
        mem_freed(rec);
        atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
    }
}

static inline void
mem_freed(uint64_t rec)
{
    uint32_t owner = REC_SLOT(rec);
    int kind = REC_KIND(rec);
    tl_t *t = &tl;

    int g = is_gslot(owner);

    if (owner != SLOT_OTHER &&
        t->gen == atomic_load_explicit(&generation, memory_order_relaxed) &&
        (t->slot == owner ||
         (g && atomic_load_explicit(&slots[owner].parent,
                                    memory_order_relaxed) == t->slot))) {
        _Atomic uint64_t *c = &slots[owner].freed_self[kind];

        atomic_store_explicit(
            c, atomic_load_explicit(c, memory_order_relaxed) + REC_SIZE(rec),
            memory_order_relaxed);
        if (g) {
            /* After the bytes: the writer reuses the slot of an ended
             * greenlet once nfreed_self + nfreed reach nalloc. */
            c = &slots[owner].nfreed_self;
            atomic_store_explicit(
                c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                memory_order_release);
        }
    }
    else {
        atomic_fetch_add_explicit(&slots[owner].freed[kind], REC_SIZE(rec),
                                  memory_order_relaxed);
        if (g) {
            atomic_fetch_add_explicit(&slots[owner].nfreed, 1,
                                      memory_order_release);
        }
    }
}

/* ---- the fast paths -----------------------------------------------------
 * What most calls come to, written out apart so that the compiler keeps
 * them short: a small 16-aligned block of a counted kind, no filter, no
 * per-greenlet counters, no sample due, the thread's slot claimed in this
 * profile and its own, the leaf of the block's region remembered by the
 * thread.  Everything else is left to mem_alloced/mem_forget/mem_freed
 * (which decide the same way, the long way round).  Measured with
 * callgrind in BENCHMARKS.md ("the hooks' cost per call"). */

/* The remembered leaf of a's region, or 0.  Valid only when t->gen is
 * the current generation (my_slot cleared them when it set t->gen). */
static inline uintptr_t
cached_leaf(const tl_t *t, uintptr_t a)
{
    uintptr_t r = a >> REGION_SHIFT;
    unsigned e = (unsigned)r & 3u;

    return t->creg[e] == r ? t->cleaf[e] : 0;
}

static __attribute__((noinline)) void
alloced_slow(void *p, size_t size, int kind)
{
    mem_alloced(p, size, kind);
}

/* Counts block p of size bytes, the fast way when it can. */
static inline void
count_alloc(tl_t *t, void *p, size_t size, int kind)
{
    uintptr_t a = (uintptr_t)p, g;

    if (t->fgen[kind] ==
            atomic_load_explicit(&generation, memory_order_relaxed) &&
        ((a & 15u) | (a >> 47) | (size > G_SIZE_MAX)) == 0 &&
        t->countdown > (int64_t)size && (g = cached_leaf(t, a)) != 0) {
        slot_t *s = t->sp;
        uint32_t base = t->gbase, gid;

        if (t->pg && (gid = sw_greenlet_here) != 0) {
            /* The running greenlet's slot, when it is the one the thread
             * found last (greenlet_slot) and still its own. */
            if (gid != t->gid || t->gslot == t->slot) {
                alloced_slow(p, size, kind);
                return;
            }
            s = &slots[t->gslot];
            if (atomic_load_explicit(&s->gid, memory_order_relaxed) != gid ||
                atomic_load_explicit(&s->ended, memory_order_relaxed)) {
                alloced_slow(p, size, kind);
                return;
            }
            base = G_VALID | (t->gslot << G_SLOT_SHIFT);
        }
        t->countdown -= (int64_t)size;
        atomic_store_explicit(&((gword_t *)g)[(a >> 4) & (LEAF_WORDS - 1)],
                              base | (kind ? G_KIND : 0) | (uint32_t)size,
                              memory_order_relaxed);
        atomic_store_explicit(
            &s->alloc[kind],
            atomic_load_explicit(&s->alloc[kind], memory_order_relaxed) + size,
            memory_order_relaxed);
        if (s != t->sp) {
            /* After the bytes (the writer's reuse test: mem_alloced). */
            atomic_store_explicit(
                &s->nalloc,
                atomic_load_explicit(&s->nalloc, memory_order_relaxed) + 1,
                memory_order_release);
        }
        return;
    }
    alloced_slow(p, size, kind);
}

/* Takes the record of block a out of the granule map when the fast path
 * can free it (the thread's own block, not sampled, its leaf
 * remembered): returns the record's size and kind (G_KIND) bits, cleared
 * in the map (the block is the caller's to give back), or 0 when
 * mem_forget must look. */
static inline uint32_t
fast_forget(const tl_t *t, uintptr_t a, slot_t **owner)
{
    gword_t *gw;
    uintptr_t g;
    uint32_t w;

    if (t->gen != atomic_load_explicit(&generation, memory_order_relaxed) ||
        ((a & 15u) | (a >> 47)) != 0 || (g = cached_leaf(t, a)) == 0) {
        return 0;
    }
    gw = &((gword_t *)g)[(a >> 4) & (LEAF_WORDS - 1)];
    w = atomic_load_explicit(gw, memory_order_relaxed);
    /* Valid, not sampled, the thread's own (gbase is 0 in the shared
     * slot: never equal)... */
    if ((w & (G_VALID | G_SAMPLED | (0xfffu << G_SLOT_SHIFT))) == t->gbase) {
        *owner = t->sp;
    }
    /* ...or one of its greenlets' (mem_freed's test). */
    else if (t->pg && t->gbase != 0 &&
             (w & (G_VALID | G_SAMPLED)) == G_VALID &&
             ((w >> G_SLOT_SHIFT) & 0xfffu) >= GSLOT_FIRST &&
             atomic_load_explicit(&slots[(w >> G_SLOT_SHIFT) & 0xfffu].parent,
                                  memory_order_relaxed) == t->slot) {
        *owner = &slots[(w >> G_SLOT_SHIFT) & 0xfffu];
    }
    else {
        return 0;
    }
    atomic_store_explicit(gw, 0, memory_order_relaxed);
    return w;
}

/* ---- the hooks' bodies --------------------------------------------------
 * Insert after the block is given, remove before it is given back. */

void *
sw_mem_malloc(sw_malloc_fn fn, void *ctx, size_t size, int kind)
{
    void *p;

    tl_t *t = &tl;

    if (!mem_enter_alloc()) {
        return fn(ctx, size);
    }
    p = fn(ctx, size);
    if (p != NULL) {
        count_alloc(t, p, size, kind);
    }
    mem_leave();
    return p;
}

void *
sw_mem_calloc(sw_calloc_fn fn, void *ctx, size_t nelem, size_t elsize,
              int kind)
{
    void *p;

    if (!mem_enter_alloc()) {
        return fn(ctx, nelem, elsize);
    }
    p = fn(ctx, nelem, elsize);
    if (p != NULL) {
        /* The product did not overflow: the allocator checked. */
        mem_alloced(p, nelem * elsize, kind);
    }
    mem_leave();
    return p;
}

void *
sw_mem_realloc(sw_realloc_fn fn, void *ctx, void *ptr, size_t size, int kind)
{
    uint64_t rec = 0;
    int had = 0;
    void *p;

    if (!mem_enter()) {
        return fn(ctx, ptr, size);
    }
    if (ptr != NULL) {
        had = mem_forget(ptr, &rec);
    }
    p = fn(ctx, ptr, size);
    if (p == NULL) {
        if (had) {
            mem_restore(ptr, rec); /* failed: the block is still there */
        }
    }
    else {
        if (had) {
            mem_freed(rec);
        }
        if (!tl.ours) {
            mem_alloced(p, size, kind);
        }
    }
    mem_leave();
    return p;
}

void
sw_mem_free(sw_free_fn fn, void *ctx, void *ptr)
{
    tl_t *t = &tl;
    slot_t *owner = NULL;
    uint64_t rec = 0;
    uint32_t w;
    int had;

    if (ptr == NULL || !mem_enter()) {
        fn(ctx, ptr);
        return;
    }
    w = fast_forget(t, (uintptr_t)ptr, &owner);
    if (w != 0) {
        /* The calling thread's own block (or its greenlet's): counters
         * only it writes. */
        _Atomic uint64_t *c = &owner->freed_self[(w & G_KIND) ? 1 : 0];

        fn(ctx, ptr);
        atomic_store_explicit(c,
                              atomic_load_explicit(c, memory_order_relaxed) +
                                  (w & G_SIZE_MAX),
                              memory_order_relaxed);
        if (owner != t->sp) {
            /* After the bytes (mem_freed). */
            atomic_store_explicit(&owner->nfreed_self,
                                  atomic_load_explicit(&owner->nfreed_self,
                                                       memory_order_relaxed) +
                                      1,
                                  memory_order_release);
        }
        mem_leave();
        return;
    }
    had = mem_forget(ptr, &rec);
    fn(ctx, ptr);
    if (had) {
        mem_freed(rec);
    }
    mem_leave();
}

void
sw_mem_set_tracking(int on)
{
    atomic_store(&tracking, on ? 1 : 0);
}

/* ---- the writer ---------------------------------------------------------
 *
 * One per profile.  Owns everything below (the files, their state); the
 * GIL side only starts it (sw_mem_start) and stops it (sw_mem_stop). */

/* How long a new thread's file waits for the thread's name (the service
 * thread sends names); after that it is named after its native id. */
#define NAME_WAIT_NS 1000000000ull
#define NAME_MAX_LEN 200

typedef struct wslot {
    int fd;             /* -1: no file yet */
    int sfd;            /* the .stack file (stacks), -1: none yet */
    sw_buf_t pending;   /* .stack lines before the file has its name */
    uint8_t *defined;   /* bit per stack id: its "s" line was written */
    size_t defined_cap; /* bytes */
    int waiting; /* named? 0 not seen, 1 waiting for a name, 2 has a file;
                    a greenlet's: 3 its file ended, 4 no file (too many) */
    uint64_t seen_ns;
    int has_line;
    uint64_t last[4]; /* the counters of the last line written */
    char name[NAME_MAX_LEN + 1];
    /* A thread's, with greenlets: its counters with its greenlets' (agg),
     * its ended greenlets' (eagg: eacc, the ended greenlets whose slots
     * were reused, plus those not yet reused), their file. */
    uint64_t agg[4], eagg[4], eacc[4], elast[4];
    int has_ended, efd, ehas_line;
    char ename[NAME_MAX_LEN + 1];
    /* A greenlet's label, given by sw_mem_greenlet_name (under gmu). */
    uint32_t label_gid;
    char label[NAME_MAX_LEN + 1];
} wslot_t;

/* Guards the greenlets' labels (wslot_t.label*) and gslot_of lookups
 * made to give them: the naming thread sets, the writer reads. */
static pthread_mutex_t gmu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t gfiles;

typedef struct writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int started;
    uint64_t start_ns;
    uint64_t interval_ns;
    char dir[4096];
    int pfd;                  /* process.mem */
    uint64_t sample_interval; /* 0: no stacks */
    sw_memevent_t *ev;        /* drained events */
    size_t evcap;
    sw_buf_t sbuf;  /* a .stack record being made */
    wslot_t *ws;    /* SW_MEM_MAX_THREADS */
    char *line;     /* a line buffer */
    uint64_t lines; /* written */
    int fresh;      /* a greenlet started to wait for its label */
    uint64_t write_errors;
    int first_errno;
} writer_t;

static writer_t W = {.pfd = -1};
static _Atomic int running;
static _Atomic uint64_t lines_written;
static _Atomic uint64_t write_errors;
static _Atomic int write_errno;

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);

        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (atomic_fetch_add(&write_errors, 1) == 0) {
                atomic_store(&write_errno, errno);
            }
            return;
        }
        p += k;
        n -= (size_t)k;
    }
}

static double
secs(uint64_t now)
{
    return now > W.start_ns ? (double)(now - W.start_ns) / 1e9 : 0.0;
}

/* Letters, digits, '.', '_' and '-' stay; every other byte becomes '_';
 * "" and names made of dots become "_". */
static void
safe_name(const char *in, char *out, size_t cap)
{
    size_t i, n = 0;
    int only_dots = 1;

    for (i = 0; in[i] != '\0' && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

        out[n++] = ok ? (char)c : '_';
        if (c != '.') {
            only_dots = 0;
        }
    }
    out[n] = '\0';
    if (n == 0 || only_dots) {
        snprintf(out, cap, "_");
    }
}

static int
name_taken(const char *file)
{
    int i;

    if (strcmp(file, "process") == 0) {
        return 1;
    }
    for (i = 0; i < SW_MEM_MAX_THREADS; i++) {
        if ((W.ws[i].waiting == 2 || W.ws[i].waiting == 3) &&
            strcmp(W.ws[i].name, file) == 0) {
            return 1;
        }
        if (W.ws[i].ename[0] != '\0' && strcmp(W.ws[i].ename, file) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
open_file(const char *base)
{
    char path[4096 + NAME_MAX_LEN + 16];

    snprintf(path, sizeof path, "%s/%s.mem", W.dir, base);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* A name made one line (a header line holds it). */
static void
no_breaks(char *name)
{
    for (; *name != '\0'; name++) {
        if (*name == '\n' || *name == '\r') {
            *name = ' ';
        }
    }
}

/* Opens slot w's .mem file as BASE (a failure is counted in
 * write_errors; the slot keeps fd -1) and marks it named. */
static void
open_slot_file(wslot_t *w, const char *base)
{
    w->fd = open_file(base);
    if (w->fd < 0) {
        if (atomic_fetch_add(&write_errors, 1) == 0) {
            atomic_store(&write_errno, errno);
        }
    }
    snprintf(w->name, sizeof w->name, "%s", base);
    w->waiting = 2;
}

/* A slot without a name yet: starts its wait (the service thread is
 * asked for names) and says whether the wait is over (NAME_WAIT_NS
 * passed, or the final pass), so the caller names it itself. */
static int
stop_waiting(wslot_t *w, uint64_t now, int final)
{
    if (w->waiting == 0) {
        w->waiting = 1;
        w->seen_ns = now;
        W.fresh = 1;
    }
    return final || now - w->seen_ns >= NAME_WAIT_NS;
}

/* Gives slot i its file (named, or after its native id when no name
 * came).  Returns 1 when the file exists now. */
static int
name_slot(int i, uint64_t now, int final)
{
    wslot_t *w = &W.ws[i];
    long tid = atomic_load(&slots[i].tid);
    unsigned long ident = atomic_load(&slots[i].ident);
    char name[64], base[NAME_MAX_LEN + 1], hdr[512];
    int named;

    if (w->waiting == 2) {
        return 1;
    }
    if ((uint32_t)i == SLOT_OTHER) {
        snprintf(name, sizeof name, "other-threads");
        named = 1;
        tid = 0;
    }
    else {
        named = sw_names_get(ident, tid, name, sizeof name);
    }
    if (!named) {
        if (!stop_waiting(w, now, final)) {
            return 0;
        }
        snprintf(name, sizeof name, "thread-%ld", tid);
    }
    safe_name(name, base, sizeof base);
    if (name_taken(base)) {
        char other[NAME_MAX_LEN + 1];

        snprintf(other, sizeof other, "%.150s-%ld", base, tid);
        snprintf(base, sizeof base, "%s", other);
        if (name_taken(base)) {
            snprintf(other, sizeof other, "%.150s-%d", base, i);
            snprintf(base, sizeof base, "%s", other);
        }
    }
    open_slot_file(w, base);
    if (w->fd >= 0) {
        int n;

        no_breaks(name); /* the name as the thread has it */
        n = snprintf(hdr, sizeof hdr,
                     "# stackwatch-mem 1 thread\n# name %s\n"
                     "# native_id %ld\n# columns t py_live c_live py_alloc "
                     "py_free c_alloc c_free\n",
                     name, tid);
        write_all(w->fd, hdr, (size_t)n);
    }
    if (W.sample_interval != 0) {
        char path[4096 + NAME_MAX_LEN + 16];

        snprintf(path, sizeof path, "%s/%s.stack", W.dir, base);
        w->sfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->sfd < 0) {
            if (atomic_fetch_add(&write_errors, 1) == 0) {
                atomic_store(&write_errno, errno);
            }
        }
        else {
            int n = snprintf(hdr, sizeof hdr,
                             "# stackwatch-mem 1 stacks\n# name %s\n"
                             "# native_id %ld\n# sample_interval %llu\n",
                             name, tid, (unsigned long long)W.sample_interval);

            write_all(w->sfd, hdr, (size_t)n);
            write_all(w->sfd, w->pending.data, w->pending.len);
        }
        sw_buf_free(&w->pending);
    }
    return 1;
}

/* base made unique among the files (name_taken): "-<n>" appended. */
static void
unique_base(char *base, size_t cap, long n)
{
    char other[NAME_MAX_LEN + 1];

    if (!name_taken(base)) {
        return;
    }
    snprintf(other, sizeof other, "%.150s-%ld", base, n);
    snprintf(base, cap, "%s", other);
    if (name_taken(base)) {
        snprintf(other, sizeof other, "%.150s-%ld-2", base, n);
        snprintf(base, cap, "%s", other);
    }
}

/* Gives greenlet slot v its file (named after its label, or "greenlet
 * #<id>" when none came within NAME_WAIT_NS), once its thread's file has
 * its name.  Returns 1 when the file exists now. */
static int
name_gslot(uint32_t v, uint64_t now, int final)
{
    wslot_t *w = &W.ws[v];
    uint32_t gid = atomic_load(&slots[v].gid);
    uint32_t parent = atomic_load(&slots[v].parent);
    wslot_t *pw = &W.ws[parent];
    char label[NAME_MAX_LEN + 1], base[NAME_MAX_LEN + 1], hdr[1024];
    int named, n;

    if (w->waiting == 2) {
        return 1;
    }
    if (w->waiting >= 3) {
        return 0;
    }
    if (atomic_load(&gfiles) >= SW_MEM_MAX_GREENLET_FILES) {
        w->waiting = 4;
        return 0;
    }
    pthread_mutex_lock(&gmu);
    named = w->label_gid == gid && w->label[0] != '\0';
    if (named) {
        snprintf(label, sizeof label, "%s", w->label);
    }
    pthread_mutex_unlock(&gmu);
    if (!named) {
        if (!stop_waiting(w, now, final)) {
            return 0;
        }
        snprintf(label, sizeof label, "greenlet #%u", gid);
    }
    if (pw->waiting != 2 && !final) {
        if (w->waiting == 0) {
            w->seen_ns = now;
            W.fresh = 1;
        }
        w->waiting = 1; /* its thread's file first (its name in ours) */
        return 0;
    }
    safe_name(label, base, sizeof base);
    unique_base(base, sizeof base, (long)gid);
    open_slot_file(w, base);
    atomic_fetch_add(&gfiles, 1);
    if (w->fd >= 0) {
        no_breaks(label);
        n = snprintf(hdr, sizeof hdr,
                     "# stackwatch-mem 1 greenlet\n# name %s\n"
                     "# greenlet_id %u\n# thread %s\n# native_id %ld\n"
                     "# columns t py_live c_live py_alloc py_free c_alloc "
                     "c_free\n",
                     label, gid, pw->name[0] ? pw->name : "?",
                     atomic_load(&slots[parent].tid));
        write_all(w->fd, hdr, (size_t)n);
    }
    return 1;
}

/* Gives thread slot i's ended-greenlets file ("<thread file>.ended-
 * greenlets.mem"), once the thread's file has its name.  Returns 1 when
 * the file exists now. */
static int
name_ended(uint32_t i)
{
    wslot_t *w = &W.ws[i];
    char base[NAME_MAX_LEN + 1], hdr[1024];
    int n;

    if (w->ename[0] != '\0') {
        return w->efd >= 0;
    }
    if (w->waiting != 2) {
        return 0;
    }
    snprintf(base, sizeof base, "%.170s.ended-greenlets", w->name);
    unique_base(base, sizeof base, atomic_load(&slots[i].tid));
    snprintf(w->ename, sizeof w->ename, "%s", base);
    w->efd = open_file(base);
    if (w->efd < 0) {
        if (atomic_fetch_add(&write_errors, 1) == 0) {
            atomic_store(&write_errno, errno);
        }
        return 0;
    }
    n = snprintf(hdr, sizeof hdr,
                 "# stackwatch-mem 1 greenlet\n# name ended greenlets (%s)\n"
                 "# greenlet_id 0\n# thread %s\n# native_id %ld\n"
                 "# columns t py_live c_live py_alloc py_free c_alloc "
                 "c_free\n",
                 w->name, w->name, atomic_load(&slots[i].tid));
    write_all(w->efd, hdr, (size_t)n);
    return 1;
}

size_t
sw_mem_greenlets_unnamed(uint32_t *out, size_t max)
{
    size_t k = 0;
    uint32_t v;

    if (!atomic_load(&running) || !atomic_load(&per_greenlet)) {
        return 0;
    }
    pthread_mutex_lock(&gmu);
    for (v = GSLOT_FIRST; v < SW_MEM_MAX_THREADS && k < max; v++) {
        uint32_t gid;

        if (!atomic_load_explicit(&slots[v].used, memory_order_acquire) ||
            atomic_load(&slots[v].ended)) {
            continue;
        }
        gid = atomic_load(&slots[v].gid);
        if (gid != 0 && W.ws[v].label_gid != gid) {
            out[k++] = gid;
        }
    }
    pthread_mutex_unlock(&gmu);
    return k;
}

void
sw_mem_greenlet_name(uint32_t gid, const char *label)
{
    uint32_t v;

    if (!atomic_load(&running) || !atomic_load(&per_greenlet) ||
        gslot_of == NULL || gid == 0 || gid >= MAX_GID) {
        return;
    }
    pthread_mutex_lock(&gmu);
    v = atomic_load(&gslot_of[gid]);
    if (v >= GSLOT_FIRST && atomic_load(&slots[v].gid) == gid) {
        W.ws[v].label_gid = gid;
        snprintf(W.ws[v].label, sizeof W.ws[v].label, "%s", label);
    }
    pthread_mutex_unlock(&gmu);
}

/* Whether stack id's "s" line is in w's file already; marks it. */
static int
defined_before(wslot_t *w, uint32_t id)
{
    size_t byte = id / 8;

    if (byte >= w->defined_cap) {
        size_t cap = (byte + 1) * 2;
        uint8_t *d = realloc(w->defined, cap);

        if (d == NULL) {
            return 0; /* defined again: readers take the last one */
        }
        memset(d + w->defined_cap, 0, cap - w->defined_cap);
        w->defined = d;
        w->defined_cap = cap;
    }
    if (w->defined[byte] & (1u << (id % 8))) {
        return 1;
    }
    w->defined[byte] |= (uint8_t)(1u << (id % 8));
    return 0;
}

/* Writes the drained events into their threads' .stack files (or keeps
 * them until the thread's file has its name). */
static void
stack_events(void)
{
    size_t n = sw_memstacks_drain(&W.ev, &W.evcap), k;

    for (k = 0; k < n; k++) {
        const sw_memevent_t *e = &W.ev[k];
        wslot_t *w = &W.ws[e->slot];
        sw_buf_t *b = &W.sbuf;

        b->len = 0;
        if (e->kind == '+') {
            if (!defined_before(w, e->stack)) {
                sw_buf_printf(b, "s %u ", e->stack);
                sw_memstacks_format(e->stack, b);
                sw_buf_putc(b, '\n');
            }
            sw_buf_printf(b, "+ %.6f %llu %u %llu\n", secs(e->t_ns),
                          (unsigned long long)e->block, e->stack,
                          (unsigned long long)e->weight);
        }
        else {
            sw_buf_printf(b, "- %.6f %llu\n", secs(e->t_ns),
                          (unsigned long long)e->block);
        }
        if (!sw_buf_ok(b)) {
            continue;
        }
        if (w->waiting == 2) {
            if (w->sfd >= 0) {
                write_all(w->sfd, b->data, b->len);
            }
        }
        else {
            sw_buf_put(&w->pending, b->data, b->len);
        }
    }
}

/* Appends "t live_py live_c alloc_py free_py alloc_c free_c" (c: py
 * alloc, py free, c alloc, c free) to line at offset; returns the new
 * length. */
static int
counters_text(char *line, size_t cap, int off, const uint64_t *c)
{
    /* live is alloc - free; a free counted before its alloc (the two
     * counters are read one after the other) cannot make it negative. */
    uint64_t py_live = c[0] >= c[1] ? c[0] - c[1] : 0;
    uint64_t c_live = c[2] >= c[3] ? c[2] - c[3] : 0;

    return off + snprintf(line + off, cap - (size_t)off,
                          " %llu %llu %llu %llu %llu %llu\n",
                          (unsigned long long)py_live,
                          (unsigned long long)c_live, (unsigned long long)c[0],
                          (unsigned long long)c[1], (unsigned long long)c[2],
                          (unsigned long long)c[3]);
}

/* c: py alloc, py freed, c alloc, c freed of slot i. */
static void
read_slot(uint32_t i, uint64_t *c)
{
    const slot_t *s = &slots[i];

    c[0] = atomic_load_explicit(&s->alloc[0], memory_order_relaxed);
    c[1] = atomic_load_explicit(&s->freed[0], memory_order_relaxed) +
           atomic_load_explicit(&s->freed_self[0], memory_order_relaxed);
    c[2] = atomic_load_explicit(&s->alloc[1], memory_order_relaxed);
    c[3] = atomic_load_explicit(&s->freed[1], memory_order_relaxed) +
           atomic_load_explicit(&s->freed_self[1], memory_order_relaxed);
}

static void
add4(uint64_t *to, const uint64_t *c)
{
    to[0] += c[0];
    to[1] += c[1];
    to[2] += c[2];
    to[3] += c[3];
}

/* A data line of counters c at t to fd, unless they are those of the
 * last line (*last, *has_line) and this is not the final pass. */
static void
counters_line(int fd, double t, const uint64_t *c, uint64_t *last,
              int *has_line, int final)
{
    char line[256];
    int len;

    if (fd < 0 || (*has_line && !final && memcmp(c, last, 4 * 8) == 0)) {
        return;
    }
    len = snprintf(line, sizeof line, "%.6f", t);
    len = counters_text(line, sizeof line, len, c);
    write_all(fd, line, (size_t)len);
    memcpy(last, c, 4 * 8);
    *has_line = 1;
    atomic_fetch_add(&lines_written, 1);
}

/* Gives the slot of an ended greenlet whose blocks are all freed back:
 * its counters go to its thread's ended greenlets for good. */
static void
reuse_gslot(uint32_t v, const uint64_t *c)
{
    slot_t *s = &slots[v];
    wslot_t *w = &W.ws[v];
    int k;

    add4(W.ws[atomic_load(&s->parent)].eacc, c);
    for (k = 0; k < 2; k++) {
        atomic_store(&s->alloc[k], 0);
        atomic_store(&s->freed[k], 0);
        atomic_store(&s->freed_self[k], 0);
    }
    atomic_store(&s->nalloc, 0);
    atomic_store(&s->nfreed_self, 0);
    atomic_store(&s->nfreed, 0);
    atomic_store(&s->parent, 0);
    atomic_store(&s->ended, 0);
    pthread_mutex_lock(&gmu);
    atomic_store(&s->gid, 0);
    w->label_gid = 0;
    w->label[0] = '\0';
    pthread_mutex_unlock(&gmu);
    w->waiting = 0;
    w->has_line = 0;
    w->name[0] = '\0';
    atomic_store_explicit(&s->used, 0, memory_order_release);
    atomic_fetch_or_explicit(&gfree[(v - GSLOT_FIRST) / 64],
                             (uint64_t)1 << ((v - GSLOT_FIRST) % 64),
                             memory_order_release);
}

/* The greenlets' pass: each greenlet's counters added to its thread's
 * (agg; eagg when it ended), its line written; an ended one's file ends,
 * and its slot is reused once all its blocks are freed. */
static void
tick_greenlets(uint64_t now, int final)
{
    double t = secs(now);
    uint32_t v;

    for (v = GSLOT_FIRST; v < SW_MEM_MAX_THREADS; v++) {
        slot_t *s = &slots[v];
        wslot_t *w = &W.ws[v], *pw;
        uint64_t c[4], nalloc, nfreed;
        int ended;

        if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
            continue;
        }
        ended = atomic_load_explicit(&s->ended, memory_order_acquire);
        /* The block counts before the bytes (the hooks add the bytes
         * first): when they match, every byte is in c. */
        nalloc = atomic_load_explicit(&s->nalloc, memory_order_acquire);
        nfreed = atomic_load_explicit(&s->nfreed_self, memory_order_acquire) +
                 atomic_load_explicit(&s->nfreed, memory_order_acquire);
        read_slot(v, c);
        pw = &W.ws[atomic_load(&s->parent)];
        add4(pw->agg, c);
        if (!ended) {
            if (name_gslot(v, now, final)) {
                counters_line(w->fd, t, c, w->last, &w->has_line, final);
            }
            continue;
        }
        add4(pw->eagg, c);
        pw->has_ended = 1;
        if (w->waiting == 2) {
            char line[64];
            int len = snprintf(line, sizeof line, "# end %.6f\n", t);

            counters_line(w->fd, t, c, w->last, &w->has_line, 1);
            if (w->fd >= 0) {
                write_all(w->fd, line, (size_t)len);
                close(w->fd);
                w->fd = -1;
            }
        }
        w->waiting = 3;
        if (nalloc == nfreed) {
            reuse_gslot(v, c);
        }
    }
}

/* One pass: a line for process.mem, and one for every thread whose
 * counters changed (every thread at the end); with greenlets, their lines
 * too. */
static void
tick(uint64_t now, int final)
{
    uint32_t n = atomic_load(&nslots);
    uint64_t sum[4] = {0, 0, 0, 0};
    double t = secs(now);
    int greenlets = atomic_load(&per_greenlet);
    sw_procmem_t pm;
    char line[256];
    int len;
    uint32_t i;

    if (n > SLOT_OTHER) {
        n = SLOT_OTHER;
    }
    if (W.sample_interval != 0) {
        stack_events();
    }
    for (i = 0; i <= SLOT_OTHER; i++) {
        wslot_t *w;

        if (i == n) {
            i = SLOT_OTHER; /* skip the unused ones between */
        }
        w = &W.ws[i];
        read_slot(i, w->agg);
        add4(w->agg, w->eacc);
        memcpy(w->eagg, w->eacc, sizeof w->eagg);
    }
    if (greenlets) {
        tick_greenlets(now, final);
    }
    for (i = 0; i <= SLOT_OTHER; i++) {
        wslot_t *w;

        if (i == n) {
            i = SLOT_OTHER;
        }
        w = &W.ws[i];
        if (!atomic_load_explicit(&slots[i].used, memory_order_acquire)) {
            continue;
        }
        add4(sum, w->agg);
        if (!name_slot((int)i, now, final) || w->fd < 0) {
            continue;
        }
        counters_line(w->fd, t, w->agg, w->last, &w->has_line, final);
        if (w->has_ended && name_ended(i)) {
            counters_line(w->efd, t, w->eagg, w->elast, &w->ehas_line, final);
        }
    }
    if (final && W.sample_interval != 0) {
        stack_events(); /* every file is named now */
    }
    if (W.pfd >= 0) {
        if (sw_procmem_read(&pm) != 0) {
            pm.rss = 0;
        }
        len = snprintf(line, sizeof line, "%.6f %llu", t,
                       (unsigned long long)pm.rss);
        len = counters_text(line, sizeof line, len, sum);
        write_all(W.pfd, line, (size_t)len);
        atomic_fetch_add(&lines_written, 1);
    }
}

static void
end_files(uint64_t now)
{
    char line[64];
    int len = snprintf(line, sizeof line, "# end %.6f\n", secs(now));
    int i;

    for (i = 0; i < SW_MEM_MAX_THREADS; i++) {
        wslot_t *w = &W.ws[i];

        if (w->fd >= 0) {
            write_all(w->fd, line, (size_t)len);
            close(w->fd);
            w->fd = -1;
        }
        if (w->sfd >= 0) {
            write_all(w->sfd, line, (size_t)len);
            close(w->sfd);
            w->sfd = -1;
        }
        if (w->efd >= 0) {
            write_all(w->efd, line, (size_t)len);
            close(w->efd);
            w->efd = -1;
        }
        sw_buf_free(&w->pending);
        free(w->defined);
        w->defined = NULL;
        w->defined_cap = 0;
    }
    if (W.pfd >= 0) {
        write_all(W.pfd, line, (size_t)len);
        close(W.pfd);
        W.pfd = -1;
    }
}

static void *
writer_main(void *arg)
{
    uint64_t next;
    int asked = 0;
    (void)arg;

    pthread_mutex_lock(&W.mu);
    next = W.start_ns + W.interval_ns;
    while (!W.stop) {
        struct timespec ts = sw_timespec(next);
        uint64_t now;
        int i, waiting = 0;

        pthread_cond_timedwait(&W.cv, &W.mu, &ts);
        if (W.stop) {
            break;
        }
        now = sw_now_ns();
        if (now < next) {
            continue;
        }
        pthread_mutex_unlock(&W.mu);
        tick(now, 0);
        for (i = 0; i < SW_MEM_MAX_THREADS; i++) {
            waiting |= W.ws[i].waiting == 1;
        }
        if ((waiting && !asked) || W.fresh) {
            /* Names for new threads, labels for new greenlets (one that
             * started to wait while others still do is asked for too: a
             * greenlet's label needs it alive). */
            sw_service_notify(SW_SVC_NAMES);
        }
        asked = waiting;
        W.fresh = 0;
        pthread_mutex_lock(&W.mu);
        next += W.interval_ns;
        if (next <= now) {
            next = now + W.interval_ns; /* late: no burst of lines */
        }
    }
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

int
sw_mem_running(void)
{
    return atomic_load(&running);
}

int
sw_mem_start(const sw_mem_config_t *cfg, char *err, size_t errlen)
{
    char path[4096 + 32], hdr[1024];
    struct timespec wall;
    int n, i, rc;

    if (atomic_load(&running)) {
        snprintf(err, errlen, "a memory profile is already running");
        return SW_EBUSY;
    }
    if (strlen(cfg->dir) >= sizeof W.dir) {
        snprintf(err, errlen, "directory name too long");
        return SW_EINVAL;
    }
    if (W.ws == NULL) {
        W.ws = calloc(SW_MEM_MAX_THREADS, sizeof(wslot_t));
        if (W.ws == NULL) {
            snprintf(err, errlen, "out of memory");
            return SW_ENOMEM;
        }
    }
    atomic_store(&tracking, 0);
    atomic_store(&counted, strcmp(cfg->profile, "python") == 0 ? 1 << SW_MEM_PY
                           : strcmp(cfg->profile, "c") == 0    ? 1 << SW_MEM_C
                                                               : 3);
    atomic_store(&keep_fn, cfg->keep);
    if (cfg->greenlets && gslot_of == NULL) {
        void *m =
            mmap(NULL, MAX_GID * sizeof(uint16_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (m == MAP_FAILED) {
            snprintf(err, errlen, "out of memory");
            return SW_ENOMEM;
        }
        gslot_of = (_Atomic uint16_t *)m; /* kept for good (late hooks) */
    }
    else if (gslot_of != NULL) {
        madvise((void *)gslot_of, MAX_GID * sizeof(uint16_t), MADV_DONTNEED);
    }
    atomic_store(&per_greenlet, cfg->greenlets ? 1 : 0);
    atomic_store(&fast_kinds, cfg->keep == NULL ? atomic_load(&counted) : 0);
    slot_other =
        cfg->greenlets ? GSLOT_FIRST - 1 : (uint32_t)SW_MEM_MAX_THREADS - 1;
    for (i = 0; i < GWORDS; i++) {
        atomic_store(&gfree[i], ~(uint64_t)0);
    }
    atomic_store(&gslots_given, 0);
    atomic_store(&gslots_missed, 0);
    atomic_store(&gfiles, 0);
    table_clear();
    map_clear();
    for (i = 0; i < SW_MEM_MAX_THREADS; i++) {
        memset(&W.ws[i], 0, sizeof(wslot_t));
        W.ws[i].fd = -1;
        W.ws[i].sfd = -1;
        W.ws[i].efd = -1;
        atomic_store(&slots[i].gid, 0);
        atomic_store(&slots[i].parent, 0);
        atomic_store(&slots[i].ended, 0);
        atomic_store(&slots[i].nalloc, 0);
        atomic_store(&slots[i].nfreed_self, 0);
        atomic_store(&slots[i].nfreed, 0);
        sw_buf_init(&W.ws[i].pending);
        atomic_store(&slots[i].alloc[0], 0);
        atomic_store(&slots[i].alloc[1], 0);
        atomic_store(&slots[i].freed[0], 0);
        atomic_store(&slots[i].freed[1], 0);
        atomic_store(&slots[i].freed_self[0], 0);
        atomic_store(&slots[i].freed_self[1], 0);
        atomic_store(&slots[i].tid, 0);
        atomic_store(&slots[i].ident, 0);
        atomic_store(&slots[i].used, 0);
    }
    atomic_store(&nslots, 0);
    atomic_store(&untracked, 0);
    atomic_fetch_add(&generation, 1);
    atomic_store(&lines_written, 0);
    atomic_store(&write_errors, 0);
    atomic_store(&write_errno, 0);
    snprintf(W.dir, sizeof W.dir, "%s", cfg->dir);
    W.interval_ns = cfg->interval_ns;
    W.sample_interval = cfg->sample_interval;
    sw_buf_init(&W.sbuf);
    if (cfg->sample_interval != 0) {
        rc = sw_memstacks_start(cfg->tstate, err, errlen);
        if (rc < 0) {
            return rc;
        }
    }
    atomic_store(&sample_mean, cfg->sample_interval);
    W.stop = 0;
    W.fresh = 0;
    snprintf(path, sizeof path, "%s/process.mem", W.dir);
    W.pfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (W.pfd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        sw_memstacks_stop();
        atomic_store(&sample_mean, 0);
        return SW_ESYS;
    }
    clock_gettime(CLOCK_REALTIME, &wall);
    W.start_ns = sw_now_ns();
    n = snprintf(hdr, sizeof hdr,
                 "# stackwatch-mem 1 process\n# pid %ld\n"
                 "# start_unix %lld.%06ld\n# interval %g\n# profile %s\n"
                 "# columns t rss py_live c_live py_alloc py_free c_alloc "
                 "c_free\n",
                 cfg->pid, (long long)wall.tv_sec, wall.tv_nsec / 1000,
                 (double)cfg->interval_ns / 1e9, cfg->profile);
    write_all(W.pfd, hdr, (size_t)n);
    pthread_mutex_init(&W.mu, NULL);
    sw_cond_init_monotonic(&W.cv);
    rc = pthread_create(&W.thread, NULL, writer_main, NULL);
    if (rc != 0) {
        close(W.pfd);
        W.pfd = -1;
        sw_memstacks_stop();
        atomic_store(&sample_mean, 0);
        errno = rc;
        snprintf(err, errlen, "cannot start the writer thread: %s",
                 strerror(rc));
        return SW_ESYS;
    }
    W.started = 1;
    atomic_store(&running, 1);
    return 0;
}

int
sw_mem_stop(void)
{
    uint64_t now;

    if (!atomic_load(&running)) {
        return SW_EINVAL;
    }
    pthread_mutex_lock(&W.mu);
    W.stop = 1;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    W.started = 0;
    now = sw_now_ns();
    tick(now, 1);
    end_files(now);
    if (W.sample_interval != 0) {
        sw_memstacks_stop();
        atomic_store(&sample_mean, 0);
    }
    sw_buf_free(&W.sbuf);
    /* The side table's memory back (tracking is off: a hook that is
     * still inside finds locked shards and zero pages, never a hole). */
    table_clear();
    map_clear();
    atomic_store(&per_greenlet, 0);
    atomic_store(&running, 0);
    return 0;
}

void
sw_mem_get_stats(sw_mem_stats_t *out)
{
    uint32_t n = atomic_load(&nslots);

    out->threads = n > SLOT_OTHER ? SLOT_OTHER + 1 : n;
    out->tracked = atomic_load(&tracked);
    out->untracked = atomic_load(&untracked);
    out->table_bytes = atomic_load(&table_bytes) + map_resident();
    out->table_leaves = atomic_load(&map_leaves);
    out->arenas_freed = atomic_load(&arenas_freed);
    out->table_given = atomic_load(&map_given);
    out->lines = atomic_load(&lines_written);
    out->write_errors = atomic_load(&write_errors);
    out->errno_ = atomic_load(&write_errno);
    out->greenlets = atomic_load(&gslots_given);
    out->greenlets_unslotted = atomic_load(&gslots_missed);
    out->greenlet_files = atomic_load(&gfiles);
}

size_t
sw_mem_threads_live(sw_mem_thread_live_t *out, size_t max)
{
    uint32_t n = atomic_load(&nslots), i;
    size_t k = 0;

    if (!atomic_load(&running)) {
        return 0;
    }
    if (n > SLOT_OTHER) {
        n = SLOT_OTHER;
    }
    for (i = 0; i <= n && k < max; i++) {
        const slot_t *s;
        uint64_t a = 0, f = 0;
        int kind;

        if (i == n) {
            i = SLOT_OTHER; /* skip the unused ones between */
        }
        s = &slots[i];
        if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
            continue;
        }
        for (kind = 0; kind < 2; kind++) {
            a += atomic_load_explicit(&s->alloc[kind], memory_order_relaxed);
            f += atomic_load_explicit(&s->freed[kind], memory_order_relaxed) +
                 atomic_load_explicit(&s->freed_self[kind],
                                      memory_order_relaxed);
        }
        out[k].tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
        out[k].other = i == SLOT_OTHER;
        out[k].slot = i;
        out[k++].live = a - f; /* modulo 2^64 until the greenlets are in */
    }
    if (atomic_load(&per_greenlet)) {
        /* A greenlet's bytes are its thread's (entries are in slot order,
         * at most one per slot: the parent's is at or before its slot). */
        for (i = GSLOT_FIRST; i < SW_MEM_MAX_THREADS; i++) {
            const slot_t *s = &slots[i];
            uint32_t p;
            size_t j;
            uint64_t a = 0, f = 0;
            int kind;

            if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
                continue;
            }
            p = atomic_load_explicit(&s->parent, memory_order_relaxed);
            for (kind = 0; kind < 2; kind++) {
                a += atomic_load_explicit(&s->alloc[kind],
                                          memory_order_relaxed);
                f += atomic_load_explicit(&s->freed[kind],
                                          memory_order_relaxed) +
                     atomic_load_explicit(&s->freed_self[kind],
                                          memory_order_relaxed);
            }
            for (j = p < k ? p + 1 : k; j-- > 0;) {
                if (out[j].slot == p) {
                    out[j].live += a - f;
                    break;
                }
            }
        }
    }
    for (i = 0; i < k; i++) {
        /* A free counted before its alloc (separate loads): not below 0. */
        if ((int64_t)out[i].live < 0) {
            out[i].live = 0;
        }
    }
    return k;
}

void
sw_mem_atfork_child(void)
{
    int i;

    atomic_store(&tracking, 0);
    for (i = 0; i < NSHARDS; i++) {
        atomic_flag_clear(&shards[i].lock);
    }
    atomic_flag_clear(&chunk_lock);
    atomic_store(&sample_mean, 0);
    atomic_store(&per_greenlet, 0);
    pthread_mutex_init(&gmu, NULL);
    sw_memstacks_atfork_child();
    if (atomic_load(&running)) {
        if (W.ws != NULL) {
            for (i = 0; i < SW_MEM_MAX_THREADS; i++) {
                if (W.ws[i].fd >= 0) {
                    close(W.ws[i].fd);
                    W.ws[i].fd = -1;
                }
                if (W.ws[i].sfd >= 0) {
                    close(W.ws[i].sfd);
                    W.ws[i].sfd = -1;
                }
                if (W.ws[i].efd >= 0) {
                    close(W.ws[i].efd);
                    W.ws[i].efd = -1;
                }
            }
        }
        if (W.pfd >= 0) {
            close(W.pfd);
            W.pfd = -1;
        }
        W.started = 0;
        atomic_store(&running, 0);
    }
    /* A new profile in the child claims its slots again. */
    atomic_fetch_add(&generation, 1);
}
