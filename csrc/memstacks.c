/* The memory profiler's sampled allocation stacks: see memstacks.h.
 *
 * Threads: any thread that allocates a sampled block or frees one calls
 * in here from its allocator hook (memtrack.c), inside the hook's
 * re-entrancy guard (so allocations made here -- the code cache and the
 * session grow with malloc -- are not tracked and never come back
 * here); the writer thread drains the events and formats stacks.  All
 * under one mutex (M.mu).  Fork: the child makes the mutex again and
 * forgets the parent's profile (memtrack stops counting in the child).
 * The reader, cache and session are made at start (GIL held, tracking
 * off) and freed at stop (tracking off, writer joined). */
#include "memstacks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codecache.h"
#include "compat/reader.h"
#include "errors.h"
#include "stackfmt.h"
#include "stacks.h"

#define CACHE_ENTRIES 16384

typedef struct bentry {
    uintptr_t key; /* 0: empty */
    uint64_t block;
    uint32_t slot;
} bentry_t;

static struct {
    pthread_mutex_t mu;
    _Atomic int on;
    sw_memstacks_tstate_fn tstate;
    sw_reader_t reader;
    int reader_open;
    sw_codecache_t *cache;
    sw_session_t *session;
    sw_thread_t *threads; /* SW_MAX_THREADS */
    sw_rawframe_t *raw;   /* SW_MAX_DEPTH */
    sw_frameinfo_t *info; /* SW_MAX_DEPTH */
    uint32_t *ids;        /* SW_MAX_DEPTH + 1 */
    uint32_t unknown;     /* the "[unknown]" stack, once made */
    bentry_t *blocks;     /* the live sampled blocks */
    size_t bcap, blive;
    uint64_t next_block;
    sw_memevent_t *ev;
    size_t nev, evcap;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

static inline size_t
bhash(uintptr_t p, size_t mask)
{
    uint64_t h = (uint64_t)p;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (size_t)h & mask;
}

/* Caller holds M.mu.  Returns 0, or -1 when the table cannot grow. */
static int
bput(uintptr_t key, uint64_t block, uint32_t slot)
{
    size_t j;

    if ((M.blive + 1) * 2 > M.bcap) {
        size_t cap = M.bcap ? M.bcap * 2 : 1024, i;
        bentry_t *nb = calloc(cap, sizeof(bentry_t));

        if (nb == NULL) {
            return -1;
        }
        for (i = 0; i < M.bcap; i++) {
            if (M.blocks[i].key != 0) {
                j = bhash(M.blocks[i].key, cap - 1);
                while (nb[j].key != 0) {
                    j = (j + 1) & (cap - 1);
                }
                nb[j] = M.blocks[i];
            }
        }
        free(M.blocks);
        M.blocks = nb;
        M.bcap = cap;
    }
    j = bhash(key, M.bcap - 1);
    while (M.blocks[j].key != 0 && M.blocks[j].key != key) {
        j = (j + 1) & (M.bcap - 1);
    }
    if (M.blocks[j].key == 0) {
        M.blive++;
    }
    M.blocks[j].key = key;
    M.blocks[j].block = block;
    M.blocks[j].slot = slot;
    return 0;
}

/* Caller holds M.mu.  Returns 1 with *out filled, or 0. */
static int
btake(uintptr_t key, bentry_t *out)
{
    size_t mask, i, j;

    if (M.bcap == 0) {
        return 0;
    }
    mask = M.bcap - 1;
    i = bhash(key, mask);
    while (M.blocks[i].key != key) {
        if (M.blocks[i].key == 0) {
            return 0;
        }
        i = (i + 1) & mask;
    }
    *out = M.blocks[i];
    M.blive--;
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (M.blocks[j].key == 0) {
            break;
        }
        home = bhash(M.blocks[j].key, mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            M.blocks[i] = M.blocks[j];
            i = j;
        }
    }
    M.blocks[i].key = 0;
    return 1;
}

/* Caller holds M.mu.  Drops the event when the queue cannot grow. */
static void
push(const sw_memevent_t *e)
{
    if (M.nev == M.evcap) {
        size_t cap = M.evcap ? M.evcap * 2 : 256;
        sw_memevent_t *n = realloc(M.ev, cap * sizeof(*n));

        if (n == NULL) {
            return;
        }
        M.ev = n;
        M.evcap = cap;
    }
    M.ev[M.nev++] = *e;
}

int
sw_memstacks_start(sw_memstacks_tstate_fn tstate, char *err, size_t errlen)
{
    int rc;

    sw_memstacks_stop();
    M.threads = calloc(SW_MAX_THREADS, sizeof(sw_thread_t));
    M.raw = calloc(SW_MAX_DEPTH, sizeof(sw_rawframe_t));
    M.info = calloc(SW_MAX_DEPTH, sizeof(sw_frameinfo_t));
    M.ids = calloc(SW_MAX_DEPTH + 1, sizeof(uint32_t));
    M.cache = sw_codecache_new(CACHE_ENTRIES);
    M.session = sw_session_new(NULL);
    if (M.threads == NULL || M.raw == NULL || M.info == NULL ||
        M.ids == NULL || M.cache == NULL || M.session == NULL) {
        sw_memstacks_stop();
        snprintf(err, errlen, "out of memory");
        return SW_ENOMEM;
    }
    rc = sw_reader_open(&M.reader);
    if (rc < 0) {
        sw_memstacks_stop();
        snprintf(err, errlen, "cannot open a reader of this process");
        return rc;
    }
    M.reader_open = 1;
    M.tstate = tstate;
    M.unknown = 0;
    M.next_block = 0;
    atomic_store(&M.on, 1);
    return 0;
}

void
sw_memstacks_stop(void)
{
    atomic_store(&M.on, 0);
    pthread_mutex_lock(&M.mu);
    if (M.reader_open) {
        sw_reader_close(&M.reader);
        M.reader_open = 0;
    }
    sw_codecache_free(M.cache);
    sw_session_free(M.session);
    free(M.threads);
    free(M.raw);
    free(M.info);
    free(M.ids);
    free(M.blocks);
    free(M.ev);
    M.cache = NULL;
    M.session = NULL;
    M.threads = NULL;
    M.raw = NULL;
    M.info = NULL;
    M.ids = NULL;
    M.blocks = NULL;
    M.bcap = M.blive = 0;
    M.ev = NULL;
    M.nev = M.evcap = 0;
    pthread_mutex_unlock(&M.mu);
}

int
sw_memstacks_on(void)
{
    return atomic_load_explicit(&M.on, memory_order_relaxed);
}

/* The calling thread's stack as a session node, or the "[unknown]"
 * stack when it cannot be read (no thread state, torn, a table full).
 * Caller holds M.mu. */
static uint32_t
capture(void)
{
    uintptr_t ts = M.tstate != NULL ? M.tstate() : 0;
    sw_session_t *s = M.session;
    int n, i, nraw = 0, truncated = 0, k = 0;
    uint32_t node = 0;

    if (ts != 0) {
        n = sw_read_threads(&M.reader, M.threads, SW_MAX_THREADS);
        for (i = 0; i < n; i++) {
            if (M.threads[i].tstate == ts) {
                nraw = sw_read_frames(&M.reader, &M.threads[i], M.raw,
                                      SW_MAX_DEPTH, &truncated);
                break;
            }
        }
    }
    sw_codecache_lock(M.cache);
    pthread_mutex_lock(&s->mu);
    if (nraw > 0 && !M.reader.broken) {
        n = sw_codecache_resolve(M.cache, &M.reader, M.raw, nraw, M.info,
                                 sw_codecache_new_pass());
        if (!M.reader.broken) {
            for (i = 0; i < n; i++) {
                const sw_codeinfo_t *c = M.info[i].code;
                uint32_t id =
                    sw_session_frame(s, c->serial, M.info[i].line,
                                     c->id.firstlineno, c->name, c->file);

                if (id == 0) {
                    k = 0;
                    break;
                }
                M.ids[k++] = id;
            }
            if (k > 0 && truncated) {
                uint32_t id = sw_session_marker(s, "[truncated]");

                if (id != 0) {
                    M.ids[k++] = id;
                }
            }
            if (k > 0) {
                node = sw_session_stack(s, M.ids, k);
            }
        }
    }
    if (node == 0) {
        if (M.unknown == 0) {
            uint32_t id = sw_session_marker(s, "[unknown]");

            M.unknown = id != 0 ? sw_session_stack(s, &id, 1) : 0;
        }
        node = M.unknown;
    }
    pthread_mutex_unlock(&s->mu);
    sw_codecache_unlock(M.cache);
    return node;
}

void
sw_memstacks_alloced(void *p, uint32_t slot, uint64_t weight)
{
    sw_memevent_t e;

    if (!sw_memstacks_on()) {
        return;
    }
    pthread_mutex_lock(&M.mu);
    if (M.session == NULL) {
        goto done;
    }
    e.kind = '+';
    e.slot = slot;
    e.stack = capture();
    e.block = ++M.next_block;
    e.weight = weight;
    e.t_ns = sw_now_ns();
    if (e.stack != 0 && bput((uintptr_t)p, e.block, slot) == 0) {
        push(&e);
    }
done:
    pthread_mutex_unlock(&M.mu);
}

void
sw_memstacks_freed(void *p)
{
    bentry_t b;

    if (!sw_memstacks_on()) {
        return;
    }
    pthread_mutex_lock(&M.mu);
    if (btake((uintptr_t)p, &b)) {
        sw_memevent_t e = {'-', b.slot, 0, b.block, 0, sw_now_ns()};

        push(&e);
    }
    pthread_mutex_unlock(&M.mu);
}

size_t
sw_memstacks_drain(sw_memevent_t **out, size_t *cap)
{
    size_t n;

    pthread_mutex_lock(&M.mu);
    n = M.nev;
    if (n > *cap) {
        sw_memevent_t *a = realloc(*out, n * sizeof(**out));

        if (a == NULL) {
            n = *cap; /* the rest waits for the next drain */
        }
        else {
            *out = a;
            *cap = n;
        }
    }
    if (n > 0) {
        memcpy(*out, M.ev, n * sizeof(**out));
        memmove(M.ev, M.ev + n, (M.nev - n) * sizeof(**out));
        M.nev -= n;
    }
    pthread_mutex_unlock(&M.mu);
    return n;
}

/* Appends s, with ';' and line breaks made '_'. */
static void
put_clean(sw_buf_t *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        sw_buf_putc(out, c == ';' || c == '\n' || c == '\r' ? '_' : c);
    }
}

void
sw_memstacks_format(uint32_t stack, sw_buf_t *out)
{
    sw_session_t *s;
    sw_buf_t one;
    int n, i;

    pthread_mutex_lock(&M.mu);
    s = M.session;
    if (s == NULL || M.ids == NULL) {
        pthread_mutex_unlock(&M.mu);
        return;
    }
    sw_buf_init(&one);
    pthread_mutex_lock(&s->mu);
    n = sw_stack_frames(s, stack, M.ids, SW_MAX_DEPTH + 1);
    for (i = 0; i < n; i++) {
        const sw_sframe_t *f = &s->frames[M.ids[i]];
        sw_fmt_frame_t ff;

        ff.name = sw_session_str(s, f->name);
        ff.file = f->file != 0 ? sw_session_str(s, f->file) : NULL;
        ff.line = f->line;
        one.len = 0;
        sw_stackfmt_frame(&one, &ff, SW_FMT_LABEL, 0);
        if (i > 0) {
            sw_buf_putc(out, ';');
        }
        put_clean(out, one.data, one.len);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&M.mu);
    sw_buf_free(&one);
}

void
sw_memstacks_atfork_child(void)
{
    pthread_mutex_init(&M.mu, NULL);
    atomic_store(&M.on, 0);
    /* The parent's profile is not the child's: its tables are left (the
     * child does not profile, and never frees what the parent owns). */
    M.reader_open = 0;
    M.cache = NULL;
    M.session = NULL;
    M.threads = NULL;
    M.raw = NULL;
    M.info = NULL;
    M.ids = NULL;
    M.blocks = NULL;
    M.bcap = M.blive = 0;
    M.ev = NULL;
    M.nev = M.evcap = 0;
}
