/* Unit tests of the memory profile readers' C parts: the .mem data-line
 * parser (memfile.c) and the chart writer's downsampling and document
 * (writers/memchart.c).  The commands themselves are tested from Python
 * (tests/test_mem_readers.py). */
#include "runner.h"
#include "memfile.h"
#include "writers/memchart.h"

#define S(lit) lit, sizeof(lit) - 1

TEST(rows_parse_every_good_line)
{
    static const char data[] = "0.020000 10 -3 7\n"
                               "0.040000 20 0 8\n"
                               "12 30 1 9\n";
    double t[3], a[3], b[3];
    double *out[3] = {t, a, b};
    int want[3] = {0, 1, 3};
    size_t stop;

    ASSERT_EQ(sw_memfile_count_lines(S(data)), 3);
    ASSERT_EQ(sw_memfile_rows(S(data), 4, want, 3, out, &stop), 3);
    ASSERT_EQ(stop, sizeof(data) - 1);
    ASSERT(t[0] == 0.02 && t[1] == 0.04 && t[2] == 12.0);
    ASSERT(a[0] == 10 && a[1] == 20 && a[2] == 30);
    ASSERT(b[0] == 7 && b[1] == 8 && b[2] == 9);
}

TEST(rows_stop_at_the_first_bad_line)
{
    static const char *const bad[] = {
        "1.0 2 3\n",     /* too few fields */
        "1.0 2 3 4 5\n", /* too many */
        "1.0  2 3 4\n",  /* two spaces */
        "1.0 2 3 4 \n",  /* a trailing space */
        "1. 2 3 4\n",    /* a time without decimals after its dot */
        "-1.0 2 3 4\n",  /* a negative time */
        "1.0 2.5 3 4\n", /* a size that is not an integer */
        "1.0 2 - 4\n",   /* a lone minus */
        "1.0 2 3 4",     /* cut: no end of line */
        "1.0 2 3 x\n",   /* garbage */
        "1.0 1234567890123456789 3 4\n", /* 19 digits */
        "1e3 2 3 4\n",                   /* not our time format */
    };
    double t[4], v[4];
    double *out[2] = {t, v};
    int want[2] = {0, 1};
    size_t k;

    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char data[128];
        size_t stop, len;

        len = (size_t)snprintf(data, sizeof(data), "0.5 1 1 1\n%s", bad[k]);
        if (sw_memfile_rows(data, len, 4, want, 2, out, &stop) != 1 ||
            stop != 10) {
            FAIL("case %zu (%s): stop %zu", k, bad[k], stop);
        }
    }
}

TEST(downsample_keeps_extremes_in_order)
{
    enum { N = 100000, COLS = 100 };
    static double t[N], v[N], ot[4 * COLS + 4], ov[4 * COLS + 4];
    size_t i, m;
    int saw_spike = 0, saw_dip = 0;

    for (i = 0; i < N; i++) {
        t[i] = (double)i * 0.01;
        v[i] = 1000.0;
    }
    v[12345] = 999999.0;
    v[54321] = 1.0;
    m = sw_memchart_downsample(t, v, N, 0.0, t[N - 1], COLS, ot, ov);
    ASSERT(m <= 4 * COLS + 4);
    ASSERT(m >= 2 * COLS);
    for (i = 0; i < m; i++) {
        if (i > 0) {
            ASSERT(ot[i] > ot[i - 1]);
        }
        saw_spike |= ov[i] == 999999.0 && ot[i] == t[12345];
        saw_dip |= ov[i] == 1.0 && ot[i] == t[54321];
    }
    ASSERT(saw_spike && saw_dip);
    ASSERT(ot[0] == t[0] && ot[m - 1] == t[N - 1]);
}

TEST(chart_has_a_line_and_a_peak_per_series)
{
    double t1[3] = {0.0, 1.0, 2.0}, v1[3] = {0.0, 5242880.0, 1048576.0};
    double t2[2] = {0.5, 2.0}, v2[2] = {3145728.0, 0.0};
    sw_memchart_series_t s[3] = {
        {"process RSS", t1, v1, 3, 1},
        {"a <&> thread", t2, v2, 2, 0},
        {"empty", NULL, NULL, 0, 0},
    };
    sw_memchart_opts_t o = {"Memory of process 1", "pid 1"};
    sw_buf_t out;
    const char *p;
    int lines = 0, peaks = 0, legends = 0;

    sw_buf_init(&out);
    ASSERT_EQ(sw_write_memchart(s, 3, &o, &out), 0);
    for (p = out.data; (p = strstr(p, "<polyline")) != NULL; p++) {
        lines++;
    }
    for (p = out.data; (p = strstr(p, "class=\"sw-peak\"")) != NULL; p++) {
        peaks++;
    }
    for (p = out.data; (p = strstr(p, "class=\"sw-legend\"")) != NULL; p++) {
        legends++;
    }
    ASSERT_EQ(lines, 2);
    ASSERT_EQ(peaks, 2);
    ASSERT_EQ(legends, 3);
    ASSERT(strstr(out.data, "a &lt;&amp;&gt; thread") != NULL);
    ASSERT(strstr(out.data, "peak 5.0 MiB at 1.00 s (process RSS)") != NULL);
    ASSERT(strstr(out.data, "time (seconds)") != NULL);
    ASSERT(strstr(out.data, "</svg>\n") != NULL);
    sw_buf_free(&out);
}

RUNNER_MAIN()
