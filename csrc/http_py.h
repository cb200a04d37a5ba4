/* The HTTP endpoint's Python edge (http_py.c): http_start, http_stop,
 * http_running, http_stats of stackwatch._native. */
#ifndef SW_HTTP_PY_H
#define SW_HTTP_PY_H

#include <Python.h>

#include "codecache.h"

/* Adds the functions to module m and names the code cache the endpoints
 * resolve stacks with.  Context: GIL held, at import.  Returns 0, or -1
 * with an exception set. */
int sw_http_py_init(PyObject *m, sw_codecache_t *cache);

#endif
