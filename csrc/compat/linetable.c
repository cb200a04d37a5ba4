/* The three line-table formats of CPython 3.9 to 3.13.  Each decoder
 * follows the interpreter's own addr2line for its version:
 *  - 3.9 co_lnotab (Objects/lnotab_notes.txt): byte pairs (address
 *    increment, signed line increment); the line of addr is the line
 *    accumulated before the first pair whose address passes addr.
 *  - 3.10 co_linetable (PEP 626): pairs (unsigned start delta, signed
 *    line delta), -128 meaning "no line"; ranges of zero length are
 *    skipped but still move the line.
 *  - 3.11+ co_linetable (Objects/locations.md): entries starting with a
 *    byte whose top bit is set; bits 3-6 give the kind and bits 0-2 the
 *    length minus one, in code units of two bytes. */
#include "compat/linetable.h"
#include "compat/layout.h"

static int
lnotab(const uint8_t *p, size_t len, int line, int32_t addr)
{
    int32_t at = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        at += p[i];
        if (at > addr) {
            break;
        }
        line += (int8_t)p[i + 1];
    }
    return line;
}

static int
pep626(const uint8_t *p, size_t len, int line, int32_t addr)
{
    int32_t start, end = 0;
    int current = -1;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        int8_t ldelta = (int8_t)p[i + 1];

        start = end;
        end += p[i];
        if (ldelta == -128) {
            current = -1;
        }
        else {
            line += ldelta;
            current = line;
        }
        if (start <= addr && addr < end) {
            return current;
        }
    }
    return -1;
}

/* Reads an unsigned varint of 6-bit groups, bit 6 meaning "more". */
static int
varint(const uint8_t *p, size_t len, size_t *i, uint32_t *out)
{
    uint32_t v = 0;
    int shift = 0;

    for (;;) {
        uint8_t b;

        if (*i >= len || shift > 28) {
            return -1;
        }
        b = p[(*i)++];
        v |= (uint32_t)(b & 63) << shift;
        shift += 6;
        if (!(b & 64)) {
            break;
        }
    }
    *out = v;
    return 0;
}

static int
locations(const uint8_t *p, size_t len, int line, int32_t addr)
{
    int32_t unit = addr / 2, at = 0;
    size_t i = 0;

    while (i < len) {
        uint8_t first = p[i++];
        int code = (first >> 3) & 15;
        int32_t length = (first & 7) + 1;
        int entry_line = line;
        int has_line = 1;
        uint32_t v;

        if (!(first & 128)) {
            return -1; /* not at an entry boundary: malformed */
        }
        switch (code) {
        case 15: /* no location */
            has_line = 0;
            break;
        case 14: /* long form: line delta, end line, start and end column */
        case 13: /* no column information: line delta only */
            if (varint(p, len, &i, &v) < 0) {
                return -1;
            }
            line += (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
            entry_line = line;
            if (code == 14) {
                int k;

                for (k = 0; k < 3; k++) {
                    if (varint(p, len, &i, &v) < 0) {
                        return -1;
                    }
                }
            }
            break;
        case 12:
        case 11:
        case 10: /* one-line forms: line delta code-10, two column bytes */
            line += code - 10;
            entry_line = line;
            i += 2;
            break;
        default: /* short forms 0-9: same line, one column byte */
            i += 1;
            break;
        }
        if (unit >= at && unit < at + length) {
            return has_line ? entry_line : -1;
        }
        at += length;
    }
    return -1;
}

int
sw_line_for(int format, const uint8_t *table, size_t len, int firstlineno,
            int32_t addr)
{
    if (addr < 0) {
        return firstlineno;
    }
    if (table == NULL && len > 0) {
        return -1;
    }
    switch (format) {
    case SW_LINES_LNOTAB:
        return lnotab(table, len, firstlineno, addr);
    case SW_LINES_PEP626:
        return pep626(table, len, firstlineno, addr);
    case SW_LINES_LOCATIONS:
        return locations(table, len, firstlineno, addr);
    default:
        return -1;
    }
}
