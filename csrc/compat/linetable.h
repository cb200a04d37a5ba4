/* Line numbers from a code object's line table, decoded in C so that the
 * sampler never needs the GIL to name a line.
 *
 * Pure C; no Python.h. */
#ifndef SW_COMPAT_LINETABLE_H
#define SW_COMPAT_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* The source line of the instruction at byte offset `addr` of a code
 * object, given a copy of its line table in `format` (enum
 * sw_line_format) and its co_firstlineno.  A negative addr (a frame that
 * has not started) gives firstlineno.  An empty table (table may then be
 * NULL) is valid: on 3.9 it means "all on the first line".
 * Context: any thread, no GIL; pure function, no allocation,
 * async-signal-safe.
 * Returns the line, or -1 when the table says the instruction has no
 * line, the table is malformed or truncated, or format is unknown (not
 * an SW_E* code). */
int sw_line_for(int format, const uint8_t *table, size_t len, int firstlineno,
                int32_t addr);

#endif
