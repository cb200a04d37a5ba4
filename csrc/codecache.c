/* The code cache; see codecache.h for the contract. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codecache.h"

/* How long a cached code entry is trusted before its header is re-read. */
#define RECHECK_NS 1000000000ull

struct sw_codecache {
    pthread_mutex_t mu;
    sw_codeinfo_t **slots; /* open addressing on addr */
    size_t mask;
    size_t count;
    size_t max_entries;
    uint64_t next_serial;
    uint64_t misses;
    uint64_t replaced;
};

static size_t
hash_addr(uintptr_t a)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >> 17);
}

sw_codecache_t *
sw_codecache_new(size_t max_entries)
{
    sw_codecache_t *c = calloc(1, sizeof(*c));
    size_t cap = 64;

    if (c == NULL) {
        return NULL;
    }
    while (cap < max_entries * 2) {
        cap <<= 1;
    }
    c->slots = calloc(cap, sizeof(*c->slots));
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    c->mask = cap - 1;
    c->max_entries = max_entries;
    c->next_serial = 1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void
entry_free(sw_codeinfo_t *e)
{
    if (e != NULL) {
        free(e->name);
        free(e->file);
        free(e->table);
        free(e);
    }
}

static void
clear(sw_codecache_t *c)
{
    size_t i;

    for (i = 0; i <= c->mask; i++) {
        entry_free(c->slots[i]);
        c->slots[i] = NULL;
    }
    c->count = 0;
}

void
sw_codecache_free(sw_codecache_t *c)
{
    if (c == NULL) {
        return;
    }
    clear(c);
    free(c->slots);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void
sw_codecache_lock(sw_codecache_t *c)
{
    pthread_mutex_lock(&c->mu);
}

void
sw_codecache_unlock(sw_codecache_t *c)
{
    pthread_mutex_unlock(&c->mu);
}

/* Fills e from a freshly read code object.  Returns 0 or -1 (ENOMEM). */
static int
entry_fill(sw_codecache_t *c, sw_codeinfo_t *e, const sw_code_t *code,
           uint64_t now_ns)
{
    char *name = strdup(code->name);
    char *file = strdup(code->file);
    uint8_t *table = NULL;

    if (code->table != NULL && code->table_len > 0) {
        table = malloc(code->table_len);
        if (table != NULL) {
            memcpy(table, code->table, code->table_len);
        }
    }
    if (name == NULL || file == NULL ||
        (code->table_len > 0 && code->table != NULL && table == NULL)) {
        free(name);
        free(file);
        free(table);
        return -1;
    }
    free(e->name);
    free(e->file);
    free(e->table);
    e->addr = code->id.addr;
    e->id = code->id;
    e->name = name;
    e->file = file;
    e->table = table;
    e->table_len = table != NULL ? code->table_len : 0;
    e->serial = c->next_serial++;
    e->checked_ns = now_ns;
    return 0;
}

/* Returns the entry for addr, reading the code object on a miss or when
 * the entry is due for a re-check (or `force`).  NULL if addr does not
 * hold a valid code object. */
static const sw_codeinfo_t *
lookup(sw_codecache_t *c, sw_reader_t *r, uintptr_t addr, uint64_t now_ns,
       int force)
{
    size_t i = hash_addr(addr) & c->mask;
    sw_codeinfo_t *e;
    sw_code_t code;

    while ((e = c->slots[i]) != NULL && e->addr != addr) {
        i = (i + 1) & c->mask;
    }
    if (e != NULL) {
        if (!force && now_ns - e->checked_ns < RECHECK_NS) {
            return e;
        }
        if (sw_code_unchanged(r, &e->id)) {
            e->checked_ns = now_ns;
            return e;
        }
        /* Another code object lives here now (or none). */
        if (sw_read_code(r, addr, &code) < 0) {
            return NULL;
        }
        c->misses++;
        c->replaced++;
        return entry_fill(c, e, &code, now_ns) == 0 ? e : NULL;
    }
    if (sw_read_code(r, addr, &code) < 0) {
        return NULL;
    }
    c->misses++;
    if (c->count >= c->max_entries) {
        clear(c); /* rare: many short-lived code objects */
        i = hash_addr(addr) & c->mask;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL || entry_fill(c, e, &code, now_ns) < 0) {
        free(e);
        return NULL;
    }
    c->slots[i] = e;
    c->count++;
    return e;
}

int
sw_codecache_resolve(sw_codecache_t *c, sw_reader_t *r,
                     const sw_rawframe_t *raw, int n, sw_frameinfo_t *out,
                     uint64_t now_ns)
{
    int i, k = 0;

    for (i = 0; i < n; i++) {
        const sw_codeinfo_t *e = lookup(c, r, raw[i].code, now_ns, 0);
        int32_t addr = raw[i].addr;

        if (e != NULL && addr >= e->id.code_bytes) {
            /* The cached code cannot hold this instruction: stale? */
            e = lookup(c, r, raw[i].code, now_ns, 1);
        }
        if (e == NULL || addr == INT32_MIN || addr >= e->id.code_bytes) {
            r->bad_frames++;
            continue;
        }
        if (raw[i].maybe_incomplete && addr < e->id.firsttraceable) {
            continue; /* pushed but not started: not part of the stack */
        }
        out[k].code = e;
        out[k].line =
            sw_code_line(e->id.firstlineno, e->table, e->table_len, addr);
        k++;
    }
    return k;
}

void
sw_codecache_stats(const sw_codecache_t *c, uint64_t *entries,
                   uint64_t *misses, uint64_t *replaced)
{
    *entries = c->count;
    *misses = c->misses;
    *replaced = c->replaced;
}

void
sw_codecache_atfork_prepare(sw_codecache_t *c)
{
    pthread_mutex_lock(&c->mu);
}

void
sw_codecache_atfork_parent(sw_codecache_t *c)
{
    pthread_mutex_unlock(&c->mu);
}

void
sw_codecache_atfork_child(sw_codecache_t *c)
{
    pthread_mutex_unlock(&c->mu);
}
