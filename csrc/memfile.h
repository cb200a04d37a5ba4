/* The data lines of the memory profiler's .mem files (docs/
 * memory-format.md), parsed for the readers (`stackwatch mem graph|peaks|
 * report`): a 10-minute profile of 100 threads at 20 ms is 3 million
 * lines, which Python's own parsing takes seconds over (bench/
 * memread.py).
 *
 * Context: any thread, no GIL; pure C, no Python.h.  The caller gives
 * the output arrays; only sw_memfile_stack_records() allocates (its set
 * of defined stack ids). */
#ifndef SW_MEMFILE_H
#define SW_MEMFILE_H

#include <stddef.h>
#include <stdint.h>

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

/* The records of a .stack file's body, by kind, in file order.  Each
 * array holds room for sw_memfile_count_lines() entries. */
typedef struct sw_memstack {
    /* "+ <t> <block> <stack> <weight>" */
    double *a_t;
    int64_t *a_block, *a_stack, *a_weight;
    size_t na;
    /* "- <t> <block>" */
    double *f_t;
    int64_t *f_block;
    size_t nf;
    /* "s <stack> <frames>": the id, and where its frames are in data */
    int64_t *d_id;
    size_t *d_off, *d_len;
    size_t nd;
} sw_memstack_t;

enum {
    SW_MEMSTACK_OK = 0,
    SW_MEMSTACK_BAD = 1,       /* a line that is not a record (or cut) */
    SW_MEMSTACK_UNDEFINED = 2, /* a '+' whose stack was not defined yet */
};

/* Parses data[0..len) as .stack records (docs/memory-format.md): times
 * as in sw_memfile_rows(), ids and weights unsigned integers of at most
 * 18 digits, frames the non-empty rest of an 's' line.  Stops at the
 * first line that is not a record, or a '+' whose stack id no earlier
 * 's' line defined.  Returns SW_MEMSTACK_OK (*stop = len), _BAD or
 * _UNDEFINED (*stop = the offset of that line), or -1 when out of
 * memory. */
int sw_memfile_stack_records(const char *data, size_t len, sw_memstack_t *out,
                             size_t *stop);

#endif
