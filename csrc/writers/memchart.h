/* The memory profile's chart (`stackwatch mem graph`'s memg.svg, and the
 * chart of `mem report`'s page): every thread's live memory and the
 * process's RSS over time on one chart, seconds across, MiB up, a legend,
 * each line's peak marked.
 *
 * Context: any thread, no GIL; pure C, no Python.h.  Allocates (not for
 * signal handlers).  Errors: -1 means out of memory (out then holds a
 * partial document: discard it). */
#ifndef SW_WRITERS_MEMCHART_H
#define SW_WRITERS_MEMCHART_H

#include <stddef.h>

#include "buf.h"

/* One line of the chart: n points (t[i] seconds, v[i] bytes), t not
 * decreasing.  The process's RSS (process = 1) is drawn first, thick and
 * grey; threads in colours, in the order given. */
typedef struct sw_memchart_series {
    const char *name;
    const double *t;
    const double *v;
    size_t n;
    int process;
} sw_memchart_series_t;

typedef struct sw_memchart_opts {
    const char *title;    /* document title */
    const char *subtitle; /* one line of details, may be NULL */
} sw_memchart_opts_t;

/* The width of the plot area in pixels (a line keeps at most about four
 * points per pixel column: sw_memchart_downsample). */
#define SW_MEMCHART_PLOT_W 1000

/* Reduces n points to at most 4 per column of `columns` equal slices of
 * [t0, t1] (the first, lowest, highest and last point of each, in time
 * order), so that a line drawn from them keeps every peak and trough a
 * pixel can show.  ot and ov hold room for 4 * columns + 4 points.
 * Returns the points written.  Pure. */
size_t sw_memchart_downsample(const double *t, const double *v, size_t n,
                              double t0, double t1, int columns, double *ot,
                              double *ov);

/* Appends the whole SVG document.  The root element carries the plot's
 * box and scales (data-x0, data-x1, data-t0, data-t1 for time; data-y0,
 * data-y1, data-v0, data-v1 for bytes), each line is a <polyline
 * class="sw-line" data-i="k">, its legend entry a <g class="sw-legend"
 * data-i="k">, its peak a <circle class="sw-peak" data-i="k">, for the
 * report page's script.  Returns 0 or -1 (out of memory). */
int sw_write_memchart(const sw_memchart_series_t *series, size_t nseries,
                      const sw_memchart_opts_t *o, sw_buf_t *out);

#endif
