/* Test-only functions of stackwatch._native (testing_py.c), all named
 * _test_*: _test_sampler_fail_next, _test_read_own_stack,
 * _test_code_lines. */
#ifndef SW_TESTING_PY_H
#define SW_TESTING_PY_H

#include <Python.h>

#include "codecache.h"

/* Adds the _test_* functions to module m; they read code objects through
 * cache (which must outlive the module).  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set. */
int sw_testing_py_init(PyObject *m, sw_codecache_t *cache);

#endif
