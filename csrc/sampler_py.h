/* The sampler's Python edge (sampler_py.c): the Session type and the
 * sampler_* functions of stackwatch._native. */
#ifndef SW_SAMPLER_PY_H
#define SW_SAMPLER_PY_H

#include <Python.h>

#include "codecache.h"
#include "stacks.h"

/* Readies the Session type and adds it and the sampler_* functions to
 * module m; the sampler reads code objects through cache (which must
 * outlive the module).  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set. */
int sw_sampler_py_init(PyObject *m, sw_codecache_t *cache);

/* The profile session inside a stackwatch._native.Session object
 * (borrowed: valid while the object lives), or NULL with TypeError set
 * when obj is not one.  For other files that fill a session (the outside
 * recorder, outside_py.c).  Context: GIL held. */
sw_session_t *sw_sampler_py_session(PyObject *obj);

/* Drops the reference to the session the parent's sampler was filling
 * (the child has no sampler thread).  Context: GIL held, in the child
 * after fork (the module's after_fork_child()).  No errors. */
void sw_sampler_py_after_fork_child(void);

/* Visits the strong references this file keeps (the session being
 * filled, the root code objects), for the module's m_traverse.
 * Context: GIL held (the garbage collector).  Returns what visit
 * returned for the first reference it refused, else 0. */
int sw_sampler_py_traverse(visitproc visit, void *arg);

/* Drops those references, for the module's m_clear/m_free; the session
 * is kept while the sampler thread still runs (it writes into it
 * without the GIL).  Context: GIL held.  No errors. */
void sw_sampler_py_clear(void);

#endif
