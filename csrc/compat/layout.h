/* The layout table: everything the GIL-free reader knows about one CPython
 * minor version, as data.
 *
 * The reader (compat/reader.c) never tests a version number: it reads
 * fields at the offsets given here and branches on the few "model" values
 * below (how frames are chained, how line numbers are encoded, where the
 * GIL lives).  The table is filled once, at import, by compat/layout.c,
 * the only file compiled with Py_BUILD_CORE.  A future version whose
 * runtime publishes _Py_DebugOffsets (3.13+) fills the same table from
 * those offsets and adds a model value only where the shape really
 * changed.
 *
 * Free-threaded builds (3.13t, 3.14t; Py_GIL_DISABLED) are refused at
 * import (debug_offsets.free_threaded).  What a reader for them would
 * need, none of it written because no such build can be tested here:
 * no GIL holder (on-CPU would come from each thread's CPU clock only);
 * thread states allocated as _PyThreadStateImpl; f_executable tagged
 * with Py_TAG_DEFERRED on more objects, and instr_ptr pointing into the
 * thread's own copy of the bytecode (frame tlbc_index, code co_tlbc, both
 * in debug_offsets) rather than co_code_adaptive; objects' ob_tid and
 * split reference counts in place of ob_refcnt; code objects that may be
 * shared and mutated by other threads while read.
 *
 * This header does not include Python.h; pure-C units and tests use it. */
#ifndef SW_COMPAT_LAYOUT_H
#define SW_COMPAT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* How a thread's Python frames are chained. */
enum sw_frame_model {
    /* 3.9, 3.10: heap PyFrameObjects linked by f_back; position f_lasti. */
    SW_FRAMES_OBJECTS = 1,
    /* 3.11+: _PyInterpreterFrame in data-stack chunks (or inside
     * generators) linked by previous; position is an instruction
     * pointer into the code object's inline bytecode. */
    SW_FRAMES_INTERP = 2,
};

/* Where the thread state keeps its current frame. */
enum sw_frame_ref {
    SW_TSTATE_FRAME = 1,  /* tstate->frame / tstate->current_frame */
    SW_TSTATE_CFRAME = 2, /* tstate->cframe->current_frame */
};

/* How a code object maps bytecode offsets to line numbers. */
enum sw_line_format {
    SW_LINES_LNOTAB = 1,    /* 3.9: co_lnotab byte pairs */
    SW_LINES_PEP626 = 2,    /* 3.10: co_linetable (start, line) pairs */
    SW_LINES_LOCATIONS = 3, /* 3.11+: co_linetable location entries */
};

/* Where the GIL state lives. */
enum sw_gil_place {
    SW_GIL_RUNTIME = 1, /* &_PyRuntime.ceval.gil (3.9-3.11) */
    SW_GIL_INTERP = 2,  /* interp->ceval.gil, a pointer (3.12+) */
};

typedef struct sw_layout {
    uint32_t version_hex; /* PY_VERSION_HEX the table was built for */
    char version[24];     /* "3.12.1" */

    int frame_model;
    int frame_ref;
    int line_format;
    int gil_place;

    /* Addresses in this process. */
    uintptr_t runtime;      /* &_PyRuntime */
    uintptr_t type_code;    /* &PyCode_Type */
    uintptr_t type_unicode; /* &PyUnicode_Type */
    uintptr_t type_bytes;   /* &PyBytes_Type */
    uintptr_t type_frame;   /* &PyFrame_Type */
    uintptr_t gil_runtime;  /* SW_GIL_RUNTIME: the GIL struct */

    /* _PyRuntimeState */
    size_t rt_interp_head; /* interpreters.head */
    size_t rt_finalizing;  /* _finalizing (a pointer) */

    /* PyInterpreterState */
    size_t is_next;
    size_t is_threads_head;
    size_t is_id;
    size_t is_gil_ptr; /* SW_GIL_INTERP: ceval.gil */

    /* struct _gil_runtime_state */
    size_t gil_size;
    size_t gil_locked;      /* int */
    size_t gil_last_holder; /* PyThreadState * */

    /* PyThreadState */
    size_t ts_size; /* bytes to read */
    size_t ts_next;
    size_t ts_interp;
    size_t ts_frame;            /* frame, current_frame or cframe */
    size_t cf_current_frame;    /* SW_TSTATE_CFRAME: in _PyCFrame */
    size_t ts_thread_id;        /* pthread_t */
    size_t ts_native_thread_id; /* 0: absent (3.9, 3.10) */
    size_t ts_id;               /* uint64_t serial number */
    size_t ts_datastack_chunk;  /* 0: absent */
    size_t ts_datastack_top;
    /* _PyThreadStateImpl.asyncio_running_task (3.14+: asyncio's running
     * task is the thread's, --tasks reads it there), else 0 */
    size_t ts_running_task;

    /* _PyStackChunk (3.11+) */
    size_t chunk_previous;
    size_t chunk_size;
    size_t chunk_top; /* size_t, in PyObject* units */
    size_t chunk_data;

    /* PyFrameObject (3.9, 3.10) */
    size_t fo_size;
    size_t fo_back;
    size_t fo_code;
    size_t fo_lasti; /* int */
    int lasti_scale; /* bytes per f_lasti unit: 1 or 2 */

    /* _PyInterpreterFrame (3.11+) */
    size_t if_size; /* header up to localsplus */
    size_t if_previous;
    size_t if_code;        /* f_code / f_executable */
    uintptr_t if_code_tag; /* 3.14+: f_executable is a _PyStackRef whose
                              low bits are tags: cleared; else 0 */
    size_t if_instr;       /* prev_instr / instr_ptr */
    size_t if_owner;       /* char */
    int owner_generator;   /* FRAME_OWNED_BY_GENERATOR */
    int owner_max;         /* the highest owner value there is */
    uint32_t owner_root;   /* 1u << owner for the owners of the frame the
                              interpreter keeps on the C stack at each entry
                              into the eval loop, where a whole stack ends
                              (FRAME_OWNED_BY_CSTACK on 3.12 and 3.13,
                              ..._INTERPRETER or ..._CSTACK on 3.14,
                              ..._INTERPRETER on 3.15); 0 on 3.11, which
                              marks that frame is_entry instead */
    uint32_t owner_hidden; /* 1u << owner for every owner whose frames
                              are the interpreter's, not the program's
                              (CSTACK, INTERPRETER): never reported */
    int if_is_entry;       /* 3.11: offset of the bool is_entry, else -1 */
    int shim_frames;       /* 3.13+: frames that have not started (the
                            __init__ shim) can sit under running ones */

    /* PyCodeObject */
    size_t co_size;    /* bytes to read for the header */
    size_t co_ob_size; /* PyVarObject.ob_size: code units, 3.11+ */
    size_t co_filename;
    size_t co_name;
    size_t co_qualname;       /* 0: absent (3.9, 3.10) */
    size_t co_linetable;      /* co_lnotab on 3.9 */
    size_t co_firstlineno;    /* int */
    size_t co_code;           /* bytes object (3.9, 3.10), else 0 */
    size_t co_code_adaptive;  /* inline bytecode (3.11+), else 0 */
    size_t co_firsttraceable; /* int (3.11+), else 0 */
    size_t co_version;        /* uint32_t (3.12+), else 0 */

    /* Generators (the running asyncio task's coroutine, csrc/tasks.c) */
    size_t fo_gen;     /* PyFrameObject.f_gen (3.9, 3.10), else 0 */
    size_t gen_iframe; /* offsetof(PyGenObject, gi_iframe) (3.11+) */

    /* PyDictObject and its keys (asyncio's _current_tasks) */
    uintptr_t type_dict;        /* &PyDict_Type */
    uintptr_t type_long;        /* &PyLong_Type */
    size_t dict_used;           /* ma_used */
    size_t dict_keys;           /* ma_keys */
    size_t dict_values;         /* ma_values (split tables: not read) */
    size_t dk_size;             /* Py_ssize_t dk_size (3.9, 3.10), else 0 */
    size_t dk_log2_index_bytes; /* uint8_t (3.11+), else 0 */
    size_t dk_kind;             /* uint8_t (3.11+), else 0 */
    int dk_kind_general;        /* DICT_KEYS_GENERAL, or -1 */
    size_t dk_nentries;
    size_t dk_indices;
    size_t dk_entry_size;   /* a general entry: hash, key, value */
    size_t dk_entry_value;  /* the value's offset in a general entry */
    size_t dk_uentry_size;  /* a unicode entry (3.11+): key, value */
    size_t dk_uentry_value; /* its value's offset */

    /* PyLongObject: the first digit and how the digit count is kept */
    size_t long_digit0;
    size_t long_tag;    /* ob_size (3.9-3.11) or lv_tag (3.12+) */
    int long_tag_shift; /* digits = tag >> shift: 0, or 3 on 3.12+ */

    /* PyObject, PyVarObject */
    size_t ob_type;
    size_t ob_refcnt;
    size_t ob_size;

    /* PyBytesObject */
    size_t bytes_sval;

    /* PyUnicodeObject (PEP 393 compact forms) */
    size_t str_length;
    size_t str_state;
    size_t str_ascii_size;   /* sizeof(PyASCIIObject) */
    size_t str_compact_size; /* sizeof(PyCompactUnicodeObject) */
    uint32_t str_kind_mask;  /* in the 32-bit state word */
    int str_kind_shift;
    uint32_t str_compact_bit;
    uint32_t str_ascii_bit;

    /* Locals read without the GIL (dump --locals): the objects of simple
     * types, recognised by their type's address, and the frame's fast
     * locals with their names. */
    uintptr_t type_float;     /* &PyFloat_Type */
    uintptr_t type_bool;      /* &PyBool_Type */
    uintptr_t type_list;      /* &PyList_Type */
    uintptr_t type_tuple;     /* &PyTuple_Type */
    uintptr_t type_set;       /* &PySet_Type */
    uintptr_t type_frozenset; /* &PyFrozenSet_Type */
    uintptr_t obj_none;       /* &_Py_NoneStruct */
    uintptr_t obj_true;       /* &_Py_TrueStruct */
    uintptr_t obj_false;      /* &_Py_FalseStruct */
    size_t type_tp_name;      /* PyTypeObject.tp_name (a char *) */
    size_t float_fval;        /* PyFloatObject.ob_fval */
    size_t tuple_items;       /* PyTupleObject.ob_item */
    size_t set_used;          /* PySetObject.used */
    size_t co_localsnames;    /* co_localsplusnames (3.11+), co_varnames */
    size_t co_nlocals;        /* int: co_nlocalsplus (3.11+), co_nlocals */
    size_t fo_localsplus;     /* PyFrameObject.f_localsplus (3.9, 3.10) */
    int locals_tagged;        /* 3.14+: locals are _PyStackRefs: the low two
                                 bits are tags (both set: not an object) */

    /* _Py_DebugOffsets (3.13+), at the start of _PyRuntime; else 0 */
    size_t dbg_size;
    size_t dbg_version;       /* uint64_t version */
    size_t dbg_free_threaded; /* uint64_t free_threaded */
} sw_layout_t;

/* One value the runtime publishes in its _Py_DebugOffsets, with what the
 * table expects there: the uint64_t at byte `at` of the struct, minus the
 * one at `minus` when minus is not 0, equals `value`. */
typedef struct sw_debug_check {
    const char *what;
    uint32_t at;
    uint32_t minus;
    uint64_t value;
} sw_debug_check_t;

#define SW_DEBUG_CHECKS_MAX 48

/* The checks for the running interpreter's table (3.13+), into
 * out[0..SW_DEBUG_CHECKS_MAX); returns how many (0 before 3.13).
 * Context: any, after sw_layout_init(). */
int sw_layout_debug_checks(sw_debug_check_t *out);

/* The table for the running interpreter, valid after sw_layout_init()
 * succeeded.  Read-only afterwards; any thread may read it. */
extern sw_layout_t sw_layout;

/* Fills sw_layout for the running interpreter and checks it against what
 * the runtime says about itself (the version it reports, and on 3.13+ the
 * offsets in _PyRuntime.debug_offsets).
 * Context: GIL held, at import, before any reader opens; no allocation.
 * Returns 0, or -1 (not an SW_E* code) with a one-line reason in err and
 * no Python exception set (the caller raises): the running minor version
 * is not the one built for; on 3.13+ the debug offsets have no cookie,
 * another version, a free-threaded build, or an offset that differs.
 * sw_layout is filled even then, but must not be used. */
int sw_layout_init(char *err, size_t errlen);

#endif
