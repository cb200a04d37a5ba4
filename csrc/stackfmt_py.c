/* _native.format_frame: the one frame formatter (stackfmt.h) for the
 * Python layer (the profiler's summary). */
#include "stackfmt_py.h"
#include "stackfmt.h"

/* format_frame(name, filename, lineno, *, traceback=False,
 *              basename=False) -> str
 * "name (file:line)" (or `File "file", line N, in name` with traceback),
 * as every native report writes it; filename None or "": no file; lineno
 * < 0: unknown; basename: the file by its base name. */
static PyObject *
format_frame_py(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name",      "filename", "lineno",
                             "traceback", "basename", NULL};
    sw_fmt_frame_t f = {NULL, NULL, -1};
    int traceback = 0, basename = 0;
    PyObject *res;
    sw_buf_t out;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "szi|$pp:format_frame",
                                     kwlist, &f.name, &f.file, &f.line,
                                     &traceback, &basename)) {
        return NULL;
    }
    if (f.file != NULL && f.file[0] == '\0') {
        f.file = NULL;
    }
    sw_buf_init(&out);
    sw_stackfmt_frame(&out, &f, traceback ? SW_FMT_TRACEBACK : SW_FMT_LABEL,
                      basename ? SW_FMT_BASENAME : 0);
    if (!sw_buf_ok(&out)) {
        sw_buf_free(&out);
        return PyErr_NoMemory();
    }
    res = PyUnicode_DecodeUTF8(out.data != NULL ? out.data : "",
                               (Py_ssize_t)out.len, "surrogateescape");
    sw_buf_free(&out);
    return res;
}

static PyMethodDef stackfmt_methods[] = {
    {"format_frame", (PyCFunction)(void (*)(void))format_frame_py,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_stackfmt_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, stackfmt_methods);
}
