/* Error codes of the pure-C parts of stackwatch: 0 for success, a
 * negative SW_E* value for failure (the libuv convention).  Code that can
 * raise (the module's *_py functions) turns them into exceptions.
 *
 * Pure C; no Python.h. */
#ifndef SW_ERRORS_H
#define SW_ERRORS_H

enum sw_error {
    SW_OK = 0,
    SW_EFAULT = -1,      /* the range is not (entirely) readable */
    SW_EINVAL = -2,      /* bad argument, or invalid data read */
    SW_ENOMEM = -3,      /* an allocation failed */
    SW_ESYS = -4,        /* a system call failed; errno says why */
    SW_EFULL = -5,       /* a bounded table is full */
    SW_EFINALIZING = -6, /* the interpreter is finalizing: stop reading */
    SW_EBUSY = -7,       /* already running / in a state that forbids it */
};

/* At the Python edge (errors_py.c) these become: SW_EINVAL -> ValueError,
 * SW_ENOMEM -> MemoryError, SW_ESYS -> OSError with errno, anything else
 * (SW_EBUSY, SW_EFULL, SW_EFAULT, SW_EFINALIZING, a bare -1) ->
 * RuntimeError.  A function documented as returning a bare -1 (buf.h,
 * clock.h, dump.h, watchdog.h, the writers, sw_layout_init, sw_line_for)
 * does not use these codes: its -1 is not SW_EFAULT even though the
 * values are equal. */

#endif
