/* _native.compile_file: the code of the script `stackwatch record` and
 * `run` start (src/stackwatch/_runner.py), compiled as python compiles
 * its main script.
 *
 * The builtin compile() first asks whether its argument is an AST object,
 * and that question builds the ast module's node types (over a hundred
 * heap types) on its first call in a process: some 10 million
 * instructions, 4-5 ms, that `python script.py` never spends.  The C API
 * compiles source without asking. */
#include "runner_py.h"

#include <string.h>

/* compile_file(source, filename) -> code or None
 * What compile(source, filename, "exec", dont_inherit=True) gives for
 * bytes: the encoding from a BOM or a coding cookie (else UTF-8), the
 * interpreter's optimization level, no future flags of the caller;
 * SyntaxError as compile() raises it.  None for a source that holds a NUL
 * byte (the C API would stop there): the caller lets compile() refuse
 * it, in its own words. */
static PyObject *
compile_file_py(PyObject *m, PyObject *args)
{
    PyObject *bytes, *filename;
    char *source;
    Py_ssize_t len;
    PyCompilerFlags flags;
    (void)m;

    if (!PyArg_ParseTuple(args, "SU:compile_file", &bytes, &filename) ||
        PyBytes_AsStringAndSize(bytes, &source, &len) < 0) {
        return NULL;
    }
    if (memchr(source, '\0', (size_t)len) != NULL) {
        Py_RETURN_NONE;
    }
    memset(&flags, 0, sizeof(flags));
    flags.cf_flags = PyCF_SOURCE_IS_UTF8; /* as compile() sets it */
    return Py_CompileStringObject(source, filename, Py_file_input, &flags, -1);
}

static PyMethodDef runner_methods[] = {
    {"compile_file", compile_file_py, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_runner_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, runner_methods);
}
