/* The code cache; see codecache.h for the contract. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codecache.h"
#include "compat/linetable.h"
#include "hash.h"

static _Atomic uint64_t last_pass;

uint64_t
sw_codecache_new_pass(void)
{
    return atomic_fetch_add(&last_pass, 1) + 1;
}

struct sw_codecache {
    pthread_mutex_t mu;
    sw_code_t scratch;                    /* a code object being read */
    sw_codeinfo_t *entries[SW_MAX_DEPTH]; /* a stack being resolved */
    sw_codeinfo_t **slots;                /* open addressing on addr */
    size_t mask;
    size_t count;
    size_t max_entries;
    uint64_t next_serial;
    uint64_t misses;
    uint64_t replaced;
    uint64_t clears; /* times emptied: entries taken before are gone */
};

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
    c->clears++;
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
           uint64_t pass)
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
    e->checked_pass = pass;
    e->valid = 1;
    for (int i = 0; i < SW_LINE_MEMO; i++) {
        e->memo_addr[i] = INT32_MIN;
    }
    return 0;
}

/* The line of the instruction at byte offset addr of e's code. */
static int
line_of(const sw_reader_t *r, sw_codeinfo_t *e, int32_t addr)
{
    unsigned way = ((uint32_t)addr >> 1) % SW_LINE_MEMO;
    int line;

    if (e->memo_addr[way] == addr) {
        return e->memo_line[way];
    }
    line = sw_line_for(r->L->line_format, e->table, e->table_len,
                       e->id.firstlineno, addr);
    e->memo_addr[way] = addr;
    e->memo_line[way] = line;
    return line;
}

/* Reads the code object at e's address into e (a new serial), or marks e
 * invalid for this pass. */
static void
reload(sw_codecache_t *c, sw_reader_t *r, sw_codeinfo_t *e, uint64_t pass)
{
    sw_code_t *code = &c->scratch;

    c->misses++;
    c->replaced++;
    if (sw_read_code(r, e->addr, code) < 0 ||
        entry_fill(c, e, code, pass) < 0) {
        e->valid = 0;
        e->checked_pass = pass;
    }
}

/* The entry for addr, read on a miss (and then confirmed for this pass);
 * a hit may still need its check.  NULL if addr holds no code object. */
static sw_codeinfo_t *
lookup(sw_codecache_t *c, sw_reader_t *r, uintptr_t addr, uint64_t pass)
{
    size_t i = (size_t)sw_mix64(addr) & c->mask;
    sw_codeinfo_t *e;

    while ((e = c->slots[i]) != NULL && e->addr != addr) {
        i = (i + 1) & c->mask;
    }
    if (e != NULL) {
        return e;
    }
    if (sw_read_code(r, addr, &c->scratch) < 0) {
        return NULL;
    }
    c->misses++;
    if (c->count >= c->max_entries) {
        clear(c); /* rare: many short-lived code objects */
        i = (size_t)sw_mix64(addr) & c->mask;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL || entry_fill(c, e, &c->scratch, pass) < 0) {
        free(e);
        return NULL;
    }
    c->slots[i] = e;
    c->count++;
    return e;
}

/* Confirms (or reloads) the entries of this stack not yet checked in this
 * pass, a batch of header reads at a time. */
static void
check_entries(sw_codecache_t *c, sw_reader_t *r, sw_codeinfo_t **entries,
              int n, uint64_t pass)
{
    const sw_code_ident_t *ids[SW_CHECK_BATCH];
    sw_codeinfo_t *batch[SW_CHECK_BATCH];
    char same[SW_CHECK_BATCH];
    int i = 0;

    while (i < n) {
        int k = 0, j;

        for (; i < n && k < SW_CHECK_BATCH; i++) {
            sw_codeinfo_t *e = entries[i];

            if (e == NULL || e->checked_pass == pass) {
                continue;
            }
            e->checked_pass = pass; /* also marks it taken for this batch */
            batch[k] = e;
            ids[k++] = &e->id;
        }
        if (k == 0) {
            break;
        }
        sw_codes_unchanged(r, ids, k, same);
        for (j = 0; j < k; j++) {
            if (same[j]) {
                batch[j]->valid = 1;
            }
            else {
                reload(c, r, batch[j], pass);
            }
        }
    }
}

int
sw_codecache_resolve(sw_codecache_t *c, sw_reader_t *r,
                     const sw_rawframe_t *raw, int n, sw_frameinfo_t *out,
                     uint64_t pass)
{
    sw_codeinfo_t **entries = c->entries;
    uint64_t clears = c->clears;
    int i, k = 0, again = 1;

    if (n > SW_MAX_DEPTH) {
        n = SW_MAX_DEPTH;
    }
    for (i = 0; i < n; i++) {
        /* Recursion: the same code as the frame before, the same entry. */
        entries[i] = i > 0 && raw[i].code == raw[i - 1].code
                         ? entries[i - 1]
                         : lookup(c, r, raw[i].code, pass);
        if (c->clears != clears) {
            /* The cache was full and emptied: the entries taken so far
             * are freed.  Once more from the start: a stack fits in the
             * emptied cache (and if not, the stack is given up). */
            if (!again) {
                return 0;
            }
            clears = c->clears;
            again = 0;
            i = -1;
        }
    }
    check_entries(c, r, entries, n, pass);
    for (i = 0; i < n; i++) {
        sw_codeinfo_t *e = entries[i];
        int32_t addr = raw[i].addr;

        if (e == NULL || !e->valid || addr == INT32_MIN ||
            addr >= e->id.code_bytes) {
            r->bad_frames++;
            continue;
        }
        if (raw[i].maybe_incomplete && addr < e->id.firsttraceable) {
            /* Pushed but not started: not part of the stack.  Before
             * 3.13 only the leaf can be such a frame; one below a running
             * frame was read while the thread was calling again (a torn
             * stack).  3.13 keeps the __init__ shim there. */
            if (k > 0 && !r->L->shim_frames && !r->broken) {
                r->bad_frames++;
                r->broken = 1;
            }
            continue;
        }
        out[k].code = e;
        out[k].line = line_of(r, e, addr);
        out[k].raw = i;
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
