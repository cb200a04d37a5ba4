/* Profile sessions; see stacks.h for the contract. */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "stacks.h"

#define DEFAULT_FRAMES (1u << 18)
#define DEFAULT_NODES (1u << 20)
#define DEFAULT_SAMPLES (1u << 20)
#define DEFAULT_STRINGS (64u << 20)
#define INITIAL 1024u

/* ---- u64 key -> u32 id maps (open addressing, linear probing) -------- */

static int
map_init(sw_idmap_t *m, uint32_t cap)
{
    m->keys = calloc(cap, sizeof(*m->keys));
    m->vals = calloc(cap, sizeof(*m->vals));
    m->mask = cap - 1;
    m->count = 0;
    return (m->keys && m->vals) ? 0 : SW_ENOMEM;
}

static void
map_free(sw_idmap_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}

/* The slot of key, or of the empty slot where it would go. */
static uint32_t
map_slot(const sw_idmap_t *m, uint64_t key)
{
    uint32_t i = (uint32_t)sw_mix64(key) & m->mask;

    while (m->vals[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & m->mask;
    }
    return i;
}

static uint32_t
map_get(const sw_idmap_t *m, uint64_t key)
{
    return m->vals[map_slot(m, key)];
}

/* Inserts key -> val; grows at half load.  Returns 0 or SW_ENOMEM. */
static int
map_put(sw_idmap_t *m, uint64_t key, uint32_t val)
{
    if ((m->count + 1) * 2 > m->mask + 1) {
        sw_idmap_t bigger;
        uint32_t i;

        if (map_init(&bigger, (m->mask + 1) * 2) < 0) {
            map_free(&bigger);
            return SW_ENOMEM;
        }
        for (i = 0; i <= m->mask; i++) {
            if (m->vals[i] != 0) {
                uint32_t j = map_slot(&bigger, m->keys[i]);

                bigger.keys[j] = m->keys[i];
                bigger.vals[j] = m->vals[i];
            }
        }
        bigger.count = m->count;
        map_free(m);
        *m = bigger;
    }
    {
        uint32_t i = map_slot(m, key);

        if (m->vals[i] == 0) {
            m->count++;
        }
        m->keys[i] = key;
        m->vals[i] = val;
    }
    return 0;
}

/* Multimaps: the key is a hash and several values may share it; the
 * caller confirms a match by content.  mm_next() walks the probe chain. */
static int
mm_add(sw_idmap_t *m, uint64_t key, uint32_t val)
{
    uint32_t i;

    if ((m->count + 1) * 2 > m->mask + 1) {
        sw_idmap_t bigger;
        uint32_t j;

        if (map_init(&bigger, (m->mask + 1) * 2) < 0) {
            map_free(&bigger);
            return SW_ENOMEM;
        }
        for (j = 0; j <= m->mask; j++) {
            if (m->vals[j] != 0) {
                uint32_t k = (uint32_t)sw_mix64(m->keys[j]) & bigger.mask;

                while (bigger.vals[k] != 0) {
                    k = (k + 1) & bigger.mask;
                }
                bigger.keys[k] = m->keys[j];
                bigger.vals[k] = m->vals[j];
            }
        }
        bigger.count = m->count;
        map_free(m);
        *m = bigger;
    }
    i = (uint32_t)sw_mix64(key) & m->mask;
    while (m->vals[i] != 0) {
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return 0;
}

/* Starts (*pos == UINT32_MAX) or continues a walk over the values stored
 * under key.  Returns the next value, or 0 at the end. */
static uint32_t
mm_next(const sw_idmap_t *m, uint64_t key, uint32_t *pos)
{
    uint32_t i = *pos == UINT32_MAX ? (uint32_t)sw_mix64(key) & m->mask
                                    : (*pos + 1) & m->mask;

    while (m->vals[i] != 0) {
        if (m->keys[i] == key) {
            *pos = i;
            return m->vals[i];
        }
        i = (i + 1) & m->mask;
    }
    return 0;
}

/* Makes room for one more element of an array whose index 0 is unused,
 * so that up to `limit` elements fit (indexes 1 .. limit).
 * Returns 0, or SW_EFULL past `limit`, or SW_ENOMEM. */
static int
reserve(void **arr, uint32_t *cap, uint32_t used, uint32_t limit, size_t elem)
{
    uint32_t want;
    void *p;

    if (used > limit) {
        return SW_EFULL;
    }
    if (used < *cap) {
        return 0;
    }
    want = *cap * 2;
    if (want > limit + 1 || want < *cap) {
        want = limit + 1;
    }
    p = realloc(*arr, (size_t)want * elem);
    if (p == NULL) {
        return SW_ENOMEM;
    }
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(want - *cap) * elem);
    *arr = p;
    *cap = want;
    return 0;
}

sw_session_t *
sw_session_new(const sw_limits_t *lim)
{
    sw_session_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    if (lim != NULL) {
        s->lim = *lim;
    }
    if (s->lim.max_frames == 0) {
        s->lim.max_frames = DEFAULT_FRAMES;
    }
    if (s->lim.max_nodes == 0) {
        s->lim.max_nodes = DEFAULT_NODES;
    }
    if (s->lim.max_samples == 0) {
        s->lim.max_samples = DEFAULT_SAMPLES;
    }
    if (s->lim.max_string_bytes == 0) {
        s->lim.max_string_bytes = DEFAULT_STRINGS;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->strings_cap = 64u * INITIAL;
    s->strings = calloc(s->strings_cap, 1);
    s->strings_used = 1; /* offset 0 is the empty string */
    s->frames_cap = s->nodes_cap = s->samples_cap = INITIAL;
    s->threads_cap = 64;
    s->frames = calloc(s->frames_cap, sizeof(*s->frames));
    s->nodes = calloc(s->nodes_cap, sizeof(*s->nodes));
    s->samples = calloc(s->samples_cap, sizeof(*s->samples));
    s->threads = calloc(s->threads_cap, sizeof(*s->threads));
    s->nframes = s->nnodes = s->nsamples = s->nthreads = 1;
    if (s->strings == NULL || s->frames == NULL || s->nodes == NULL ||
        s->samples == NULL || s->threads == NULL ||
        map_init(&s->string_ids, 2 * INITIAL) < 0 ||
        map_init(&s->frame_by_code, 2 * INITIAL) < 0 ||
        map_init(&s->frame_by_name, 2 * INITIAL) < 0 ||
        map_init(&s->node_ids, 2 * INITIAL) < 0 ||
        map_init(&s->sample_ids, 2 * INITIAL) < 0 ||
        map_init(&s->thread_ids, 128) < 0) {
        sw_session_free(s);
        return NULL;
    }
    return s;
}

void
sw_session_free(sw_session_t *s)
{
    if (s == NULL) {
        return;
    }
    free(s->strings);
    free(s->frames);
    free(s->nodes);
    free(s->samples);
    free(s->threads);
    free(s->greenlet_labels);
    free(s->greenlet_groups);
    map_free(&s->string_ids);
    map_free(&s->frame_by_code);
    map_free(&s->frame_by_name);
    map_free(&s->node_ids);
    map_free(&s->sample_ids);
    map_free(&s->thread_ids);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint32_t
sw_session_string(sw_session_t *s, const char *str)
{
    uint64_t h = sw_hash_str(str);
    size_t len = strlen(str) + 1;
    uint32_t pos = UINT32_MAX, off;

    if (len == 1) {
        return 0;
    }
    while ((off = mm_next(&s->string_ids, h, &pos)) != 0) {
        if (strcmp(s->strings + off, str) == 0) {
            return off;
        }
    }
    if ((uint64_t)s->strings_used + len > s->lim.max_string_bytes) {
        return 0;
    }
    if (s->strings_used + len > s->strings_cap) {
        uint32_t cap = s->strings_cap;
        char *p;

        while ((uint64_t)s->strings_used + len > cap) {
            cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
        }
        p = realloc(s->strings, cap);
        if (p == NULL) {
            return 0;
        }
        s->strings = p;
        s->strings_cap = cap;
    }
    off = s->strings_used;
    memcpy(s->strings + off, str, len);
    if (mm_add(&s->string_ids, h, off) < 0) {
        return 0;
    }
    s->strings_used += (uint32_t)len;
    return off;
}

static uint64_t
frame_name_key(uint32_t name, uint32_t file, int line)
{
    return sw_mix64(((uint64_t)name << 32) ^ file) ^ (uint64_t)(uint32_t)line;
}

/* The frame (name, file, line), created if new with first as its first
 * line; one created without a first line (0) takes first. */
static uint32_t
frame_by_name(sw_session_t *s, uint32_t name, uint32_t file, int line,
              int first)
{
    uint64_t key = frame_name_key(name, file, line);
    uint32_t pos = UINT32_MAX, id;

    while ((id = mm_next(&s->frame_by_name, key, &pos)) != 0) {
        const sw_sframe_t *f = &s->frames[id];

        if (f->name == name && f->file == file && f->line == line) {
            if (f->first <= 0 && first > 0) {
                s->frames[id].first = first;
            }
            return id;
        }
    }
    if (reserve((void **)&s->frames, &s->frames_cap, s->nframes,
                s->lim.max_frames, sizeof(*s->frames)) < 0) {
        return 0;
    }
    id = s->nframes;
    s->frames[id].name = name;
    s->frames[id].file = file;
    s->frames[id].line = line;
    s->frames[id].first = first > 0 ? first : 0;
    if (mm_add(&s->frame_by_name, key, id) < 0) {
        return 0;
    }
    s->nframes++;
    return id;
}

uint32_t
sw_session_frame(sw_session_t *s, uint64_t code_serial, int line, int first,
                 const char *name, const char *file)
{
    uint64_t key = (code_serial << 24) ^ ((uint64_t)(uint32_t)line & 0xFFFFFF);
    uint32_t id = map_get(&s->frame_by_code, key), n, f;

    if (id != 0) {
        return id;
    }
    n = sw_session_string(s, name);
    f = sw_session_string(s, file);
    if ((n == 0 && *name) || (f == 0 && *file)) {
        return 0;
    }
    id = frame_by_name(s, n, f, line, first);
    if (id != 0 && map_put(&s->frame_by_code, key, id) < 0) {
        return 0;
    }
    return id;
}

uint32_t
sw_session_frame_named(sw_session_t *s, const char *name, const char *file,
                       int line, int first)
{
    uint32_t n = sw_session_string(s, name), f = sw_session_string(s, file);

    if ((n == 0 && *name) || (f == 0 && *file)) {
        return 0;
    }
    return frame_by_name(s, n, f, line, first);
}

uint32_t
sw_session_marker(sw_session_t *s, const char *name)
{
    uint32_t n = sw_session_string(s, name);

    return n ? frame_by_name(s, n, 0, -1, 0) : 0;
}

uint32_t
sw_session_stack(sw_session_t *s, const uint32_t *frames, int n)
{
    uint32_t node = 0;
    int i;

    for (i = n - 1; i >= 0; i--) {
        uint64_t key = ((uint64_t)node << 32) | frames[i];
        uint32_t id = map_get(&s->node_ids, key);

        if (id == 0) {
            if (reserve((void **)&s->nodes, &s->nodes_cap, s->nnodes,
                        s->lim.max_nodes, sizeof(*s->nodes)) < 0) {
                return 0;
            }
            id = s->nnodes;
            s->nodes[id].parent = node;
            s->nodes[id].frame = frames[i];
            if (map_put(&s->node_ids, key, id) < 0) {
                return 0;
            }
            s->nnodes++;
        }
        node = id;
    }
    return node;
}

uint32_t
sw_session_thread(sw_session_t *s, uint64_t tstate_id, unsigned long ident,
                  long tid, int64_t interp_id, int *created)
{
    uint64_t key = tstate_id + 1; /* keys are never 0 */
    uint32_t slot = map_get(&s->thread_ids, key);
    sw_sthread_t *t;

    *created = 0;
    if (slot != 0) {
        return slot;
    }
    if (s->nthreads > SW_MAX_SESSION_THREADS ||
        reserve((void **)&s->threads, &s->threads_cap, s->nthreads,
                SW_MAX_SESSION_THREADS, sizeof(*s->threads)) < 0) {
        return 0;
    }
    slot = s->nthreads;
    if (map_put(&s->thread_ids, key, slot) < 0) {
        return 0;
    }
    s->nthreads++;
    t = &s->threads[slot];
    memset(t, 0, sizeof(*t));
    t->tstate_id = tstate_id;
    t->ident = ident;
    t->tid = tid;
    t->interp_id = interp_id;
    *created = 1;
    return slot;
}

int
sw_session_add(sw_session_t *s, uint32_t thread, uint32_t greenlet,
               uint32_t node, uint64_t wall_ns, uint64_t cpu_ns, int gil)
{
    return sw_session_add_n(s, thread, greenlet, node, 1, wall_ns, cpu_ns,
                            gil ? 1 : 0);
}

int
sw_session_add_n(sw_session_t *s, uint32_t thread, uint32_t greenlet,
                 uint32_t node, uint64_t count, uint64_t wall_ns,
                 uint64_t cpu_ns, uint64_t gil_count)
{
    uint64_t key;
    uint32_t id;
    sw_ssample_t *e;

    if (node == 0 || node >= s->nnodes || thread >= s->nthreads ||
        count == 0) {
        return SW_EINVAL;
    }
    if (greenlet > SW_MAX_GREENLET_ID) {
        greenlet = 0;
    }
    key = ((uint64_t)thread << 52) | ((uint64_t)greenlet << 32) | node;
    id = map_get(&s->sample_ids, key);
    if (id == 0) {
        if (reserve((void **)&s->samples, &s->samples_cap, s->nsamples,
                    s->lim.max_samples, sizeof(*s->samples)) < 0) {
            s->samples_dropped += count;
            return SW_EFULL;
        }
        id = s->nsamples;
        if (map_put(&s->sample_ids, key, id) < 0) {
            s->samples_dropped += count;
            return SW_EFULL;
        }
        s->nsamples++;
        e = &s->samples[id];
        e->thread = thread;
        e->greenlet = greenlet;
        e->node = node;
    }
    e = &s->samples[id];
    e->count += count;
    e->wall_ns += wall_ns;
    e->cpu_ns += cpu_ns;
    e->gil += (uint32_t)(gil_count < count ? gil_count : count);
    s->threads[thread].samples += count;
    s->samples_taken += count;
    return 0;
}

int
sw_session_name_thread(sw_session_t *s, uint32_t slot, const char *name)
{
    uint32_t off;

    if (slot >= s->nthreads) {
        return SW_EINVAL;
    }
    off = sw_session_string(s, name);
    if (off == 0 && *name) {
        s->labels_dropped++;
        return SW_EFULL;
    }
    s->threads[slot].name = off;
    return 0;
}

/* Label offsets of greenlet ids: 0 never seen, SEEN seen but unlabeled. */
#define SEEN UINT32_MAX

static int
grow_greenlet_labels(sw_session_t *s, uint32_t id)
{
    uint32_t cap = s->greenlet_labels_cap ? s->greenlet_labels_cap : 64;
    uint32_t *p, *q;

    if (id < s->greenlet_labels_cap) {
        return 0;
    }
    while (cap <= id) {
        cap *= 2;
    }
    p = realloc(s->greenlet_labels, (size_t)cap * sizeof(*p));
    if (p == NULL) {
        return SW_ENOMEM;
    }
    s->greenlet_labels = p;
    q = realloc(s->greenlet_groups, (size_t)cap * sizeof(*q));
    if (q == NULL) {
        return SW_ENOMEM; /* p is bigger than the cap says: harmless */
    }
    s->greenlet_groups = q;
    memset(p + s->greenlet_labels_cap, 0,
           (size_t)(cap - s->greenlet_labels_cap) * sizeof(*p));
    memset(q + s->greenlet_labels_cap, 0,
           (size_t)(cap - s->greenlet_labels_cap) * sizeof(*q));
    s->greenlet_labels_cap = cap;
    return 0;
}

int
sw_session_greenlet_seen(sw_session_t *s, uint32_t id)
{
    if (id == 0 || id > SW_MAX_GREENLET_ID ||
        grow_greenlet_labels(s, id) < 0 || s->greenlet_labels[id] != 0) {
        return 0;
    }
    s->greenlet_labels[id] = SEEN;
    return 1;
}

int
sw_session_label_greenlet(sw_session_t *s, uint32_t id, const char *label)
{
    uint32_t off;

    if (id == 0 || id > SW_MAX_GREENLET_ID) {
        return SW_EINVAL;
    }
    if (grow_greenlet_labels(s, id) < 0) {
        return SW_ENOMEM;
    }
    off = sw_session_string(s, label);
    if (off == 0 && *label) {
        s->labels_dropped++;
        return SW_EFULL;
    }
    s->greenlet_labels[id] = off;
    return 0;
}

int
sw_session_group_greenlet(sw_session_t *s, uint32_t id, const char *group)
{
    uint32_t off;

    if (id == 0 || id > SW_MAX_GREENLET_ID) {
        return SW_EINVAL;
    }
    if (grow_greenlet_labels(s, id) < 0) {
        return SW_ENOMEM;
    }
    off = sw_session_string(s, group);
    if (off == 0 && *group) {
        s->labels_dropped++;
        return SW_EFULL;
    }
    s->greenlet_groups[id] = off;
    return 0;
}

uint32_t
sw_session_greenlet_group(const sw_session_t *s, uint32_t id)
{
    if (id == 0 || id >= s->greenlet_labels_cap) {
        return 0;
    }
    return s->greenlet_groups[id];
}

const char *
sw_session_greenlet_label(const sw_session_t *s, uint32_t id)
{
    if (id == 0 || id >= s->greenlet_labels_cap ||
        s->greenlet_labels[id] == 0 || s->greenlet_labels[id] == SEEN) {
        return NULL;
    }
    return s->strings + s->greenlet_labels[id];
}

void
sw_session_atfork_child(sw_session_t *s)
{
    pthread_mutex_init(&s->mu, NULL);
}

int
sw_stack_frames(const sw_session_t *s, uint32_t node, uint32_t *out, int max)
{
    int n = 0, i;

    for (; node != 0 && n < max; node = s->nodes[node].parent) {
        out[n++] = s->nodes[node].frame;
    }
    for (i = 0; i < n / 2; i++) {
        uint32_t t = out[i];

        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
    return n;
}

uint32_t
sw_stack_depth(const sw_session_t *s, uint32_t node)
{
    uint32_t d = 0;

    for (; node != 0; node = s->nodes[node].parent) {
        d++;
    }
    return d;
}

uint32_t
sw_stack_root(const sw_session_t *s, uint32_t node)
{
    while (node != 0 && s->nodes[node].parent != 0) {
        node = s->nodes[node].parent;
    }
    return node;
}
