/* _native.mem_parse_rows / mem_parse_stacks / mem_live_at /
 * mem_downsample / mem_chart_svg: the C parts
 * of `stackwatch mem graph|peaks|report` (src/stackwatch/_memread.py and
 * _memview.py).  Arrays cross as bytes of native doubles (Python's
 * array("d")). */
#define PY_SSIZE_T_CLEAN
#include "memview_py.h"
#include "errors.h"
#include "errors_py.h"
#include "memfile.h"
#include "writers/memchart.h"

/* mem_parse_rows(data, start, end, ncols, want, sums=()) -> (columns, stop)
 * Parses data[start:end] (memfile.h); columns is a list, one bytes of
 * doubles per index in want, then one per pair (a, b) of sums: the sum
 * of the a-th and b-th wanted columns (a thread's live bytes, python +
 * c); stop is the offset (in data) of the first line that did not parse,
 * end when every line did. */
static PyObject *
mem_parse_rows_py(PyObject *m, PyObject *args)
{
    Py_buffer data = {0};
    Py_ssize_t start, end;
    int ncols, nwant = 0, nsums = 0, k, want[SW_MEMFILE_MAX_COLS];
    int sum_a[SW_MEMFILE_MAX_COLS], sum_b[SW_MEMFILE_MAX_COLS];
    PyObject *want_obj, *sums_obj = NULL, *seq = NULL, *sums = NULL;
    PyObject *cols = NULL, *res = NULL;
    double *out[2 * SW_MEMFILE_MAX_COLS] = {0};
    size_t nlines, nrows, stop = 0, r;
    (void)m;

    if (!PyArg_ParseTuple(args, "y*nniO|O:mem_parse_rows", &data, &start, &end,
                          &ncols, &want_obj, &sums_obj)) {
        return NULL;
    }
    if (start < 0 || end < start || end > data.len || ncols < 2 ||
        ncols > SW_MEMFILE_MAX_COLS) {
        PyErr_SetString(PyExc_ValueError, "bad range or column count");
        goto done;
    }
    seq = PySequence_Fast(want_obj, "want must be a sequence");
    if (seq == NULL) {
        goto done;
    }
    nwant = (int)PySequence_Fast_GET_SIZE(seq);
    if (nwant > SW_MEMFILE_MAX_COLS) {
        PyErr_SetString(PyExc_ValueError, "too many columns wanted");
        goto done;
    }
    for (k = 0; k < nwant; k++) {
        long c = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, k));

        if (c == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (c < 0 || c >= ncols) {
            PyErr_SetString(PyExc_ValueError, "wanted column out of range");
            goto done;
        }
        want[k] = (int)c;
    }
    if (sums_obj != NULL) {
        sums = PySequence_Fast(sums_obj, "sums must be a sequence");
        if (sums == NULL) {
            goto done;
        }
        nsums = (int)PySequence_Fast_GET_SIZE(sums);
        if (nsums > SW_MEMFILE_MAX_COLS) {
            PyErr_SetString(PyExc_ValueError, "too many sums");
            goto done;
        }
        for (k = 0; k < nsums; k++) {
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(sums, k),
                                  "ii:a sum", &sum_a[k], &sum_b[k])) {
                goto done;
            }
            if (sum_a[k] < 0 || sum_a[k] >= nwant || sum_b[k] < 0 ||
                sum_b[k] >= nwant) {
                PyErr_SetString(PyExc_ValueError, "sum out of range");
                goto done;
            }
        }
    }
    nlines = sw_memfile_count_lines((const char *)data.buf + start,
                                    (size_t)(end - start));
    for (k = 0; k < nwant + nsums; k++) {
        out[k] = PyMem_RawMalloc((nlines ? nlines : 1) * sizeof(double));
        if (out[k] == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
        nrows = sw_memfile_rows((const char *)data.buf + start,
                                (size_t)(end - start), ncols, want, nwant, out,
                                &stop);
        for (k = 0; k < nsums; k++) {
            for (r = 0; r < nrows; r++) {
                out[nwant + k][r] = out[sum_a[k]][r] + out[sum_b[k]][r];
            }
        }
    Py_END_ALLOW_THREADS
    cols = PyList_New(nwant + nsums);
    if (cols == NULL) {
        goto done;
    }
    for (k = 0; k < nwant + nsums; k++) {
        PyObject *b = PyBytes_FromStringAndSize(
            (const char *)out[k], (Py_ssize_t)(nrows * sizeof(double)));

        if (b == NULL) {
            goto done;
        }
        PyList_SET_ITEM(cols, k, b);
    }
    res = Py_BuildValue("(On)", cols, (Py_ssize_t)stop + start);
done:
    for (k = 0; k < 2 * SW_MEMFILE_MAX_COLS; k++) {
        PyMem_RawFree(out[k]);
    }
    Py_XDECREF(cols);
    Py_XDECREF(sums);
    Py_XDECREF(seq);
    PyBuffer_Release(&data);
    return res;
}

/* mem_parse_stacks(data, start, end) -> (status, stop, allocs, frees,
 * defs)
 * Parses data[start:end] as .stack records (memfile.h): status is
 * SW_MEMSTACK_OK, _BAD or _UNDEFINED, stop the offset (in data) where it
 * stopped; allocs is (t, block, stack, weight), frees (t, block), bytes
 * of doubles for times and of int64s for the others; defs a list of
 * (stack id, offset of its frames in data, their length). */
static PyObject *
mem_parse_stacks_py(PyObject *m, PyObject *args)
{
    Py_buffer data = {0};
    Py_ssize_t start, end;
    sw_memstack_t st = {0};
    PyObject *defs = NULL, *res = NULL;
    size_t n, stop = 0, k;
    int rc;
    (void)m;

    if (!PyArg_ParseTuple(args, "y*nn:mem_parse_stacks", &data, &start,
                          &end)) {
        return NULL;
    }
    if (start < 0 || end < start || end > data.len) {
        PyErr_SetString(PyExc_ValueError, "bad range");
        goto done;
    }
    n = sw_memfile_count_lines((const char *)data.buf + start,
                               (size_t)(end - start));
    n = n ? n : 1;
    st.a_t = PyMem_RawMalloc(n * sizeof(double));
    st.a_block = PyMem_RawMalloc(n * sizeof(int64_t));
    st.a_stack = PyMem_RawMalloc(n * sizeof(int64_t));
    st.a_weight = PyMem_RawMalloc(n * sizeof(int64_t));
    st.f_t = PyMem_RawMalloc(n * sizeof(double));
    st.f_block = PyMem_RawMalloc(n * sizeof(int64_t));
    st.d_id = PyMem_RawMalloc(n * sizeof(int64_t));
    st.d_off = PyMem_RawMalloc(n * sizeof(size_t));
    st.d_len = PyMem_RawMalloc(n * sizeof(size_t));
    if (!st.a_t || !st.a_block || !st.a_stack || !st.a_weight || !st.f_t ||
        !st.f_block || !st.d_id || !st.d_off || !st.d_len) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
        rc = sw_memfile_stack_records((const char *)data.buf + start,
                                      (size_t)(end - start), &st, &stop);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    defs = PyList_New((Py_ssize_t)st.nd);
    if (defs == NULL) {
        goto done;
    }
    for (k = 0; k < st.nd; k++) {
        PyObject *d = Py_BuildValue("(Lnn)", (long long)st.d_id[k],
                                    (Py_ssize_t)st.d_off[k] + start,
                                    (Py_ssize_t)st.d_len[k]);

        if (d == NULL) {
            goto done;
        }
        PyList_SET_ITEM(defs, (Py_ssize_t)k, d);
    }
#define B(a, cnt) (const char *)(a), (Py_ssize_t)((cnt) * sizeof(*(a)))
    res = Py_BuildValue("(in(y#y#y#y#)(y#y#)O)", rc, (Py_ssize_t)stop + start,
                        B(st.a_t, st.na), B(st.a_block, st.na),
                        B(st.a_stack, st.na), B(st.a_weight, st.na),
                        B(st.f_t, st.nf), B(st.f_block, st.nf), defs);
#undef B
done:
    PyMem_RawFree(st.a_t);
    PyMem_RawFree(st.a_block);
    PyMem_RawFree(st.a_stack);
    PyMem_RawFree(st.a_weight);
    PyMem_RawFree(st.f_t);
    PyMem_RawFree(st.f_block);
    PyMem_RawFree(st.d_id);
    PyMem_RawFree(st.d_off);
    PyMem_RawFree(st.d_len);
    Py_XDECREF(defs);
    PyBuffer_Release(&data);
    return res;
}

/* mem_live_at(t_alloc, t_free, stack, weight, t) -> {stack: bytes}
 * The weights of the blocks live at t (t_alloc <= t < t_free), summed by
 * stack id; t_alloc and t_free arrays of doubles, stack and weight of
 * int64s, of one length. */
static PyObject *
mem_live_at_py(PyObject *m, PyObject *args)
{
    Py_buffer ta = {0}, tf = {0}, sid = {0}, w = {0};
    PyObject *res = NULL, *out = NULL;
    double t;
    size_t n, i;
    (void)m;

    if (!PyArg_ParseTuple(args, "y*y*y*y*d:mem_live_at", &ta, &tf, &sid, &w,
                          &t)) {
        return NULL;
    }
    n = (size_t)ta.len / sizeof(double);
    if (ta.len % (Py_ssize_t)sizeof(double) != 0 || tf.len != ta.len ||
        sid.len != (Py_ssize_t)(n * sizeof(int64_t)) || w.len != sid.len) {
        PyErr_SetString(PyExc_ValueError, "arrays of different lengths");
        goto done;
    }
    out = PyDict_New();
    if (out == NULL) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        const double a = ((const double *)ta.buf)[i];
        const double f = ((const double *)tf.buf)[i];
        PyObject *key, *old, *sum;
        long long prev = 0;

        if (!(a <= t && t < f)) {
            continue;
        }
        key = PyLong_FromLongLong((long long)((const int64_t *)sid.buf)[i]);
        if (key == NULL) {
            goto done;
        }
        old = PyDict_GetItemWithError(out, key);
        if (old != NULL) {
            prev = PyLong_AsLongLong(old);
        }
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            goto done;
        }
        sum =
            PyLong_FromLongLong(prev + (long long)((const int64_t *)w.buf)[i]);
        if (sum == NULL || PyDict_SetItem(out, key, sum) < 0) {
            Py_XDECREF(sum);
            Py_DECREF(key);
            goto done;
        }
        Py_DECREF(sum);
        Py_DECREF(key);
    }
    res = out;
    out = NULL;
done:
    Py_XDECREF(out);
    PyBuffer_Release(&ta);
    PyBuffer_Release(&tf);
    PyBuffer_Release(&sid);
    PyBuffer_Release(&w);
    return res;
}

/* The doubles of a buffer: n set, or -1 with an exception set. */
static int
doubles_of(Py_buffer *b, size_t *n)
{
    if (b->len % (Py_ssize_t)sizeof(double) != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "not a whole number of doubles (array('d'))");
        return -1;
    }
    *n = (size_t)b->len / sizeof(double);
    return 0;
}

/* mem_downsample(t, v, t0, t1, columns) -> (t, v)
 * sw_memchart_downsample() over arrays of doubles of one length. */
static PyObject *
mem_downsample_py(PyObject *m, PyObject *args)
{
    Py_buffer t = {0}, v = {0};
    double t0, t1, *ot = NULL, *ov = NULL;
    int columns;
    size_t n, nv, k;
    PyObject *res = NULL;
    (void)m;

    if (!PyArg_ParseTuple(args, "y*y*ddi:mem_downsample", &t, &v, &t0, &t1,
                          &columns)) {
        return NULL;
    }
    if (doubles_of(&t, &n) < 0 || doubles_of(&v, &nv) < 0) {
        goto done;
    }
    if (n != nv || columns < 1 || columns > 100000) {
        PyErr_SetString(PyExc_ValueError,
                        "t and v differ in length, or bad columns");
        goto done;
    }
    ot = PyMem_RawMalloc((4 * (size_t)columns + 4) * sizeof(double));
    ov = PyMem_RawMalloc((4 * (size_t)columns + 4) * sizeof(double));
    if (ot == NULL || ov == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    k = sw_memchart_downsample(t.buf, v.buf, n, t0, t1, columns, ot, ov);
    res = Py_BuildValue("(y#y#)", (const char *)ot,
                        (Py_ssize_t)(k * sizeof(double)), (const char *)ov,
                        (Py_ssize_t)(k * sizeof(double)));
done:
    PyMem_RawFree(ot);
    PyMem_RawFree(ov);
    PyBuffer_Release(&t);
    PyBuffer_Release(&v);
    return res;
}

/* mem_chart_svg(lines, title, subtitle=None) -> bytes
 * lines: a sequence of (name, t, v, is_process), t and v arrays of
 * doubles of one length (seconds, bytes).  sw_write_memchart(). */
static PyObject *
mem_chart_svg_py(PyObject *m, PyObject *args)
{
    PyObject *lines, *seq = NULL, *res = NULL;
    const char *title, *subtitle = NULL;
    sw_memchart_series_t *series = NULL;
    Py_buffer *bufs = NULL;
    Py_ssize_t n = 0, got = 0, k;
    sw_memchart_opts_t o;
    sw_buf_t out;
    (void)m;

    sw_buf_init(&out);
    if (!PyArg_ParseTuple(args, "Os|z:mem_chart_svg", &lines, &title,
                          &subtitle)) {
        return NULL;
    }
    seq = PySequence_Fast(lines, "lines must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    series = PyMem_Calloc((size_t)n + 1, sizeof(*series));
    bufs = PyMem_Calloc(2 * (size_t)n + 1, sizeof(*bufs));
    if (series == NULL || bufs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (k = 0; k < n; k++) {
        size_t nt, nv;
        int process;

        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, k),
                              "sy*y*p:a line", &series[k].name, &bufs[2 * k],
                              &bufs[2 * k + 1], &process)) {
            goto done;
        }
        got = k + 1;
        if (doubles_of(&bufs[2 * k], &nt) < 0 ||
            doubles_of(&bufs[2 * k + 1], &nv) < 0) {
            goto done;
        }
        if (nt != nv) {
            PyErr_SetString(PyExc_ValueError, "t and v differ in length");
            goto done;
        }
        series[k].t = bufs[2 * k].buf;
        series[k].v = bufs[2 * k + 1].buf;
        series[k].n = nt;
        series[k].process = process;
    }
    o.title = title;
    o.subtitle = subtitle;
    if (sw_write_memchart(series, (size_t)n, &o, &out) < 0) {
        sw_py_raise(SW_ENOMEM, NULL);
        goto done;
    }
    res = PyBytes_FromStringAndSize(out.data ? out.data : "",
                                    (Py_ssize_t)out.len);
done:
    for (k = 0; k < got; k++) {
        PyBuffer_Release(&bufs[2 * k]);
        PyBuffer_Release(&bufs[2 * k + 1]);
    }
    PyMem_Free(bufs);
    PyMem_Free(series);
    sw_buf_free(&out);
    Py_DECREF(seq);
    return res;
}

static PyMethodDef memview_methods[] = {
    {"mem_parse_rows", mem_parse_rows_py, METH_VARARGS,
     "Parse the data lines of a memory profile's .mem file."},
    {"mem_parse_stacks", mem_parse_stacks_py, METH_VARARGS,
     "Parse the records of a memory profile's .stack file."},
    {"mem_live_at", mem_live_at_py, METH_VARARGS,
     "Live bytes by stack id at a moment, from sampled blocks."},
    {"mem_downsample", mem_downsample_py, METH_VARARGS,
     "A line reduced to a few points per chart column, extremes kept."},
    {"mem_chart_svg", mem_chart_svg_py, METH_VARARGS,
     "The memory chart (memg.svg) as SVG bytes."},
    {NULL, NULL, 0, NULL},
};

int
sw_memview_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, memview_methods);
}
