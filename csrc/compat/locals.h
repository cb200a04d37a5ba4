/* A frame's local variables read without the GIL: the fast locals of a
 * frame (names from its code object's co_localsplusnames, or co_varnames
 * and co_nlocals on 3.9/3.10), each value read natively when it is of a
 * simple type -- None, bool, int, float, str, bytes, and the length of a
 * list, tuple, dict, set or frozenset -- and otherwise only its type's
 * name and address.  What `dump --locals` shows when the GIL cannot be
 * had (a thread holds it in a C call), in this process or, through the
 * outside reader, another.
 *
 * Everything goes through the reader's safe read and is checked (types
 * by address, sizes and lengths by bounds).  Read while the frame's
 * thread runs, a value may be stale or belong to a reused slot; while a
 * thread holds the GIL in C, no frame changes.
 *
 * Pure C; no Python.h. */
#ifndef SW_COMPAT_LOCALS_H
#define SW_COMPAT_LOCALS_H

#include <stddef.h>
#include <stdint.h>

#include "compat/reader.h"

#define SW_LOCALS_MAX 100  /* variables per frame */
#define SW_LOCAL_NAME 64   /* bytes of a name kept */
#define SW_LOCAL_TEXT 244  /* bytes of a str's (UTF-8) or bytes' value */
#define SW_LOCAL_CHARS 240 /* characters of a str or bytes shown */
#define SW_LOCAL_TYPE 64   /* bytes of a type's name */

enum sw_local_kind {
    SW_LOCAL_NONE = 1,
    SW_LOCAL_BOOL,       /* ival 0 or 1 */
    SW_LOCAL_INT,        /* ival: exact ints of at most two digits (< 2**60) */
    SW_LOCAL_FLOAT,      /* fval */
    SW_LOCAL_STR,        /* text (UTF-8, at most SW_LOCAL_CHARS code points),
                       len: the length in code points */
    SW_LOCAL_BYTES,      /* text (raw bytes, text_len of them), len */
    SW_LOCAL_SIZED,      /* type, len: list, tuple, dict, set, frozenset */
    SW_LOCAL_OTHER,      /* type, addr */
    SW_LOCAL_UNREADABLE, /* addr: its object could not be read */
};

typedef struct sw_local {
    char name[SW_LOCAL_NAME];
    int kind;
    uintptr_t addr;
    int64_t ival;
    double fval;
    int64_t len;
    char type[SW_LOCAL_TYPE];
    char text[SW_LOCAL_TEXT];
    size_t text_len;
} sw_local_t;

/* Reads the bound fast locals of the frame at `frame` whose code object
 * is `code` (a sw_rawframe_t's frame and code, read by r) into
 * out[0..max), in the code's order; unbound ones are left out.
 * Context: r's thread, no GIL needed; no allocation.
 * Returns how many, or SW_EFAULT / SW_EINVAL when the code object, its
 * names or the frame's slots cannot be read or do not validate. */
int sw_read_locals(sw_reader_t *r, uintptr_t frame, uintptr_t code,
                   sw_local_t *out, int max);

#endif
