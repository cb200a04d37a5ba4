/* The memory profile's chart as an SVG document (see memchart.h).
 *
 * Layout: title and subtitle on top; the plot (SW_MEMCHART_PLOT_W wide)
 * with a time axis below it and a MiB axis on its left, "nice" ticks (1,
 * 2 or 5 times a power of ten) and a light grid; the legend under the
 * plot, three entries a row, each with its line's colour, name and peak.
 * Lines are drawn as steps (a file has a line only when its counters
 * changed: a value holds until the next one), downsampled to a few
 * points per pixel column, keeping every extreme, so a 10-minute profile of 100 threads stays a small document.
 * Each line's highest point has a circle (its tooltip says the value and
 * time); the process's peak and the highest thread's are also written
 * next to their circle. */
#include "writers/memchart.h"

#include <stdlib.h>
#include <string.h>

#define PLOT_X 90
#define PLOT_Y 70
#define PLOT_H 420
#define DOC_W (PLOT_X + SW_MEMCHART_PLOT_W + 40)
#define LEGEND_ROW 22
#define LEGEND_COLS 3
/* A legend entry's width: its line and gap, and about 7 px a character
 * of its text (the name and " (peak 123.4 MiB at 12.3 s)"). */
#define LEGEND_PX(len) (30.0 + 6.0 * (double)((len) + 26))

static const char *const palette[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#393b79", "#ad494a", "#637939",
    "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

static const char *
colour(size_t k)
{
    return palette[k % NPALETTE];
}

/* A dash pattern for lines that reuse a colour (more lines than colours
 * in the palette). */
static const char *
dashes(size_t k)
{
    static const char *const d[] = {"", "6 3", "2 2", "8 3 2 3"};
    return d[(k / NPALETTE) % 4];
}

size_t
sw_memchart_downsample(const double *t, const double *v, size_t n, double t0,
                       double t1, int columns, double *ot, double *ov)
{
    size_t i = 0, m = 0;
    double span = t1 > t0 ? t1 - t0 : 1.0;

    if (columns < 1) {
        columns = 1;
    }
    while (i < n) {
        long col = (long)((t[i] - t0) / span * columns);
        size_t first = i, lo = i, hi = i, last = i, k, pick[4];
        int np = 0, a;

        if (col < 0) {
            col = 0;
        }
        if (col >= columns) {
            col = columns - 1;
        }
        while (i < n) {
            long c = (long)((t[i] - t0) / span * columns);

            if (c < 0) {
                c = 0;
            }
            if (c >= columns) {
                c = columns - 1;
            }
            if (c != col) {
                break;
            }
            if (v[i] < v[lo]) {
                lo = i;
            }
            if (v[i] > v[hi]) {
                hi = i;
            }
            last = i;
            i++;
        }
        /* The four in time order, each once. */
        pick[np++] = first;
        if (lo < hi) {
            pick[np++] = lo;
            pick[np++] = hi;
        }
        else {
            pick[np++] = hi;
            pick[np++] = lo;
        }
        pick[np++] = last;
        for (a = 0; a < np; a++) {
            k = pick[a];
            if (a > 0 && k <= pick[a - 1]) {
                pick[a] = pick[a - 1];
                continue;
            }
            ot[m] = t[k];
            ov[m] = v[k];
            m++;
        }
    }
    return m;
}

/* A tick step of 1, 2 or 5 times a power of ten giving at most about
 * `want` ticks over span (without libm: the pure-C tests link none). */
static double
nice_step(double span, int want)
{
    double raw = span / want, p = 1.0, f;

    if (!(raw > 0) || raw > 1e300) {
        return 1.0;
    }
    while (p > raw) {
        p /= 10.0;
    }
    while (p * 10.0 <= raw) {
        p *= 10.0;
    }
    f = raw / p;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
}

/* The smallest multiple of step at or above x (x >= 0, step > 0). */
static double
up_to_step(double x, double step)
{
    double n = (double)(long long)(x / step - 1e-9);

    return (n * step < x - step * 1e-9 ? n + 1 : n) * step;
}

static double
absolute(double x)
{
    return x < 0 ? -x : x;
}

static void
put_mib(sw_buf_t *out, double bytes)
{
    double mib = bytes / (1024.0 * 1024.0);

    if (absolute(mib) >= 100.0) {
        sw_buf_printf(out, "%.0f MiB", mib);
    }
    else if (absolute(mib) >= 1.0) {
        sw_buf_printf(out, "%.1f MiB", mib);
    }
    else {
        sw_buf_printf(out, "%.0f KiB", bytes / 1024.0);
    }
}

static size_t
peak_of(const sw_memchart_series_t *s)
{
    size_t i, best = 0;

    for (i = 1; i < s->n; i++) {
        if (s->v[i] > s->v[best]) {
            best = i;
        }
    }
    return best;
}

int
sw_write_memchart(const sw_memchart_series_t *series, size_t nseries,
                  const sw_memchart_opts_t *o, sw_buf_t *out)
{
    double t0 = 0.0, t1 = 0.0, v1 = 0.0, tstep, vstep, x;
    double *dt = NULL, *dv = NULL;
    size_t k, i, top_thread = (size_t)-1, rows, doc_h, cols, longest = 0;
    int rc = -1;

    for (k = 0; k < nseries; k++) {
        const sw_memchart_series_t *s = &series[k];

        for (i = 0; i < s->n; i++) {
            if (s->t[i] > t1) {
                t1 = s->t[i];
            }
            if (s->v[i] > v1) {
                v1 = s->v[i];
            }
        }
        if (!s->process && s->n > 0 &&
            (top_thread == (size_t)-1 ||
             s->v[peak_of(s)] >
                 series[top_thread].v[peak_of(&series[top_thread])])) {
            top_thread = k;
        }
    }
    if (t1 <= t0) {
        t1 = t0 + 1.0;
    }
    tstep = nice_step(t1 - t0, 10);
    t1 = up_to_step(t1, tstep);
    if (v1 <= 0) {
        v1 = 1024.0 * 1024.0;
    }
    vstep = nice_step(v1 / (1024.0 * 1024.0), 8) * 1024.0 * 1024.0;
    v1 = up_to_step(v1, vstep);
    /* Fewer columns when names are long (greenlets' labels). */
    for (k = 0; k < nseries; k++) {
        size_t len = strlen(series[k].name);

        longest = len > longest ? len : longest;
    }
    cols = (size_t)(SW_MEMCHART_PLOT_W / LEGEND_PX(longest));
    cols = cols < 1 ? 1 : cols > LEGEND_COLS ? LEGEND_COLS : cols;
    rows = (nseries + cols - 1) / cols;
    doc_h = PLOT_Y + PLOT_H + 60 + rows * LEGEND_ROW + 10;

    dt = malloc((4 * SW_MEMCHART_PLOT_W + 4) * sizeof(*dt));
    dv = malloc((4 * SW_MEMCHART_PLOT_W + 4) * sizeof(*dv));
    if (dt == NULL || dv == NULL) {
        goto done;
    }

#define X(t) (PLOT_X + ((t)-t0) / (t1 - t0) * SW_MEMCHART_PLOT_W)
#define Y(v) (PLOT_Y + PLOT_H - (v) / v1 * PLOT_H)

    sw_buf_printf(out,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                  "width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\" "
                  "class=\"sw-memchart\" data-x0=\"%d\" data-x1=\"%d\" "
                  "data-t0=\"%.6f\" data-t1=\"%.6f\" data-y0=\"%d\" "
                  "data-y1=\"%d\" data-v0=\"0\" data-v1=\"%.0f\">\n",
                  DOC_W, doc_h, DOC_W, doc_h, PLOT_X,
                  PLOT_X + SW_MEMCHART_PLOT_W, t0, t1, PLOT_Y + PLOT_H, PLOT_Y,
                  v1);
    sw_buf_puts(out, "<title>");
    sw_buf_xml(out, o->title ? o->title : "memory");
    sw_buf_puts(out,
                "</title>\n<style>\n"
                "text { font-family: Verdana, sans-serif; font-size: 12px; "
                "fill: #222; }\n"
                ".sw-title { font-size: 17px; font-weight: bold; }\n"
                ".sw-sub { fill: #555; }\n"
                ".sw-grid { stroke: #e4e4e4; stroke-width: 1; }\n"
                ".sw-axis { stroke: #444; stroke-width: 1; }\n"
                ".sw-line { fill: none; stroke-width: 1.6; "
                "stroke-linejoin: round; }\n"
                ".sw-process { stroke: #888; stroke-width: 3; "
                "opacity: 0.7; }\n"
                ".sw-peak { stroke: #fff; stroke-width: 1.5; }\n"
                "</style>\n"
                "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    sw_buf_printf(out,
                  "<text class=\"sw-title\" x=\"%d\" y=\"28\" "
                  "text-anchor=\"middle\">",
                  DOC_W / 2);
    sw_buf_xml(out, o->title ? o->title : "memory");
    sw_buf_puts(out, "</text>\n");
    if (o->subtitle != NULL) {
        sw_buf_printf(out,
                      "<text class=\"sw-sub\" x=\"%d\" y=\"48\" "
                      "text-anchor=\"middle\">",
                      DOC_W / 2);
        sw_buf_xml(out, o->subtitle);
        sw_buf_puts(out, "</text>\n");
    }

    /* Grid, ticks and axes. */
    for (x = 0.0; x <= v1 + vstep / 2; x += vstep) {
        sw_buf_printf(out,
                      "<line class=\"sw-grid\" x1=\"%d\" x2=\"%d\" "
                      "y1=\"%.1f\" y2=\"%.1f\"/>"
                      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g"
                      "</text>\n",
                      PLOT_X, PLOT_X + SW_MEMCHART_PLOT_W, Y(x), Y(x),
                      PLOT_X - 6, Y(x) + 4, x / (1024.0 * 1024.0));
    }
    for (x = t0; x <= t1 + tstep / 2; x += tstep) {
        sw_buf_printf(out,
                      "<line class=\"sw-grid\" x1=\"%.1f\" x2=\"%.1f\" "
                      "y1=\"%d\" y2=\"%d\"/>"
                      "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g"
                      "</text>\n",
                      X(x), X(x), PLOT_Y, PLOT_Y + PLOT_H, X(x),
                      PLOT_Y + PLOT_H + 18, x);
    }
    sw_buf_printf(out,
                  "<line class=\"sw-axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" "
                  "y2=\"%d\"/><line class=\"sw-axis\" x1=\"%d\" x2=\"%d\" "
                  "y1=\"%d\" y2=\"%d\"/>\n"
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time "
                  "(seconds)</text>\n"
                  "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" "
                  "transform=\"rotate(-90 20 %d)\">memory (MiB)</text>\n",
                  PLOT_X, PLOT_X + SW_MEMCHART_PLOT_W, PLOT_Y + PLOT_H,
                  PLOT_Y + PLOT_H, PLOT_X, PLOT_X, PLOT_Y, PLOT_Y + PLOT_H,
                  PLOT_X + SW_MEMCHART_PLOT_W / 2, PLOT_Y + PLOT_H + 40,
                  PLOT_Y + PLOT_H / 2, PLOT_Y + PLOT_H / 2);

    /* The lines (the process first, under the threads). */
    for (int pass = 0; pass < 2; pass++) {
        for (k = 0; k < nseries; k++) {
            const sw_memchart_series_t *s = &series[k];
            size_t m;

            if (s->n == 0 || (pass == 0) != (s->process != 0)) {
                continue;
            }
            m = sw_memchart_downsample(s->t, s->v, s->n, t0, t1,
                                       SW_MEMCHART_PLOT_W, dt, dv);
            sw_buf_printf(out,
                          "<polyline class=\"sw-line%s\" data-i=\"%zu\" "
                          "stroke=\"%s\" stroke-dasharray=\"%s\" points=\"",
                          s->process ? " sw-process" : "", k,
                          s->process ? "#888" : colour(k), dashes(k));
            /* Steps: a value holds until the next line of the file
             * (a line is written only when the counters changed). */
            for (i = 0; i < m; i++) {
                if (i > 0 && dv[i] != dv[i - 1]) {
                    sw_buf_printf(out, " %.1f,%.1f", X(dt[i]), Y(dv[i - 1]));
                }
                sw_buf_printf(out, "%s%.1f,%.1f", i ? " " : "", X(dt[i]),
                              Y(dv[i]));
            }
            sw_buf_puts(out, "\"><title>");
            sw_buf_xml(out, s->name);
            sw_buf_puts(out, "</title></polyline>\n");
        }
    }

    /* Each line's peak. */
    for (k = 0; k < nseries; k++) {
        const sw_memchart_series_t *s = &series[k];
        size_t p;

        if (s->n == 0) {
            continue;
        }
        p = peak_of(s);
        sw_buf_printf(out,
                      "<circle class=\"sw-peak\" data-i=\"%zu\" cx=\"%.1f\" "
                      "cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>",
                      k, X(s->t[p]), Y(s->v[p]), s->process ? 6 : 5,
                      s->process ? "#555" : colour(k));
        sw_buf_xml(out, s->name);
        sw_buf_puts(out, ": peak ");
        put_mib(out, s->v[p]);
        sw_buf_printf(out, " at %.2f s</title></circle>\n", s->t[p]);
        if (s->process || k == top_thread) {
            double lx = X(s->t[p]);
            int right = lx > PLOT_X + SW_MEMCHART_PLOT_W * 0.7;

            sw_buf_printf(out,
                          "<text class=\"sw-peak-label\" x=\"%.1f\" "
                          "y=\"%.1f\" text-anchor=\"%s\">",
                          lx + (right ? -9 : 9), Y(s->v[p]) - 8,
                          right ? "end" : "start");
            sw_buf_puts(out, "peak ");
            put_mib(out, s->v[p]);
            sw_buf_printf(out, " at %.2f s (", s->t[p]);
            sw_buf_xml(out, s->name);
            sw_buf_puts(out, ")</text>\n");
        }
    }

    /* The legend. */
    for (k = 0; k < nseries; k++) {
        const sw_memchart_series_t *s = &series[k];
        double lx = PLOT_X + (double)(k % cols) *
                                 ((double)SW_MEMCHART_PLOT_W / (double)cols);
        double ly = PLOT_Y + PLOT_H + 62 + (double)(k / cols) * LEGEND_ROW;

        sw_buf_printf(out,
                      "<g class=\"sw-legend\" data-i=\"%zu\" "
                      "style=\"cursor: pointer\">"
                      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
                      "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%d\" "
                      "stroke-dasharray=\"%s\"/><text x=\"%.1f\" "
                      "y=\"%.1f\">",
                      k, lx, lx + 24, ly - 4, ly - 4,
                      s->process ? "#888" : colour(k), s->process ? 3 : 2,
                      dashes(k), lx + 30, ly);
        sw_buf_xml(out, s->name);
        if (s->n > 0) {
            size_t p = peak_of(s);

            sw_buf_puts(out, " (peak ");
            put_mib(out, s->v[p]);
            sw_buf_printf(out, " at %.1f s)", s->t[p]);
        }
        sw_buf_puts(out, "</text></g>\n");
    }
    sw_buf_puts(out, "</svg>\n");
#undef X
#undef Y
    rc = sw_buf_ok(out) ? 0 : -1;
done:
    free(dt);
    free(dv);
    return rc;
}
