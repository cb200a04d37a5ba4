/* Parsing the data lines of .mem files (see memfile.h). */
#include "memfile.h"

#include <stdint.h>
#include <stdlib.h>

size_t
sw_memfile_count_lines(const char *data, size_t len)
{
    size_t n = 0, i;

    for (i = 0; i < len; i++) {
        n += data[i] == '\n';
    }
    return n + (len > 0 && data[len - 1] != '\n');
}

/* Parses one field at *p (before end) into *value: a time when is_time,
 * else an integer.  Returns 0 and moves *p past it, or -1. */
static int
parse_field(const char **p, const char *end, int is_time, double *value)
{
    const char *s = *p;
    int neg = 0, digits = 0;
    int64_t whole = 0;
    int64_t frac = 0, scale = 1;

    if (!is_time && s < end && *s == '-') {
        neg = 1;
        s++;
    }
    while (s < end && *s >= '0' && *s <= '9') {
        if (++digits > 18) {
            return -1;
        }
        whole = whole * 10 + (*s - '0');
        s++;
    }
    if (digits == 0) {
        return -1;
    }
    if (is_time && s < end && *s == '.') {
        int fdigits = 0;

        s++;
        while (s < end && *s >= '0' && *s <= '9') {
            if (++fdigits <= 15) {
                scale *= 10;
                frac = frac * 10 + (*s - '0');
            }
            s++;
        }
        if (fdigits == 0) {
            return -1;
        }
    }
    if (neg) {
        *value = -(double)whole;
    }
    else if (scale > 1 && whole < ((int64_t)1 << 53) / scale) {
        /* Both exact doubles: the quotient is the correctly rounded
         * value of the decimal, as Python's float() gives it. */
        *value = (double)(whole * scale + frac) / (double)scale;
    }
    else {
        *value = (double)whole + (double)frac / (double)scale;
    }
    *p = s;
    return 0;
}

size_t
sw_memfile_rows(const char *data, size_t len, int ncols, const int *want,
                int nwant, double *const *out, size_t *stop)
{
    const char *p = data, *end = data + len;
    double row[SW_MEMFILE_MAX_COLS];
    size_t nrows = 0;
    int k;

    if (ncols < 2 || ncols > SW_MEMFILE_MAX_COLS) {
        *stop = 0;
        return 0;
    }
    while (p < end) {
        const char *s = p;
        int c;

        for (c = 0; c < ncols; c++) {
            if (parse_field(&s, end, c == 0, &row[c]) < 0 || s >= end ||
                *s != (c == ncols - 1 ? '\n' : ' ')) {
                break;
            }
            s++;
        }
        if (c < ncols) {
            break;
        }
        for (k = 0; k < nwant; k++) {
            out[k][nrows] = row[want[k]];
        }
        nrows++;
        p = s;
    }
    *stop = (size_t)(p - data);
    return nrows;
}

/* An unsigned integer of at most 18 digits at *p, followed by `next`.
 * Returns 0 and moves *p past `next`, or -1. */
static int
parse_id(const char **p, const char *end, char next, int64_t *value)
{
    const char *s = *p;
    int64_t v = 0;
    int digits = 0;

    while (s < end && *s >= '0' && *s <= '9') {
        if (++digits > 18) {
            return -1;
        }
        v = v * 10 + (*s - '0');
        s++;
    }
    if (digits == 0 || s >= end || *s != next) {
        return -1;
    }
    *value = v;
    *p = s + 1;
    return 0;
}

/* A set of stack ids: open addressing, id + 1 stored (0 is empty). */
typedef struct idset {
    uint64_t *slots;
    size_t cap, n;
} idset_t;

static size_t
idset_pos(const idset_t *set, uint64_t key)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 7) & (set->cap - 1);

    while (set->slots[i] != 0 && set->slots[i] != key) {
        i = (i + 1) & (set->cap - 1);
    }
    return i;
}

static int
idset_has(const idset_t *set, int64_t id)
{
    return set->cap > 0 && set->slots[idset_pos(set, (uint64_t)id + 1)] != 0;
}

/* Returns 0, or -1 when out of memory. */
static int
idset_add(idset_t *set, int64_t id)
{
    uint64_t key = (uint64_t)id + 1;
    size_t i;

    if (2 * (set->n + 1) > set->cap) {
        idset_t bigger = {NULL, set->cap ? 2 * set->cap : 64, 0};

        bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
        if (bigger.slots == NULL) {
            return -1;
        }
        for (i = 0; i < set->cap; i++) {
            if (set->slots[i] != 0) {
                bigger.slots[idset_pos(&bigger, set->slots[i])] =
                    set->slots[i];
                bigger.n++;
            }
        }
        free(set->slots);
        *set = bigger;
    }
    i = idset_pos(set, key);
    if (set->slots[i] == 0) {
        set->slots[i] = key;
        set->n++;
    }
    return 0;
}

int
sw_memfile_stack_records(const char *data, size_t len, sw_memstack_t *out,
                         size_t *stop)
{
    const char *p = data, *end = data + len;
    idset_t defined = {NULL, 0, 0};
    int rc = SW_MEMSTACK_OK;

    out->na = out->nf = out->nd = 0;
    while (p < end) {
        const char *s = p + 2;
        double t;
        int64_t a, b, c;

        if (end - p < 2 || p[1] != ' ') {
            rc = SW_MEMSTACK_BAD;
            break;
        }
        if (p[0] == '+') {
            if (parse_field(&s, end, 1, &t) < 0 || s >= end || *s++ != ' ' ||
                parse_id(&s, end, ' ', &a) < 0 ||
                parse_id(&s, end, ' ', &b) < 0 ||
                parse_id(&s, end, '\n', &c) < 0) {
                rc = SW_MEMSTACK_BAD;
                break;
            }
            if (!idset_has(&defined, b)) {
                rc = SW_MEMSTACK_UNDEFINED;
                break;
            }
            out->a_t[out->na] = t;
            out->a_block[out->na] = a;
            out->a_stack[out->na] = b;
            out->a_weight[out->na] = c;
            out->na++;
        }
        else if (p[0] == '-') {
            if (parse_field(&s, end, 1, &t) < 0 || s >= end || *s++ != ' ' ||
                parse_id(&s, end, '\n', &a) < 0) {
                rc = SW_MEMSTACK_BAD;
                break;
            }
            out->f_t[out->nf] = t;
            out->f_block[out->nf] = a;
            out->nf++;
        }
        else if (p[0] == 's') {
            const char *frames;

            if (parse_id(&s, end, ' ', &a) < 0) {
                rc = SW_MEMSTACK_BAD;
                break;
            }
            frames = s;
            while (s < end && *s != '\n') {
                s++;
            }
            if (s >= end || s == frames) {
                rc = SW_MEMSTACK_BAD;
                break;
            }
            if (idset_add(&defined, a) < 0) {
                rc = -1;
                break;
            }
            out->d_id[out->nd] = a;
            out->d_off[out->nd] = (size_t)(frames - data);
            out->d_len[out->nd] = (size_t)(s - frames);
            out->nd++;
            s++;
        }
        else {
            rc = SW_MEMSTACK_BAD;
            break;
        }
        p = s;
    }
    free(defined.slots);
    *stop = (size_t)(p - data);
    return rc;
}
