/* The dumps' Python edge (dump_py.c): set_thread_names, the dump_*
 * functions, sigqueue and the DUMP_* constants of stackwatch._native. */
#ifndef SW_DUMP_PY_H
#define SW_DUMP_PY_H

#include <Python.h>

#include "codecache.h"

/* Adds the functions and constants to module m; dumps read code objects
 * through cache (which must outlive the module).  Context: GIL held, at
 * import.  Returns 0, or -1 with an exception set. */
int sw_dump_py_init(PyObject *m, sw_codecache_t *cache);

#endif
