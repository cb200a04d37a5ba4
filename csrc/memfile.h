/* The data lines of the memory profiler's .mem files (docs/
 * memory-format.md), parsed for the readers (`stackwatch mem graph|peaks|
 * report`): a 10-minute profile of 100 threads at 20 ms is 3 million
 * lines, which Python's own parsing takes seconds over (bench/
 * memread.py).
 *
 * Context: any thread, no GIL; pure C, no Python.h.  Allocates nothing:
 * the caller gives the output arrays. */
#ifndef SW_MEMFILE_H
#define SW_MEMFILE_H

#include <stddef.h>

/* The most columns a .mem line may have. */
#define SW_MEMFILE_MAX_COLS 64

/* Counts the lines of data[0..len): the '\n's, plus one for a last line
 * without its '\n'.  Pure. */
size_t sw_memfile_count_lines(const char *data, size_t len);

/* Parses data[0..len) as lines of ncols fields (2 <= ncols <=
 * SW_MEMFILE_MAX_COLS) separated by one space, each ending in '\n': the
 * first field a time ("<digits>" or "<digits>.<digits>"), the others
 * integers ("-"? digits, at most 18 digits).  For each k < nwant, column
 * want[k] (0 <= want[k] < ncols) of row r goes to out[k][r] (as a
 * double: exact below 2^53); each out[k] holds room for
 * sw_memfile_count_lines(data, len) rows.  Stops at the first line that
 * does not parse (or that has no '\n').  Returns the rows parsed; *stop
 * is the offset of the first byte not parsed (len when all were). */
size_t sw_memfile_rows(const char *data, size_t len, int ncols,
                       const int *want, int nwant, double *const *out,
                       size_t *stop);

#endif
