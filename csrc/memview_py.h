/* The memory profile readers' Python edge (memview_py.c):
 * _native.mem_parse_rows(), mem_downsample(), mem_chart_svg(). */
#ifndef SW_MEMVIEW_PY_H
#define SW_MEMVIEW_PY_H

#include <Python.h>

/* Adds mem_parse_rows, mem_downsample and mem_chart_svg to the module.
 * Context: GIL held, at import.  Returns 0 or -1 with an exception
 * set. */
int sw_memview_py_init(PyObject *m);

#endif
