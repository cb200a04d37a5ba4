/* The memory profiler's Python edge (memprof_py.c): mem_start, mem_stop,
 * mem_stats, and the allocator hooks they install. */
#ifndef SW_MEMPROF_PY_H
#define SW_MEMPROF_PY_H

#include <Python.h>

/* Adds the mem_* functions to module m.  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set. */
int sw_memprof_py_init(PyObject *m);

/* Puts the previous allocators back where ours is still on top (the
 * child does not profile; memtrack's atfork handler already stopped the
 * counting).  Context: GIL held, in the child after fork (the module's
 * after_fork_child()).  No errors. */
void sw_memprof_py_after_fork_child(void);

#endif
