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

TEST(times_are_read_as_python_reads_them)
{
    static const char data[] = "0.100000 1\n123.456789 2\n";
    double t[2], v[2];
    double *out[2] = {t, v};
    int want[2] = {0, 1};
    size_t stop;

    ASSERT_EQ(sw_memfile_rows(S(data), 2, want, 2, out, &stop), 2);
    ASSERT(t[0] == 0.1);
    ASSERT(t[1] == 123.456789);
}

/* Room for n records of each kind. */
#define STACK_ARRAYS(n)                                                  \
    double a_t[n], f_t[n];                                               \
    int64_t a_block[n], a_stack[n], a_weight[n], f_block[n], d_id[n];    \
    size_t d_off[n], d_len[n];                                           \
    sw_memstack_t st = {a_t,     a_block, a_stack, a_weight, 0,     f_t, \
                        f_block, 0,       d_id,    d_off,    d_len, 0}

TEST(stack_records_by_kind)
{
    static const char data[] = "s 7 main (a.py:1);f (a.py:2)\n"
                               "+ 1.500000 91 7 524288\n"
                               "- 3.000000 91\n"
                               "s 8 g (b.py:3)\n"
                               "+ 4.000000 92 8 1000\n";
    size_t stop;
    STACK_ARRAYS(8);

    ASSERT_EQ(sw_memfile_stack_records(S(data), &st, &stop), SW_MEMSTACK_OK);
    ASSERT_EQ(stop, sizeof(data) - 1);
    ASSERT_EQ(st.na, 2);
    ASSERT_EQ(st.nf, 1);
    ASSERT_EQ(st.nd, 2);
    ASSERT(a_t[0] == 1.5 && a_t[1] == 4.0 && f_t[0] == 3.0);
    ASSERT_EQ(a_block[1], 92);
    ASSERT_EQ(a_stack[1], 8);
    ASSERT_EQ(a_weight[0], 524288);
    ASSERT_EQ(f_block[0], 91);
    ASSERT_EQ(d_id[1], 8);
    ASSERT_EQ(d_off[0], 4);
    ASSERT_EQ(d_len[0], 24);
}

TEST(stack_records_stop_at_a_bad_line_or_an_undefined_stack)
{
    static const char *const bad[] = {
        "+ 1.0 2 3\n",     /* a field short */
        "+ 1.0 2 1 4 5\n", /* a field too many */
        "- 1.0\n",         /* no block */
        "s 9\n",           /* no frames */
        "s 9 \n",          /* empty frames */
        "x 1.0 2\n",       /* no such record */
        "+ 1.0 -2 1 4\n",  /* a negative id */
        "- 1.0 2",         /* cut */
        "+ 1.0 2 1 1234567890123456789\n",
    };
    size_t k, stop;

    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char data[128];
        size_t len =
            (size_t)snprintf(data, sizeof(data), "s 1 f (a:1)\n%s", bad[k]);
        STACK_ARRAYS(4);

        if (sw_memfile_stack_records(data, len, &st, &stop) !=
                SW_MEMSTACK_BAD ||
            stop != 12) {
            FAIL("case %zu (%s): stop %zu", k, bad[k], stop);
        }
    }
    {
        static const char data[] = "s 1 f (a:1)\n+ 1.0 5 2 10\ns 2 g (b:1)\n";
        STACK_ARRAYS(4);

        ASSERT_EQ(sw_memfile_stack_records(S(data), &st, &stop),
                  SW_MEMSTACK_UNDEFINED);
        ASSERT_EQ(stop, 12);
    }
}

TEST(stack_records_many_stack_ids)
{
    /* The set of defined ids grows past its first size. */
    static char data[200 * 60];
    size_t len = 0, stop;
    int i;
    STACK_ARRAYS(400);

    for (i = 0; i < 200; i++) {
        len += (size_t)snprintf(data + len, sizeof(data) - len,
                                "s %d f%d (a:1)\n", 1000003 * i, i);
    }
    for (i = 0; i < 200; i++) {
        len += (size_t)snprintf(data + len, sizeof(data) - len,
                                "+ 1.0 %d %d 8\n", i, 1000003 * i);
    }
    ASSERT_EQ(sw_memfile_stack_records(data, len, &st, &stop), SW_MEMSTACK_OK);
    ASSERT_EQ(st.na, 200);
    ASSERT_EQ(st.nd, 200);
}

RUNNER_MAIN()
