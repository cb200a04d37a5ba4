/* _native.format_frame: the one frame formatter (stackfmt.h) for the
 * Python layer (the profiler's summary, run info); the path prefixes
 * (set_path_prefixes, short_path). */
#include "redact.h"
#include "stackfmt_py.h"
#include "errors_py.h"
#include "stackfmt.h"

/* format_frame(name, filename, lineno, *, traceback=False,
 *              basename=False, short=False) -> str
 * "name (file:line)" (or `File "file", line N, in name` with traceback),
 * as every native report writes it; filename None or "": no file; lineno
 * < 0: unknown; basename: the file by its base name; short: without its
 * path prefix (stackfmt.h). */
static PyObject *
format_frame_py(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name",     "filename", "lineno", "traceback",
                             "basename", "short",    NULL};
    sw_fmt_frame_t f = {NULL, NULL, -1};
    int traceback = 0, basename = 0, short_ = 0;
    PyObject *res;
    sw_buf_t out;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "szi|$ppp:format_frame",
                                     kwlist, &f.name, &f.file, &f.line,
                                     &traceback, &basename, &short_)) {
        return NULL;
    }
    if (f.file != NULL && f.file[0] == '\0') {
        f.file = NULL;
    }
    sw_buf_init(&out);
    sw_stackfmt_frame(&out, &f, traceback ? SW_FMT_TRACEBACK : SW_FMT_LABEL,
                      (basename ? SW_FMT_BASENAME : 0) |
                          (short_ ? SW_FMT_SHORT : 0));
    if (!sw_buf_ok(&out)) {
        sw_buf_free(&out);
        return PyErr_NoMemory();
    }
    res = PyUnicode_DecodeUTF8(out.data != NULL ? out.data : "",
                               (Py_ssize_t)out.len, "surrogateescape");
    sw_buf_free(&out);
    return res;
}

/* set_path_prefixes(prefixes): replaces the prefix table (a sequence of
 * str; see sw_stackfmt_set_prefixes for which are kept). */
/* Calls set(v, n) with the UTF-8 text of the str items of arg, a
 * sequence (items that are not UTF-8, with surrogates, are left out);
 * what names the items in the errors. */
static PyObject *
set_strings(PyObject *arg, const char *what,
            int (*set)(const char *const *v, size_t n))
{
    PyObject *seq = PySequence_Fast(arg, "expected a sequence of str");
    const char **v = NULL;
    Py_ssize_t n, i, k = 0;
    int rc;

    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    v = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(*v));
    if (v == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);

        if (!PyUnicode_Check(item)) {
            PyMem_Free(v);
            Py_DECREF(seq);
            PyErr_Format(PyExc_TypeError, "%s must be str", what);
            return NULL;
        }
        v[k] = PyUnicode_AsUTF8(item);
        if (v[k] == NULL) {
            PyErr_Clear(); /* not UTF-8 (surrogates): left out */
        }
        else {
            k++;
        }
    }
    rc = set(v, (size_t)k);
    PyMem_Free(v);
    Py_DECREF(seq);
    if (rc < 0) {
        return sw_py_raise(rc, NULL);
    }
    Py_RETURN_NONE;
}

static PyObject *
set_path_prefixes_py(PyObject *m, PyObject *arg)
{
    (void)m;
    return set_strings(arg, "prefixes", sw_stackfmt_set_prefixes);
}

/* set_redact_patterns(patterns): the redaction patterns (lower-case str,
 * from _saferepr.redact_patterns()) for the locals native code shows
 * (redact.h). */
static PyObject *
set_redact_patterns_py(PyObject *m, PyObject *arg)
{
    (void)m;
    return set_strings(arg, "patterns", sw_redact_set);
}

/* short_path(filename) -> str: the file without its path prefix. */
static PyObject *
short_path_py(PyObject *m, PyObject *arg)
{
    const char *file, *s;
    (void)m;

    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "short_path() needs a str");
        return NULL;
    }
    file = PyUnicode_AsUTF8(arg);
    if (file == NULL) {
        PyErr_Clear(); /* not UTF-8 (surrogates): as it is */
        Py_INCREF(arg);
        return arg;
    }
    s = sw_stackfmt_short_path(file);
    if (s == file) {
        Py_INCREF(arg);
        return arg;
    }
    return PyUnicode_FromString(s);
}

static PyMethodDef stackfmt_methods[] = {
    {"format_frame", (PyCFunction)(void (*)(void))format_frame_py,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"set_path_prefixes", set_path_prefixes_py, METH_O, NULL},
    {"short_path", short_path_py, METH_O, NULL},
    {"set_redact_patterns", set_redact_patterns_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_stackfmt_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, stackfmt_methods);
}
