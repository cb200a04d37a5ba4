/* The service channel's Python edge (service_py.c): the service_*
 * functions and SERVICE_* constants of stackwatch._native. */
#ifndef SW_SERVICE_PY_H
#define SW_SERVICE_PY_H

#include <Python.h>

/* Creates the channel (sw_service_init) and adds the functions and
 * constants to module m.  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set (OSError with errno when the
 * eventfd cannot be created). */
int sw_service_py_init(PyObject *m);

#endif
