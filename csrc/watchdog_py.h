/* The watchdog's Python edge (watchdog_py.c): the watchdog_* functions,
 * the SelectHook type and the WD_* constants of stackwatch._native.  (The
 * greenlet switch timing used by assert_switches is in greenlet_py.c.) */
#ifndef SW_WATCHDOG_PY_H
#define SW_WATCHDOG_PY_H

#include <Python.h>

#include "codecache.h"

/* Readies the SelectHook type and adds it, the functions and the
 * constants to module m; reports read code objects through cache (which
 * must outlive the module).  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set.  The functions it adds raise
 * through sw_py_raise(): ValueError for a bad kind or a duration that is
 * not a number of seconds >= 0, RuntimeError for a full watch table,
 * OSError with errno when the report descriptor or the thread fails. */
int sw_wd_py_init(PyObject *m, sw_codecache_t *cache);

#endif
