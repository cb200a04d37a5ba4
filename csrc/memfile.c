/* Parsing the data lines of .mem files (see memfile.h). */
#include "memfile.h"

#include <stdint.h>

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
    *value =
        neg ? -(double)whole : (double)whole + (double)frac / (double)scale;
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
