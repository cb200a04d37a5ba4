/* Module glue of the watchdog's Python functions (watchdog_py.c). */
#ifndef SW_WATCHDOG_PY_H
#define SW_WATCHDOG_PY_H

#include <Python.h>

#include "codecache.h"

/* Adds the functions and constants to the module.  Context: GIL held, at
 * import.  Returns 0 or -1 with an exception set. */
int sw_wd_py_init(PyObject *m, sw_codecache_t *cache);

#endif
