/* Unit tests of the writers (collapsed, speedscope, SVG) on small
 * synthetic sessions built with the stacks.h API.
 *
 * Collapsed output is compared line for line.  Speedscope output is
 * checked by substrings here; its schema is validated from Python.  SVG
 * output goes through a small well-formedness checker (tags, attributes,
 * entities, one CDATA section) and a parser of its frames, so the tests
 * can check the layout: widths proportional to samples, children inside
 * their parents, narrow frames omitted, rows for groups.  A real browser
 * checks the script (tests/helpers/check_svg.py).
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Icsrc -Itests/c tests/c/test_writers.c
 *        csrc/stacks.c csrc/buf.c csrc/writers/{common,collapsed,
 *        speedscope,svg}.c; run with no argument to list the tests, with
 *        a name to run one. */
#include <stdarg.h>

#include "runner.h"
#include "stacks.h"
#include "stackfmt.h"
#include "writers/writer.h"

#define EM_DASH "\xE2\x80\x94"
#define INNER_WIDTH 1180.0 /* SVG image width minus the margins */

/* ---- building sessions ----------------------------------------------- */

/* A new session with default limits; aborts the test on failure. */
static sw_session_t *
new_session(void)
{
    sw_session_t *s = sw_session_new(NULL);

    ASSERT(s != NULL);
    return s;
}

/* The frame (name, file, line); every call uses a new code serial, as
 * distinct code objects would. */
static uint32_t
frame(sw_session_t *s, const char *name, const char *file, int line)
{
    static uint64_t serial = 1;
    uint32_t f = sw_session_frame(s, serial++, line, 0, name, file);

    ASSERT(f != 0);
    return f;
}

/* The leaf node of a stack of n frames given root first. */
static uint32_t
stack(sw_session_t *s, int n, ...)
{
    uint32_t leaf_first[64];
    va_list ap;
    int i;

    ASSERT(n > 0 && n <= 64);
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        leaf_first[n - 1 - i] = va_arg(ap, uint32_t);
    }
    va_end(ap);
    return sw_session_stack(s, leaf_first, n);
}

/* The leaf node of the stack root_first[0..n). */
static uint32_t
stack_array(sw_session_t *s, const uint32_t *root_first, int n)
{
    uint32_t leaf_first[256];
    int i;

    ASSERT(n > 0 && n <= 256);
    for (i = 0; i < n; i++) {
        leaf_first[n - 1 - i] = root_first[i];
    }
    return sw_session_stack(s, leaf_first, n);
}

/* A thread slot, named if name is not NULL. */
static uint32_t
thread(sw_session_t *s, uint64_t tstate, unsigned long ident, long tid,
       const char *name)
{
    int created;
    uint32_t slot = sw_session_thread(s, tstate, ident, tid, 0, &created);

    ASSERT(slot != 0);
    if (name != NULL) {
        ASSERT_EQ(sw_session_name_thread(s, slot, name), 0);
    }
    return slot;
}

/* Adds `times` samples of (thread, greenlet, node), each 1000 ns of wall
 * and 10 ns of CPU time. */
static void
add(sw_session_t *s, uint32_t slot, uint32_t greenlet, uint32_t node,
    int times)
{
    int i;

    ASSERT(node != 0);
    for (i = 0; i < times; i++) {
        ASSERT_EQ(sw_session_add(s, slot, greenlet, node, 1000, 10, 1), 0);
    }
}

/* Runs a writer; returns its output (caller frees). */
static char *
run(sw_writer_fn fn, const sw_session_t *s, const sw_write_opts_t *o)
{
    sw_buf_t b;
    char *text;

    sw_buf_init(&b);
    ASSERT_EQ(fn(s, o, &b), 0);
    ASSERT(sw_buf_ok(&b));
    text = strdup(b.data ? b.data : "");
    ASSERT(text != NULL);
    sw_buf_free(&b);
    return text;
}

/* Number of (possibly overlapping) occurrences of needle in hay. */
static int
count_of(const char *hay, const char *needle)
{
    int n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay++;
    }
    return n;
}

#define ASSERT_HAS(hay, needle)                              \
    do {                                                     \
        if (strstr((hay), (needle)) == NULL)                 \
            FAIL("missing \"%s\" in:\n%s", (needle), (hay)); \
    } while (0)

#define ASSERT_LACKS(hay, needle)                               \
    do {                                                        \
        if (strstr((hay), (needle)) != NULL)                    \
            FAIL("unexpected \"%s\" in:\n%s", (needle), (hay)); \
    } while (0)

/* The session most tests use:
 *
 *   MainThread (tid 7):  <module> > main > work      x3
 *                        <module> > main             x2
 *   Thread 0x2000:       <module> > main > work      x4
 *                        <module> > helper           x1
 */
static sw_session_t *
sample_session(void)
{
    sw_session_t *s = new_session();
    uint32_t mod = frame(s, "<module>", "app.py", 3);
    uint32_t mainf = frame(s, "main", "app.py", 9);
    uint32_t work = frame(s, "work", "lib.py", 20);
    uint32_t helper = frame(s, "helper", "lib.py", 40);
    uint32_t t1 = thread(s, 100, 0x1000, 7, "MainThread");
    uint32_t t2 = thread(s, 200, 0x2000, 0, NULL);

    add(s, t1, 0, stack(s, 3, mod, mainf, work), 3);
    add(s, t1, 0, stack(s, 2, mod, mainf), 2);
    add(s, t2, 0, stack(s, 3, mod, mainf, work), 4);
    add(s, t2, 0, stack(s, 2, mod, helper), 1);
    return s;
}

/* ---- collapsed -------------------------------------------------------- */

TEST(collapsed_merges_threads)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out = run(sw_write_collapsed, s, &o);

    /* Root first, "function (path:line)", ';' joins; the same stack from
     * two threads is one line. */
    ASSERT_STR_EQ(out, "<module> (app.py:3);helper (lib.py:40) 1\n"
                       "<module> (app.py:3);main (app.py:9) 2\n"
                       "<module> (app.py:3);main (app.py:9);"
                       "work (lib.py:20) 7\n");
    free(out);
    sw_session_free(s);
}

/* Short paths in labels, and the ambiguity guard: two util.py under
 * different prefixes would both read "util.py", so both keep their full
 * paths (and stay two lines); full_paths shows every path in full. */
TEST(collapsed_short_paths_and_the_guard)
{
    const char *const prefixes[] = {"/site", "/app", "/app/vendor"};
    sw_session_t *s = new_session();
    uint32_t t = thread(s, 1, 1, 1, NULL);
    uint32_t mod = frame(s, "<module>", "/app/main.py", 1);
    uint32_t hub = frame(s, "run", "/site/gevent/hub.py", 647);
    uint32_t u1 = frame(s, "f", "/site/util.py", 2);
    uint32_t u2 = frame(s, "f", "/app/vendor/util.py", 2);
    sw_write_opts_t o = {0};
    sw_buf_t b;

    ASSERT_EQ(sw_stackfmt_set_prefixes(prefixes, 3), 0);
    add(s, t, 0, stack(s, 2, mod, hub), 1);
    add(s, t, 0, stack(s, 2, mod, u1), 2);
    add(s, t, 0, stack(s, 2, mod, u2), 3);
    sw_buf_init(&b);
    ASSERT_EQ(sw_write_profile(sw_write_collapsed, s, &o, &b), 0);
    sw_buf_putc(&b, '\0');
    ASSERT(sw_buf_ok(&b));
    ASSERT_STR_EQ(b.data, "<module> (main.py:1);f (/app/vendor/util.py:2) 3\n"
                          "<module> (main.py:1);f (/site/util.py:2) 2\n"
                          "<module> (main.py:1);run (gevent/hub.py:647) 1\n");
    sw_buf_free(&b);
    o.full_paths = 1;
    sw_buf_init(&b);
    ASSERT_EQ(sw_write_profile(sw_write_collapsed, s, &o, &b), 0);
    sw_buf_putc(&b, '\0');
    ASSERT(sw_buf_ok(&b));
    ASSERT_EQ(count_of(b.data, "(/app/main.py:1)"), 3);
    ASSERT_EQ(count_of(b.data, "(/site/gevent/hub.py:647)"), 1);
    sw_buf_free(&b);
    sw_session_free(s);
}

TEST(collapsed_by_thread)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out;

    o.by_thread = 1;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "MainThread (tid 7);<module> (app.py:3);"
                       "main (app.py:9) 2\n"
                       "MainThread (tid 7);<module> (app.py:3);"
                       "main (app.py:9);work (lib.py:20) 3\n"
                       "Thread 0x2000;<module> (app.py:3);"
                       "helper (lib.py:40) 1\n"
                       "Thread 0x2000;<module> (app.py:3);"
                       "main (app.py:9);work (lib.py:20) 4\n");
    free(out);
    sw_session_free(s);
}

TEST(collapsed_by_greenlet)
{
    sw_session_t *s = new_session();
    uint32_t f = frame(s, "run", "g.py", 5);
    uint32_t node = stack(s, 1, f);
    uint32_t t = thread(s, 1, 0xabc, 11, "MainThread");
    sw_write_opts_t o = {0};
    char *out;

    ASSERT_EQ(sw_session_label_greenlet(s, 3, "hub"), 0);
    add(s, t, 0, node, 1);
    add(s, t, 3, node, 2);
    add(s, t, 5, node, 4);
    o.by_greenlet = 1;
    out = run(sw_write_collapsed, s, &o);
    /* Lines are sorted by text. */
    ASSERT_STR_EQ(out, "greenlet #5;run (g.py:5) 4\n"
                       "greenlet ?;run (g.py:5) 1\n"
                       "greenlet hub;run (g.py:5) 2\n");
    free(out);
    o.by_thread = 1;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "MainThread (tid 11);greenlet #5;run (g.py:5) 4\n"
                       "MainThread (tid 11);greenlet ?;run (g.py:5) 1\n"
                       "MainThread (tid 11);greenlet hub;run (g.py:5) 2\n");
    free(out);
    sw_session_free(s);
}

TEST(collapsed_sanitizes_separators)
{
    sw_session_t *s = new_session();
    uint32_t a = frame(s, "f;g", "a;b.py", 1);
    uint32_t b = frame(s, "multi\nline\r", "b.py", 2);
    uint32_t t = thread(s, 1, 1, 0, "name;with;semis");
    sw_write_opts_t o = {0};
    char *out;

    add(s, t, 0, stack(s, 2, a, b), 2);
    o.by_thread = 1;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "name:with:semis;f:g (a:b.py:1);"
                       "multi line  (b.py:2) 2\n");
    free(out);
    sw_session_free(s);
}

TEST(collapsed_markers_and_unknown_lines)
{
    sw_session_t *s = new_session();
    uint32_t a = frame(s, "f", "a.py", -1);
    uint32_t m = sw_session_marker(s, "[truncated]");
    uint32_t t = thread(s, 1, 1, 0, NULL);
    sw_write_opts_t o = {0};
    char *out;

    ASSERT(m != 0);
    add(s, t, 0, stack(s, 2, m, a), 1);
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "[truncated];f (a.py) 1\n");
    free(out);
    sw_session_free(s);
}

TEST(collapsed_counts_samples_whatever_the_weight)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *plain = run(sw_write_collapsed, s, &o);
    char *wall;

    o.weight = SW_WEIGHT_WALL;
    wall = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(wall, plain);
    free(plain);
    free(wall);
    sw_session_free(s);
}

TEST(collapsed_empty)
{
    sw_session_t *s = new_session();
    sw_write_opts_t o = {0};
    char *out = run(sw_write_collapsed, s, &o);

    ASSERT_STR_EQ(out, "");
    free(out);
    sw_session_free(s);
}

/* ---- speedscope ------------------------------------------------------- */

TEST(speedscope_frames_and_samples)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out;

    o.title = "my \"profile\"";
    o.exporter = "stackwatch@0.1.0";
    out = run(sw_write_speedscope, s, &o);
    ASSERT_HAS(out, "\"$schema\": "
                    "\"https://www.speedscope.app/file-format-schema.json\"");
    ASSERT_HAS(out, "\"name\": \"my \\\"profile\\\"\"");
    ASSERT_HAS(out, "\"exporter\": \"stackwatch@0.1.0\"");
    /* Frames in id order, indexes from 0. */
    ASSERT_HAS(out, "{\"name\": \"<module>\", \"file\": \"app.py\", "
                    "\"line\": 3},\n"
                    "  {\"name\": \"main\", \"file\": \"app.py\", "
                    "\"line\": 9},\n"
                    "  {\"name\": \"work\", \"file\": \"lib.py\", "
                    "\"line\": 20},\n"
                    "  {\"name\": \"helper\", \"file\": \"lib.py\", "
                    "\"line\": 40}]");
    /* One profile; samples sorted by stack root first, one entry per
     * distinct (thread, stack). */
    ASSERT_EQ(count_of(out, "\"type\": \"sampled\""), 1);
    ASSERT_HAS(out, "\"name\": \"all threads\", \"unit\": \"none\", "
                    "\"startValue\": 0, \"endValue\": 10");
    ASSERT_HAS(out, "\"samples\": [[0,3],[0,1],[0,1,2],[0,1,2]]");
    ASSERT_HAS(out, "\"weights\": [1,2,3,4]");
    free(out);
    sw_session_free(s);
}

TEST(speedscope_by_thread_and_weights)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out;

    o.by_thread = 1;
    o.weight = SW_WEIGHT_WALL;
    out = run(sw_write_speedscope, s, &o);
    ASSERT_EQ(count_of(out, "\"type\": \"sampled\""), 2);
    ASSERT_HAS(out, "\"name\": \"MainThread (tid 7)\", "
                    "\"unit\": \"nanoseconds\", \"startValue\": 0, "
                    "\"endValue\": 5000,\n"
                    "   \"samples\": [[0,1],[0,1,2]],\n"
                    "   \"weights\": [2000,3000]}");
    ASSERT_HAS(out, "\"name\": \"Thread 0x2000\", "
                    "\"unit\": \"nanoseconds\", \"startValue\": 0, "
                    "\"endValue\": 5000,\n"
                    "   \"samples\": [[0,3],[0,1,2]],\n"
                    "   \"weights\": [1000,4000]}");
    free(out);
    o.weight = SW_WEIGHT_CPU;
    out = run(sw_write_speedscope, s, &o);
    ASSERT_HAS(out, "\"weights\": [20,30]}");
    free(out);
    sw_session_free(s);
}

TEST(speedscope_escapes_and_markers)
{
    sw_session_t *s = new_session();
    uint32_t a = frame(s, "q\"b\\s\t", "dir\\f.py", 1);
    uint32_t m = sw_session_marker(s, "[truncated]");
    uint32_t t = thread(s, 1, 1, 0, NULL);
    sw_write_opts_t o = {0};
    char *out;

    add(s, t, 0, stack(s, 2, m, a), 1);
    out = run(sw_write_speedscope, s, &o);
    ASSERT_HAS(out, "{\"name\": \"q\\\"b\\\\s\\t\", "
                    "\"file\": \"dir\\\\f.py\", \"line\": 1}");
    /* A marker has neither file nor line. */
    ASSERT_HAS(out, "{\"name\": \"[truncated]\"}");
    ASSERT_HAS(out, "\"samples\": [[1,0]]");
    free(out);
    sw_session_free(s);
}

TEST(speedscope_empty)
{
    sw_session_t *s = new_session();
    sw_write_opts_t o = {0};
    char *out = run(sw_write_speedscope, s, &o);

    ASSERT_HAS(out, "\"frames\": []");
    ASSERT_HAS(out, "\"profiles\": [\n ]\n}\n");
    free(out);
    sw_session_free(s);
}

/* ---- SVG: a checker and a parser for our own output ------------------ */

static char problem[256];

/* Checks an entity reference at p; returns its length or 0. */
static size_t
entity_len(const char *p)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;",
                                        "&apos;"};
    size_t i;

    for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (strncmp(p, named[i], strlen(named[i])) == 0) {
            return strlen(named[i]);
        }
    }
    if (p[1] == '#') {
        const char *q = p + 2;
        int hex = *q == 'x';

        q += hex;
        while (hex ? strchr("0123456789abcdefABCDEF", *q) != NULL && *q
                   : (*q >= '0' && *q <= '9')) {
            q++;
        }
        if (*q == ';' && q > p + 2 + hex) {
            return (size_t)(q - p) + 1;
        }
    }
    return 0;
}

static int
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' ||
           c == '.';
}

/* NULL if doc is a well-formed XML document as far as our writer's output
 * goes (one root, balanced tags, quoted attributes, valid entity
 * references, no '<' in values, no "]]>" in text, no control
 * characters); else a description of the first problem. */
static const char *
xml_problem(const char *doc)
{
    const char *open[512];
    size_t open_len[512];
    int depth = 0, roots = 0;
    const char *p = doc;

    while (*p) {
        const char *q;
        size_t n;

        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t' &&
            *p != '\r') {
            snprintf(problem, sizeof(problem), "control character at %ld",
                     (long)(p - doc));
            return problem;
        }
        if (*p == '&') {
            if ((n = entity_len(p)) == 0) {
                snprintf(problem, sizeof(problem), "bare & at %ld: %.20s",
                         (long)(p - doc), p);
                return problem;
            }
            p += n;
            continue;
        }
        if (*p == ']' && strncmp(p, "]]>", 3) == 0) {
            snprintf(problem, sizeof(problem), "]]> in text at %ld",
                     (long)(p - doc));
            return problem;
        }
        if (*p != '<') {
            if (depth == 0 && *p != ' ' && *p != '\n') {
                snprintf(problem, sizeof(problem), "text outside root: %.20s",
                         p);
                return problem;
            }
            p++;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            q = strstr(p, p[1] == '?' ? "?>" : "-->");
            if (q == NULL || (p[1] == '?' && p != doc)) {
                return "bad processing instruction or comment";
            }
            p = q + (p[1] == '?' ? 2 : 3);
            continue;
        }
        if (strncmp(p, "<![CDATA[", 9) == 0) {
            q = strstr(p, "]]>");
            if (q == NULL || depth == 0) {
                return "bad CDATA section";
            }
            p = q + 3;
            continue;
        }
        if (p[1] == '/') {
            for (q = p + 2; name_char(*q); q++) {
            }
            n = (size_t)(q - p - 2);
            if (depth == 0 || n != open_len[depth - 1] ||
                strncmp(p + 2, open[depth - 1], n) != 0 || *q != '>') {
                snprintf(problem, sizeof(problem), "bad end tag %.20s", p);
                return problem;
            }
            depth--;
            p = q + 1;
            continue;
        }
        for (q = p + 1; name_char(*q); q++) {
        }
        if (q == p + 1) {
            snprintf(problem, sizeof(problem), "bad tag %.20s", p);
            return problem;
        }
        if (depth == 0 && ++roots > 1) {
            return "more than one root element";
        }
        if (depth == 512) {
            return "too deep";
        }
        open[depth] = p + 1;
        open_len[depth] = (size_t)(q - p - 1);
        for (;;) {
            const char *v;

            while (*q == ' ' || *q == '\n') {
                q++;
            }
            if (*q == '>' || strncmp(q, "/>", 2) == 0) {
                break;
            }
            for (v = q; name_char(*v); v++) {
            }
            if (v == q || v[0] != '=' || v[1] != '"') {
                snprintf(problem, sizeof(problem), "bad attribute %.30s", q);
                return problem;
            }
            for (v += 2; *v != '"'; v++) {
                if (*v == '\0' || *v == '<' ||
                    (*v == '&' && entity_len(v) == 0)) {
                    snprintf(problem, sizeof(problem), "bad value %.30s", q);
                    return problem;
                }
            }
            q = v + 1;
        }
        if (*q == '>') {
            depth++;
            p = q + 1;
        }
        else {
            p = q + 2;
        }
    }
    if (depth != 0 || roots != 1) {
        return "unbalanced document";
    }
    return NULL;
}

#define ASSERT_XML(doc)                             \
    do {                                            \
        const char *sw_p_ = xml_problem(doc);       \
        if (sw_p_ != NULL)                          \
            FAIL("not well-formed XML: %s", sw_p_); \
    } while (0)

/* One drawn frame of an SVG flame graph. */
typedef struct pframe {
    char cls[40];
    char label[256]; /* data-label, still escaped */
    char title[300]; /* tooltip, still escaped */
    char text[256];  /* shown text, still escaped */
    unsigned long long s, n;
    unsigned d;
    double x, w;
    unsigned y;
    unsigned r, g, b;
} pframe_t;

/* Copies the text of doc from `from` up to `until` into dst (cut to
 * size); returns a pointer past `until`. */
static const char *
copy_until(const char *from, const char *until, char *dst, size_t size)
{
    const char *end = strstr(from, until);
    size_t n;

    ASSERT(end != NULL);
    n = (size_t)(end - from);
    if (n >= size) {
        n = size - 1;
    }
    memcpy(dst, from, n);
    dst[n] = '\0';
    return end + strlen(until);
}

/* The text after `key` in p (which must follow). */
static const char *
after(const char *p, const char *key)
{
    const char *q = strstr(p, key);

    if (q == NULL) {
        FAIL("missing %s in %.200s", key, p);
    }
    return q + strlen(key);
}

/* Parses the drawn frames of an SVG document into f[0..max); returns how
 * many there are. */
static int
parse_frames(const char *doc, pframe_t *f, int max)
{
    const char *p = doc;
    int n = 0;

    while ((p = strstr(p, "<g class=\"frame")) != NULL) {
        pframe_t *e = &f[n];

        ASSERT(n < max);
        memset(e, 0, sizeof(*e));
        p = copy_until(p + 10, "\"", e->cls, sizeof(e->cls));
        p = copy_until(after(p, "data-label=\""), "\"", e->label,
                       sizeof(e->label));
        ASSERT_EQ(sscanf(after(p, "data-s=\""), "%llu", &e->s), 1);
        ASSERT_EQ(sscanf(after(p, "data-n=\""), "%llu", &e->n), 1);
        ASSERT_EQ(sscanf(after(p, "data-d=\""), "%u", &e->d), 1);
        p = copy_until(after(p, "<title>"), "</title>", e->title,
                       sizeof(e->title));
        ASSERT_EQ(sscanf(after(p, "<rect x=\""), "%lf", &e->x), 1);
        ASSERT_EQ(sscanf(after(p, " y=\""), "%u", &e->y), 1);
        ASSERT_EQ(sscanf(after(p, "width=\""), "%lf", &e->w), 1);
        ASSERT_EQ(
            sscanf(after(p, "fill=\"rgb("), "%u,%u,%u", &e->r, &e->g, &e->b),
            3);
        p = after(p, "<text ");
        p = copy_until(after(p, ">"), "</text>", e->text, sizeof(e->text));
        n++;
    }
    return n;
}

/* The frame whose data-label is label, or NULL. */
static const pframe_t *
find_frame(const pframe_t *f, int n, const char *label)
{
    int i;

    for (i = 0; i < n; i++) {
        if (strcmp(f[i].label, label) == 0) {
            return &f[i];
        }
    }
    return NULL;
}

/* The parent of frame c: the frame one row down whose samples hold c's. */
static const pframe_t *
parent_of(const pframe_t *f, int n, const pframe_t *c)
{
    int i;

    for (i = 0; i < n; i++) {
        if (f[i].d + 1 == c->d && f[i].s <= c->s &&
            f[i].s + f[i].n >= c->s + c->n) {
            return &f[i];
        }
    }
    return NULL;
}

static double
fabs_diff(double a, double b)
{
    return a > b ? a - b : b - a;
}

/* Checks the geometry of every frame: proportional width, children
 * inside parents and no wider together than them, one row per depth. */
static void
check_layout(const pframe_t *f, int n)
{
    unsigned long long total = f[0].n;
    double *kids = calloc((size_t)n, sizeof(*kids));
    unsigned long long *kid_samples = calloc((size_t)n, sizeof(*kid_samples));
    int i;

    ASSERT(kids != NULL && kid_samples != NULL);
    ASSERT(strstr(f[0].cls, "root") != NULL);
    ASSERT_EQ(f[0].d, 0);
    ASSERT(fabs_diff(f[0].x, 10.0) < 0.001);
    ASSERT(fabs_diff(f[0].w, INNER_WIDTH) < 0.001);
    for (i = 0; i < n; i++) {
        double want = (double)f[i].n * INNER_WIDTH / (double)total;

        if (fabs_diff(f[i].w, want) > 0.011) {
            FAIL("%s: width %.2f, want %.4f", f[i].label, f[i].w, want);
        }
        if (f[i].w < 0.1) {
            FAIL("%s: drawn %.2f px wide", f[i].label, f[i].w);
        }
        ASSERT_EQ(f[i].y, f[0].y - 16 * f[i].d);
        if (i > 0) {
            const pframe_t *p = parent_of(f, n, &f[i]);

            if (p == NULL) {
                FAIL("%s has no parent", f[i].label);
            }
            if (f[i].x < p->x - 1e-9 || f[i].x + f[i].w > p->x + p->w + 1e-9) {
                FAIL("%s [%.2f, %.2f] pokes out of %s [%.2f, %.2f]",
                     f[i].label, f[i].x, f[i].x + f[i].w, p->label, p->x,
                     p->x + p->w);
            }
            kids[p - f] += f[i].w;
            kid_samples[p - f] += f[i].n;
        }
    }
    for (i = 0; i < n; i++) {
        if (kids[i] > f[i].w + 1e-9 || kid_samples[i] > f[i].n) {
            FAIL("children of %s are %.2f px wide (%llu samples), it is "
                 "%.2f (%llu)",
                 f[i].label, kids[i], kid_samples[i], f[i].w, f[i].n);
        }
    }
    free(kids);
    free(kid_samples);
}

/* ---- SVG -------------------------------------------------------------- */

#define MAX_FRAMES 512

TEST(svg_empty_session)
{
    sw_session_t *s = new_session();
    sw_write_opts_t o = {0};
    char *out;

    o.title = "empty <profile>";
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    ASSERT(strncmp(out, "<?xml version=\"1.0\"", 19) == 0);
    ASSERT_HAS(out, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    ASSERT_HAS(out, ">No samples</text>");
    ASSERT_HAS(out, "<title>empty &lt;profile&gt;</title>");
    ASSERT_LACKS(out, "<g class=\"frame");
    ASSERT_LACKS(out, "<script");
    ASSERT(strlen(out) < 4096);
    ASSERT_STR_EQ(out + strlen(out) - 7, "</svg>\n");
    free(out);
    sw_session_free(s);
}

TEST(svg_merges_sorts_and_lays_out)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    const pframe_t *mod, *mainf, *helper, *work;
    char *out;
    int n;

    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, f, MAX_FRAMES);
    /* all, <module>, helper, main, work: the same stack from two threads
     * is one box. */
    ASSERT_EQ(n, 5);
    ASSERT_EQ(count_of(out, "<rect"), n + 1); /* and the background */
    ASSERT_EQ(count_of(out, "<text x="), n);
    ASSERT_STR_EQ(f[0].label, "all (10 samples)");
    ASSERT_EQ(f[0].n, 10);
    mod = find_frame(f, n, "&lt;module&gt; (app.py:3)");
    mainf = find_frame(f, n, "main (app.py:9)");
    helper = find_frame(f, n, "helper (lib.py:40)");
    work = find_frame(f, n, "work (lib.py:20)");
    ASSERT(mod && mainf && helper && work);
    ASSERT_EQ(mod->n, 10);
    ASSERT_EQ(mainf->n, 9);
    ASSERT_EQ(helper->n, 1);
    ASSERT_EQ(work->n, 7);
    ASSERT_EQ(mod->d, 1);
    ASSERT_EQ(mainf->d, 2);
    ASSERT_EQ(helper->d, 2);
    ASSERT_EQ(work->d, 3);
    /* Siblings sorted by label: helper left of main. */
    ASSERT(helper->x < mainf->x);
    ASSERT_EQ(helper->s, 0);
    ASSERT_EQ(mainf->s, 1);
    ASSERT_EQ(work->s, 1);
    /* Flame: deeper rows are higher up. */
    ASSERT(work->y < mainf->y && mainf->y < mod->y && mod->y < f[0].y);
    check_layout(f, n);
    /* Tooltips: "name (file:line) — N samples (P%)". */
    ASSERT_STR_EQ(mainf->title,
                  "main (app.py:9) " EM_DASH " 9 samples (90.00%)");
    ASSERT_STR_EQ(helper->title,
                  "helper (lib.py:40) " EM_DASH " 1 sample (10.00%)");
    ASSERT_STR_EQ(f[0].title, "all " EM_DASH " 10 samples (100.00%)");
    ASSERT_EQ(count_of(out, "data-total=\"10\""), 1);
    free(out);
    sw_session_free(s);
}

TEST(svg_group_rows)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    const pframe_t *t1, *t2, *g1;
    char *out;
    int n, i;

    o.by_thread = 1;
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, f, MAX_FRAMES);
    /* all; per thread: the thread, <module>, main, work (+ helper). */
    ASSERT_EQ(n, 1 + 4 + 5);
    ASSERT_EQ(count_of(out, "<rect"), n + 1);
    t1 = find_frame(f, n, "MainThread (tid 7)");
    t2 = find_frame(f, n, "Thread 0x2000");
    ASSERT(t1 && t2);
    ASSERT_STR_EQ(t1->cls, "frame group thread");
    ASSERT_EQ(t1->d, 1);
    ASSERT_EQ(t1->n, 5);
    ASSERT_EQ(t2->n, 5);
    ASSERT(t1->x < t2->x); /* "M" < "T" */
    for (i = 0; i < n; i++) {
        if (strstr(f[i].cls, "func") != NULL) {
            ASSERT(f[i].d >= 2);
        }
    }
    check_layout(f, n);
    free(out);

    /* Threads, then greenlets, then frames. */
    ASSERT_EQ(sw_session_label_greenlet(s, 9, "worker-9"), 0);
    add(s, 1, 9, stack(s, 1, frame(s, "serve", "srv.py", 1)), 2);
    o.by_greenlet = 1;
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, f, MAX_FRAMES);
    g1 = find_frame(f, n, "greenlet worker-9");
    ASSERT(g1 != NULL);
    ASSERT_STR_EQ(g1->cls, "frame group greenlet");
    ASSERT_EQ(g1->d, 2);
    ASSERT_EQ(g1->n, 2);
    ASSERT(parent_of(f, n, g1) == find_frame(f, n, "MainThread (tid 7)"));
    ASSERT(find_frame(f, n, "greenlet ?") != NULL);
    ASSERT_EQ(find_frame(f, n, "serve (srv.py:1)")->d, 3);
    check_layout(f, n);
    free(out);
    sw_session_free(s);
}

TEST(svg_sorts_siblings_by_label)
{
    sw_session_t *s = new_session();
    uint32_t f = frame(s, "run", "r.py", 1);
    uint32_t zeta = thread(s, 1, 1, 0, "zeta");
    uint32_t alpha = thread(s, 2, 2, 0, "alpha");
    sw_write_opts_t o = {0};
    pframe_t fr[MAX_FRAMES];
    const pframe_t *a, *z;
    char *out;
    int n;

    /* Slot order (zeta first) is not label order. */
    add(s, zeta, 0, stack(s, 1, f), 2);
    add(s, alpha, 0, stack(s, 1, f), 3);
    o.by_thread = 1;
    out = run(sw_write_svg, s, &o);
    n = parse_frames(out, fr, MAX_FRAMES);
    a = find_frame(fr, n, "alpha");
    z = find_frame(fr, n, "zeta");
    ASSERT(a && z);
    ASSERT_EQ(a->s, 0);
    ASSERT_EQ(z->s, 3);
    ASSERT(a->x < z->x);
    check_layout(fr, n);
    free(out);
    sw_session_free(s);
}

TEST(svg_random_profiles_keep_their_shape)
{
    static const char *const names[] = {"alpha", "beta", "gamma", "delta",
                                        "[idle]"};
    uint32_t seed = 12345;
    int round;

    for (round = 0; round < 6; round++) {
        sw_session_t *s = new_session();
        sw_write_opts_t o = {0};
        uint32_t pool[20], slots[3], path[12];
        pframe_t *f = malloc(4096 * sizeof(*f));
        unsigned long long total = 0;
        char *out;
        int i, k, n;

        ASSERT(f != NULL);
        for (i = 0; i < 20; i++) {
            const char *name = names[i % 5];

            pool[i] = name[0] == '['
                          ? sw_session_marker(s, name)
                          : frame(s, name, i % 2 ? "a.py" : "b.py", i);
        }
        for (i = 0; i < 3; i++) {
            slots[i] = thread(s, (uint64_t)i + 1, (unsigned long)i + 1,
                              i + 100, NULL);
        }
        for (i = 0; i < 300; i++) {
            int depth, times;

            seed = seed * 1103515245u + 12345u;
            depth = 1 + (int)((seed >> 16) % 12);
            for (k = 0; k < depth; k++) {
                seed = seed * 1103515245u + 12345u;
                path[k] = pool[(seed >> 16) % 20];
            }
            seed = seed * 1103515245u + 12345u;
            /* Mostly rare stacks, a few hot ones: some boxes are under
             * the 0.1 px minimum. */
            times =
                (seed >> 16) % 10 == 0 ? 1 + (int)((seed >> 20) % 5000) : 1;
            add(s, slots[(seed >> 8) % 3], 0, stack_array(s, path, depth),
                times);
            total += (unsigned long long)times;
        }
        o.by_thread = round % 2;
        o.by_greenlet = round >= 4;
        out = run(sw_write_svg, s, &o);
        ASSERT_XML(out);
        n = parse_frames(out, f, 4096);
        ASSERT(n > 10);
        ASSERT_EQ(f[0].n, total);
        ASSERT_EQ(count_of(out, "<rect"), n + 1);
        if (!o.by_thread && !o.by_greenlet) {
            /* Unsplit, every stack tree node is a box: some were too
             * narrow to draw. */
            ASSERT(n < (int)s->nnodes);
        }
        check_layout(f, n);
        free(out);
        free(f);
        sw_session_free(s);
    }
}

TEST(svg_escapes_everything)
{
    sw_session_t *s = new_session();
    uint32_t a = frame(s, "a<b&c\"d>e'", "x&y.py", 1);
    uint32_t b = frame(s, "cdata]]>end", "z.py", 2);
    uint32_t t = thread(s, 1, 1, 0, "t<&>"); /* tid 0: not shown */
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    char *out;
    int n;

    add(s, t, 0, stack(s, 2, a, b), 3);
    o.by_thread = 1;
    o.title = "T<&\"]]>";
    o.subtitle = "S<&>";
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    ASSERT_LACKS(out, "a<b");
    ASSERT_LACKS(out, "t<&");
    ASSERT_LACKS(out, "S<&");
    ASSERT_HAS(out, "<title>T&lt;&amp;&quot;]]&gt;</title>");
    ASSERT_HAS(out, ">S&lt;&amp;&gt;</text>");
    n = parse_frames(out, f, MAX_FRAMES);
    ASSERT_EQ(n, 4);
    ASSERT(find_frame(f, n, "a&lt;b&amp;c&quot;d&gt;e&apos; (x&amp;y.py:1)"));
    ASSERT(find_frame(f, n, "cdata]]&gt;end (z.py:2)"));
    ASSERT(find_frame(f, n, "t&lt;&amp;&gt;"));
    /* The only "]]>" closes the script's CDATA section. */
    ASSERT_EQ(count_of(out, "]]>"), 1);
    ASSERT_EQ(count_of(out, "<![CDATA["), 1);
    ASSERT(strstr(out, "<![CDATA[") < strstr(out, "]]>"));
    free(out);
    sw_session_free(s);
}

TEST(svg_is_self_contained)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out = run(sw_write_svg, s, &o);

    ASSERT_LACKS(out, "href");
    ASSERT_LACKS(out, "src=");
    ASSERT_LACKS(out, "@import");
    ASSERT_LACKS(out, "url(");
    ASSERT_LACKS(out, "<!DOCTYPE");
    /* The only URL is the SVG namespace, which is never fetched. */
    ASSERT_EQ(count_of(out, "http"), 1);
    ASSERT_HAS(out, "xmlns=\"http://www.w3.org/2000/svg\"");
    free(out);
    sw_session_free(s);
}

TEST(svg_omits_narrow_frames)
{
    sw_session_t *s = new_session();
    uint32_t big = frame(s, "big", "a.py", 1);
    uint32_t above = frame(s, "above_big", "a.py", 2);
    uint32_t one = frame(s, "one", "a.py", 3);
    uint32_t over = frame(s, "over_one", "a.py", 4);
    uint32_t two = frame(s, "two", "a.py", 5);
    uint32_t t = thread(s, 1, 1, 0, NULL);
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    const pframe_t *b;
    char *out;
    int n, i;

    /* 20000 + 1 + 2 samples over 1180 px: one sample is 0.059 px, under
     * the 0.1 px minimum; two samples are 0.118 px, drawn. */
    for (i = 0; i < 20000; i++) {
        ASSERT_EQ(sw_session_add(s, t, 0, stack(s, 2, big, above), 1, 1, 0),
                  0);
    }
    add(s, t, 0, stack(s, 2, one, over), 1);
    add(s, t, 0, stack(s, 1, two), 2);
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, f, MAX_FRAMES);
    ASSERT_EQ(n, 4); /* all, big, above_big, two */
    ASSERT_EQ(count_of(out, "<rect"), n + 1);
    ASSERT_EQ(f[0].n, 20003); /* omitted samples still count */
    ASSERT(find_frame(f, n, "one (a.py:3)") == NULL);
    ASSERT(find_frame(f, n, "over_one (a.py:4)") == NULL);
    b = find_frame(f, n, "two (a.py:5)");
    ASSERT(b != NULL);
    ASSERT_EQ(b->s, 20001);
    ASSERT(b->w > 0.1 && b->w < 0.13);
    ASSERT_STR_EQ(b->text, "");
    check_layout(f, n);
    free(out);
    sw_session_free(s);
}

TEST(svg_height_follows_depth)
{
    sw_session_t *s = new_session();
    uint32_t frames[40];
    uint32_t t = thread(s, 1, 1, 0, NULL);
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    unsigned h10, h40;
    char *out;
    int i, n;

    for (i = 0; i < 40; i++) {
        char name[16];

        snprintf(name, sizeof(name), "f%02d", i);
        frames[i] = frame(s, name, "deep.py", i + 1);
    }
    add(s, t, 0, stack_array(s, frames, 10), 1);
    out = run(sw_write_svg, s, &o);
    /* The first height is the <svg> element's. */
    ASSERT_EQ(sscanf(after(out, "height=\""), "%u", &h10), 1);
    free(out);
    add(s, t, 0, stack_array(s, frames, 40), 1);
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    ASSERT_EQ(sscanf(after(out, "height=\""), "%u", &h40), 1);
    ASSERT_EQ(h40 - h10, 30 * 16);
    n = parse_frames(out, f, MAX_FRAMES);
    ASSERT_EQ(n, 41);
    for (i = 1; i < n; i++) {
        ASSERT_EQ(f[i].d, i); /* one row per depth, drawn depth first */
    }
    check_layout(f, n);
    free(out);
    sw_session_free(s);
}

TEST(svg_labels_fit_their_boxes)
{
    sw_session_t *s = new_session();
    uint32_t wide = frame(s, "a_rather_long_function_name_that_will_not_fit",
                          "/very/long/path/to/some/module.py", 123);
    uint32_t narrow = frame(s, "narrow", "n.py", 1);
    uint32_t uni = frame(s,
                         "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                         "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
                         "u.py", 1);
    uint32_t t = thread(s, 1, 1, 0, NULL);
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    const pframe_t *w, *nw, *u;
    char *out;
    int n;

    add(s, t, 0, stack(s, 1, wide), 10);  /* 118 px: 15 chars fit */
    add(s, t, 0, stack(s, 1, narrow), 1); /* 11.8 px: no room */
    add(s, t, 0, stack(s, 1, uni), 9);    /* 106.2 px: 13 chars fit */
    add(s, t, 0, stack(s, 1, frame(s, "z", "z.py", 1)), 80);
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, f, MAX_FRAMES);
    w = find_frame(f, n,
                   "a_rather_long_function_name_that_will_not_fit "
                   "(/very/long/path/to/some/module.py:123)");
    nw = find_frame(f, n, "narrow (n.py:1)");
    u = find_frame(f, n,
                   "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                   "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9 (u.py:1)");
    ASSERT(w && nw && u);
    ASSERT_STR_EQ(w->text, "a_rather_long_\xE2\x80\xA6");
    ASSERT_STR_EQ(nw->text, "");
    /* 12 characters and an ellipsis: cut between characters (code
     * points), never inside one. */
    ASSERT_STR_EQ(u->text, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                           "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9 ("
                           "\xE2\x80\xA6");
    ASSERT_STR_EQ(find_frame(f, n, "z (z.py:1)")->text, "z (z.py:1)");
    free(out);
    sw_session_free(s);
}

TEST(svg_colours)
{
    sw_session_t *s = new_session();
    uint32_t a = frame(s, "same", "a.py", 1);
    uint32_t b = frame(s, "same", "b.py", 2);
    uint32_t other = frame(s, "other", "a.py", 3);
    uint32_t m = sw_session_marker(s, "[truncated]");
    uint32_t t = thread(s, 1, 1, 0, "MainThread");
    sw_write_opts_t o = {0};
    pframe_t f[MAX_FRAMES];
    const pframe_t *fa, *fb, *fo, *fm, *ft;
    char *out, *again;
    int n, i;

    add(s, t, 0, stack(s, 2, a, other), 5);
    add(s, t, 0, stack(s, 2, b, m), 5);
    o.by_thread = 1;
    out = run(sw_write_svg, s, &o);
    n = parse_frames(out, f, MAX_FRAMES);
    fa = find_frame(f, n, "same (a.py:1)");
    fb = find_frame(f, n, "same (b.py:2)");
    fo = find_frame(f, n, "other (a.py:3)");
    fm = find_frame(f, n, "[truncated]");
    ft = find_frame(f, n, "MainThread");
    ASSERT(fa && fb && fo && fm && ft);
    /* Warm for functions, by function name. */
    for (i = 0; i < n; i++) {
        if (strstr(f[i].cls, "func") != NULL) {
            ASSERT(f[i].r >= 200 && f[i].r > f[i].g && f[i].g > f[i].b);
        }
    }
    ASSERT(fa->r == fb->r && fa->g == fb->g && fa->b == fb->b);
    ASSERT(fa->r != fo->r || fa->g != fo->g || fa->b != fo->b);
    /* Grey markers, cool groups. */
    ASSERT_STR_EQ(fm->cls, "frame marker");
    ASSERT(fm->r == fm->g && fm->g == fm->b);
    ASSERT(ft->b > ft->g && ft->g > ft->r);
    /* Deterministic. */
    again = run(sw_write_svg, s, &o);
    ASSERT_STR_EQ(again, out);
    free(again);
    free(out);
    sw_session_free(s);
}

TEST(svg_header_and_controls)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *out;

    o.title = "CPU of app.py";
    o.subtitle = "pid 42, 10 samples";
    out = run(sw_write_svg, s, &o);
    ASSERT_HAS(out, "<title>CPU of app.py</title>");
    ASSERT_HAS(out, ">CPU of app.py</text>");
    ASSERT_HAS(out, ">pid 42, 10 samples</text>");
    ASSERT_HAS(out, "id=\"sw-details\"");
    ASSERT_HAS(out, "id=\"sw-matched\"");
    ASSERT_HAS(out, "class=\"sw-control sw-hidden\" x=\"10\" y=\"24\">"
                    "Reset zoom</text>");
    ASSERT_HAS(out, ">Search</text>");
    ASSERT_HAS(out, "<script type=\"text/ecmascript\"><![CDATA[");
    ASSERT_HAS(out, "width=\"100%\"");
    free(out);
    o.subtitle = NULL;
    out = run(sw_write_svg, s, &o);
    ASSERT_LACKS(out, "sw-subtitle\"");
    free(out);
    sw_session_free(s);
}

TEST(svg_counts_samples_whatever_the_weight)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    char *plain = run(sw_write_svg, s, &o);
    char *cpu;

    o.weight = SW_WEIGHT_CPU;
    cpu = run(sw_write_svg, s, &o);
    ASSERT_STR_EQ(cpu, plain);
    free(plain);
    free(cpu);
    sw_session_free(s);
}

TEST(svg_appends_to_the_buffer)
{
    sw_session_t *s = sample_session();
    sw_write_opts_t o = {0};
    sw_buf_t b;

    sw_buf_init(&b);
    sw_buf_puts(&b, "prefix");
    ASSERT_EQ(sw_write_svg(s, &o, &b), 0);
    ASSERT(strncmp(b.data, "prefix<?xml", 11) == 0);
    sw_buf_free(&b);
    sw_session_free(s);
}

TEST(writer_for_names)
{
    ASSERT(sw_writer_for("collapsed") == sw_write_collapsed);
    ASSERT(sw_writer_for("speedscope") == sw_write_speedscope);
    ASSERT(sw_writer_for("svg") == sw_write_svg);
    ASSERT(sw_writer_for("pdf") == NULL);
}

/* ---- regressions ------------------------------------------------------- */

TEST(collapsed_merges_threads_with_the_same_label)
{
    sw_session_t *s = new_session();
    uint32_t node = stack(s, 1, frame(s, "a", "x.py", 1));
    uint32_t t1 = thread(s, 1, 0x1, 0, "worker");
    uint32_t t2 = thread(s, 2, 0x2, 0, "other");
    uint32_t t3 = thread(s, 3, 0x3, 0, "worker");
    sw_write_opts_t o = {0};
    char *out;

    add(s, t1, 0, node, 1);
    add(s, t2, 0, node, 2);
    add(s, t3, 0, node, 4);
    o.by_thread = 1;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "other;a (x.py:1) 2\n"
                       "worker;a (x.py:1) 5\n");
    free(out);
    sw_session_free(s);
}

TEST(invalid_utf8_in_names_is_replaced)
{
    /* An encoded surrogate, an overlong form, U+FFFE: XML and JSON
     * readers refuse them, so writers must not pass them through. */
    sw_session_t *s = new_session();
    uint32_t node = stack(s, 1,
                          frame(s,
                                "bad\xED\xA0\x80\xE0\x80\xAF"
                                "x\xEF\xBF\xBE",
                                "f.py", 1));
    uint32_t t = thread(s, 1, 0x1, 0, "t");
    sw_write_opts_t o = {0};
    char *out;

    add(s, t, 0, node, 1);
    out = run(sw_write_speedscope, s, &o);
    ASSERT(strstr(out, "\"bad\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffdx") !=
           NULL);
    free(out);
    out = run(sw_write_svg, s, &o);
    ASSERT(strstr(out, "\xED\xA0") == NULL);
    ASSERT(strstr(out, "\xEF\xBF\xBE") == NULL);
    free(out);
    sw_session_free(s);
}

TEST(session_rejects_empty_stacks_and_keeps_limits)
{
    sw_limits_t lim = {3, 0, 0, 0};
    sw_session_t *s = sw_session_new(&lim);
    uint32_t t = thread(s, 1, 0x1, 0, "t");

    ASSERT(s != NULL);
    ASSERT_EQ(sw_session_add(s, t, 0, 0, 1, 0, 0), SW_EINVAL);
    /* max_frames = 3 stores three frames, not two. */
    ASSERT(frame(s, "a", "f.py", 1) != 0);
    ASSERT(frame(s, "b", "f.py", 1) != 0);
    ASSERT(frame(s, "c", "f.py", 1) != 0);
    ASSERT_EQ(sw_session_frame(s, 99, 1, 0, "d", "f.py"), 0);
    sw_session_free(s);
}

RUNNER_MAIN()

/* Greenlets with the same group label are one group when grouped
 * (by_greenlet 1), in every format; each keeps its own with 2. */
TEST(greenlet_groups)
{
    sw_session_t *s = new_session();
    uint32_t f = frame(s, "run", "g.py", 5);
    uint32_t node = stack(s, 1, f);
    uint32_t t = thread(s, 1, 0xabc, 11, "MainThread");
    const char *g = "greenlets running run (x2)";
    sw_write_opts_t o = {0};
    pframe_t fr[MAX_FRAMES];
    const pframe_t *box;
    char *out;
    int n;

    ASSERT_EQ(sw_session_group_greenlet(s, 3, g), 0);
    ASSERT_EQ(sw_session_label_greenlet(s, 4, "G-1 #4 (run)"), 0);
    ASSERT_EQ(sw_session_group_greenlet(s, 4, g), 0);
    ASSERT_EQ(sw_session_greenlet_group(s, 5), 0u);
    add(s, t, 3, node, 2);
    add(s, t, 4, node, 3);
    add(s, t, 5, node, 4);
    o.by_greenlet = SW_GREENLETS_GROUPED;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "greenlet #5;run (g.py:5) 4\n"
                       "greenlets running run (x2);run (g.py:5) 5\n");
    free(out);
    out = run(sw_write_speedscope, s, &o);
    ASSERT_EQ(count_of(out, "\"type\": \"sampled\""), 2);
    ASSERT_HAS(out, "\"name\": \"greenlets running run (x2)\"");
    free(out);
    out = run(sw_write_svg, s, &o);
    ASSERT_XML(out);
    n = parse_frames(out, fr, MAX_FRAMES);
    box = find_frame(fr, n, g);
    ASSERT(box != NULL);
    ASSERT_STR_EQ(box->cls, "frame group greenlet");
    ASSERT_EQ(box->n, 5);
    ASSERT_EQ(count_of(out, "frame group greenlet"), 2);
    free(out);
    o.by_greenlet = SW_GREENLETS_EACH;
    out = run(sw_write_collapsed, s, &o);
    ASSERT_STR_EQ(out, "greenlet #3;run (g.py:5) 2\n"
                       "greenlet #5;run (g.py:5) 4\n"
                       "greenlet G-1 #4 (run);run (g.py:5) 3\n");
    free(out);
    sw_session_free(s);
}
