/* The one mapping from SW_E* codes (errors.h) to Python exceptions, used
 * by every Python-facing file (module.c and the *_py.c files) when a C
 * function returns a code. */
#ifndef SW_ERRORS_PY_H
#define SW_ERRORS_PY_H

#include <Python.h>

/* Sets the exception for C error code `code` with message `msg` (the
 * `char err[256]` the C call filled; NULL or "" gives a generic message):
 *   SW_EINVAL       -> ValueError
 *   SW_ENOMEM       -> MemoryError
 *   SW_ESYS         -> OSError(errno, msg): errno as the failing C call
 *                      left it, so call this right after it (releasing and
 *                      retaking the GIL preserves errno)
 *   anything else   -> RuntimeError (SW_EBUSY, SW_EFULL, SW_EFAULT,
 *                      SW_EFINALIZING, a bare -1).
 * Context: GIL held.  Always returns NULL, so `return sw_py_raise(...)`. */
PyObject *sw_py_raise(int code, const char *msg);

/* The exception sw_py_raise() would set for code: a borrowed reference to
 * one of the builtin exception types.  Context: any. */
PyObject *sw_py_error_type(int code);

#endif
