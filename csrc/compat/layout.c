/* The layout table for the CPython this extension is compiled against.
 *
 * This is the one file of the extension that includes CPython's internal
 * headers: Py_BUILD_CORE must be defined before Python.h, and it changes
 * inline helpers for the whole translation unit, so nothing else lives
 * here.  Every value is an offsetof() or an address taken by the
 * compiler; nothing is typed in by hand, except the dict keys header of
 * 3.9 and 3.10 (sw_dictkeys310_t: Objects/dict-common.h is not
 * installed), which --tasks uses only to read asyncio's _current_tasks,
 * every value it finds being checked as a Task of this process.
 *
 * Checks made at import (sw_layout_init):
 *  - the running interpreter is the minor version this file was built for;
 *  - on 3.13+, _PyRuntime.debug_offsets carries the expected cookie and
 *    version, reports a GIL build, and agrees with every offset we use.
 *    _Py_DebugOffsets is the runtime's own promise about its layout; a
 *    patch release that moved a field is refused instead of misread. */
#define Py_BUILD_CORE 1
/* CPython's internal headers (3.13's mimalloc ones) test undefined macros,
 * 3.13's pycore_object.h (through pycore_dict.h) and 3.14's stackref
 * inlines have unused parameters; our -Wundef and -Wunused-parameter are
 * for our code, not theirs. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <Python.h>
#include <frameobject.h>

#include <stdio.h>
#include <string.h>

#include "compat/layout.h"

/* The range comes from src/stackwatch/_versions.py, through setup.py. */
#if !defined(SW_MIN_MINOR) || !defined(SW_MAX_MINOR)
#error "SW_MIN_MINOR/SW_MAX_MINOR undefined: build with setup.py"
#elif PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION < SW_MIN_MINOR || \
    PY_MINOR_VERSION > SW_MAX_MINOR
#error "stackwatch does not support this CPython (src/stackwatch/_versions.py)"
#endif

#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_interpframe.h"
#include "internal/pycore_stackref.h"
#endif
#pragma GCC diagnostic pop

sw_layout_t sw_layout;

/* PEP 393 keeps kind/compact/ascii in a bit-field; offsetof cannot name
 * bits, so find them by setting each field in a scratch object and seeing
 * which bits of the 32-bit state word change. */
static void
find_unicode_bits(sw_layout_t *L)
{
    PyASCIIObject o;
    uint32_t w;

    memset(&o, 0, sizeof(o));
    o.state.kind = 7;
    memcpy(&w, (char *)&o + L->str_state, sizeof(w));
    L->str_kind_mask = w;
    L->str_kind_shift = 0;
    while (w && !(w & 1u)) {
        w >>= 1;
        L->str_kind_shift++;
    }
    memset(&o, 0, sizeof(o));
    o.state.compact = 1;
    memcpy(&L->str_compact_bit, (char *)&o + L->str_state, sizeof(w));
    memset(&o, 0, sizeof(o));
    o.state.ascii = 1;
    memcpy(&L->str_ascii_bit, (char *)&o + L->str_state, sizeof(w));
}

#if PY_VERSION_HEX < 0x030B0000
/* 3.9, 3.10: Objects/dict-common.h is not installed; its keys header,
 * unchanged from 3.6 to 3.10, is mirrored here. */
typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} sw_dictkeys310_t;

typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} sw_dictentry310_t;
#endif

/* What reading asyncio's tasks needs: generators, dicts, small ints. */
static void
fill_tasks(sw_layout_t *L)
{
    L->type_dict = (uintptr_t)&PyDict_Type;
    L->type_long = (uintptr_t)&PyLong_Type;
    L->dict_used = offsetof(PyDictObject, ma_used);
    L->dict_keys = offsetof(PyDictObject, ma_keys);
    L->dict_values = offsetof(PyDictObject, ma_values);
#if PY_VERSION_HEX >= 0x030B0000
    L->gen_iframe = offsetof(PyGenObject, gi_iframe);
    L->dk_log2_index_bytes = offsetof(PyDictKeysObject, dk_log2_index_bytes);
    L->dk_kind = offsetof(PyDictKeysObject, dk_kind);
    L->dk_kind_general = DICT_KEYS_GENERAL;
    L->dk_nentries = offsetof(PyDictKeysObject, dk_nentries);
    L->dk_indices = offsetof(PyDictKeysObject, dk_indices);
    L->dk_entry_size = sizeof(PyDictKeyEntry);
    L->dk_entry_value = offsetof(PyDictKeyEntry, me_value);
    L->dk_uentry_size = sizeof(PyDictUnicodeEntry);
    L->dk_uentry_value = offsetof(PyDictUnicodeEntry, me_value);
#else
    L->fo_gen = offsetof(PyFrameObject, f_gen);
    L->dk_size = offsetof(sw_dictkeys310_t, dk_size);
    L->dk_kind_general = -1;
    L->dk_nentries = offsetof(sw_dictkeys310_t, dk_nentries);
    L->dk_indices = offsetof(sw_dictkeys310_t, dk_indices);
    L->dk_entry_size = sizeof(sw_dictentry310_t);
    L->dk_entry_value = offsetof(sw_dictentry310_t, me_value);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    L->long_digit0 = offsetof(PyLongObject, long_value.ob_digit);
    L->long_tag = offsetof(PyLongObject, long_value.lv_tag);
    L->long_tag_shift = 3; /* _PyLong_NON_SIZE_BITS */
#else
    L->long_digit0 = offsetof(PyLongObject, ob_digit);
    L->long_tag = offsetof(PyVarObject, ob_size);
    L->long_tag_shift = 0;
#endif
}

static void
fill(sw_layout_t *L)
{
    memset(L, 0, sizeof(*L));
    L->version_hex = PY_VERSION_HEX;
    snprintf(L->version, sizeof(L->version), "%d.%d", PY_MAJOR_VERSION,
             PY_MINOR_VERSION);

    L->runtime = (uintptr_t)&_PyRuntime;
    L->type_code = (uintptr_t)&PyCode_Type;
    L->type_unicode = (uintptr_t)&PyUnicode_Type;
    L->type_bytes = (uintptr_t)&PyBytes_Type;
    L->type_frame = (uintptr_t)&PyFrame_Type;

    L->rt_interp_head = offsetof(_PyRuntimeState, interpreters.head);
    L->rt_finalizing = offsetof(_PyRuntimeState, _finalizing);

    L->is_next = offsetof(PyInterpreterState, next);
    L->is_id = offsetof(PyInterpreterState, id);
#if PY_VERSION_HEX >= 0x030B0000
    L->is_threads_head = offsetof(PyInterpreterState, threads.head);
#else
    L->is_threads_head = offsetof(PyInterpreterState, tstate_head);
#endif

    L->gil_size = sizeof(struct _gil_runtime_state);
    L->gil_locked = offsetof(struct _gil_runtime_state, locked);
    L->gil_last_holder = offsetof(struct _gil_runtime_state, last_holder);
#if PY_VERSION_HEX >= 0x030C0000
    L->gil_place = SW_GIL_INTERP;
    L->is_gil_ptr = offsetof(PyInterpreterState, ceval.gil);
#else
    L->gil_place = SW_GIL_RUNTIME;
    L->gil_runtime = (uintptr_t)&_PyRuntime.ceval.gil;
#endif

    L->ts_size = sizeof(PyThreadState);
    L->ts_next = offsetof(PyThreadState, next);
    L->ts_interp = offsetof(PyThreadState, interp);
    L->ts_thread_id = offsetof(PyThreadState, thread_id);
    L->ts_id = offsetof(PyThreadState, id);
#if PY_VERSION_HEX >= 0x030B0000
    L->ts_native_thread_id = offsetof(PyThreadState, native_thread_id);
    L->ts_datastack_chunk = offsetof(PyThreadState, datastack_chunk);
    L->ts_datastack_top = offsetof(PyThreadState, datastack_top);
#if PY_VERSION_HEX >= 0x030E0000
    L->ts_running_task = offsetof(_PyThreadStateImpl, asyncio_running_task);
#endif
    L->chunk_previous = offsetof(_PyStackChunk, previous);
    L->chunk_size = offsetof(_PyStackChunk, size);
    L->chunk_top = offsetof(_PyStackChunk, top);
    L->chunk_data = offsetof(_PyStackChunk, data);
#endif

#if PY_VERSION_HEX >= 0x030D0000
    L->frame_ref = SW_TSTATE_FRAME;
    L->ts_frame = offsetof(PyThreadState, current_frame);
#elif PY_VERSION_HEX >= 0x030B0000
    L->frame_ref = SW_TSTATE_CFRAME;
    L->ts_frame = offsetof(PyThreadState, cframe);
    L->cf_current_frame = offsetof(_PyCFrame, current_frame);
#else
    L->frame_ref = SW_TSTATE_FRAME;
    L->ts_frame = offsetof(PyThreadState, frame);
#endif

#if PY_VERSION_HEX >= 0x030B0000
    L->frame_model = SW_FRAMES_INTERP;
    L->if_size = offsetof(_PyInterpreterFrame, localsplus);
    L->if_previous = offsetof(_PyInterpreterFrame, previous);
    L->if_owner = offsetof(_PyInterpreterFrame, owner);
    L->owner_generator = FRAME_OWNED_BY_GENERATOR;
#if PY_VERSION_HEX >= 0x030D0000
    L->if_code = offsetof(_PyInterpreterFrame, f_executable);
    L->if_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#else
    L->if_code = offsetof(_PyInterpreterFrame, f_code);
    L->if_instr = offsetof(_PyInterpreterFrame, prev_instr);
#endif
    L->shim_frames = PY_VERSION_HEX >= 0x030D0000;
    L->owner_max = 3;
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14 keeps interpreter-owned frames (the eval loop's entry frame)
     * beside FRAME_OWNED_BY_CSTACK; 3.15 has only the former.  Both end a
     * whole stack.  The executable is a tagged _PyStackRef. */
    L->if_code_tag = (uintptr_t)Py_TAG_BITS;
    L->owner_root = 1u << FRAME_OWNED_BY_INTERPRETER;
    L->if_is_entry = -1;
#if PY_VERSION_HEX < 0x030F0000
    L->owner_root |= 1u << FRAME_OWNED_BY_CSTACK;
    L->owner_max = FRAME_OWNED_BY_CSTACK;
#endif
#elif PY_VERSION_HEX >= 0x030C0000
    L->owner_root = 1u << FRAME_OWNED_BY_CSTACK;
    L->if_is_entry = -1;
#else
    L->owner_root = 0;
    L->if_is_entry = (int)offsetof(_PyInterpreterFrame, is_entry);
#endif
    L->owner_hidden = L->owner_root;
#else
    L->frame_model = SW_FRAMES_OBJECTS;
    L->fo_size = offsetof(PyFrameObject, f_lasti) + sizeof(int);
    L->fo_back = offsetof(PyFrameObject, f_back);
    L->fo_code = offsetof(PyFrameObject, f_code);
    L->fo_lasti = offsetof(PyFrameObject, f_lasti);
#if PY_VERSION_HEX >= 0x030A0000
    L->lasti_scale = 2; /* f_lasti counts code units */
#else
    L->lasti_scale = 1; /* f_lasti counts bytes */
#endif
#endif

    L->co_filename = offsetof(PyCodeObject, co_filename);
    L->co_name = offsetof(PyCodeObject, co_name);
    L->co_firstlineno = offsetof(PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX >= 0x030B0000
    L->co_size = offsetof(PyCodeObject, co_code_adaptive);
    L->co_ob_size = offsetof(PyVarObject, ob_size);
    L->co_qualname = offsetof(PyCodeObject, co_qualname);
    L->co_linetable = offsetof(PyCodeObject, co_linetable);
    L->co_code_adaptive = offsetof(PyCodeObject, co_code_adaptive);
    L->co_firsttraceable = offsetof(PyCodeObject, _co_firsttraceable);
    L->line_format = SW_LINES_LOCATIONS;
#else
    L->co_size = sizeof(PyCodeObject);
    L->co_code = offsetof(PyCodeObject, co_code);
#if PY_VERSION_HEX >= 0x030A0000
    L->co_linetable = offsetof(PyCodeObject, co_linetable);
    L->line_format = SW_LINES_PEP626;
#else
    L->co_linetable = offsetof(PyCodeObject, co_lnotab);
    L->line_format = SW_LINES_LNOTAB;
#endif
#endif
#if PY_VERSION_HEX >= 0x030C0000
    L->co_version = offsetof(PyCodeObject, co_version);
#endif

    fill_tasks(L);
    L->ob_type = offsetof(PyObject, ob_type);
    L->ob_refcnt = offsetof(PyObject, ob_refcnt);
    L->ob_size = offsetof(PyVarObject, ob_size);
    L->bytes_sval = offsetof(PyBytesObject, ob_sval);
    L->str_length = offsetof(PyASCIIObject, length);
    L->str_state = offsetof(PyASCIIObject, state);
    L->str_ascii_size = sizeof(PyASCIIObject);
    L->str_compact_size = sizeof(PyCompactUnicodeObject);
    find_unicode_bits(L);

    L->type_float = (uintptr_t)&PyFloat_Type;
    L->type_bool = (uintptr_t)&PyBool_Type;
    L->type_list = (uintptr_t)&PyList_Type;
    L->type_tuple = (uintptr_t)&PyTuple_Type;
    L->type_set = (uintptr_t)&PySet_Type;
    L->type_frozenset = (uintptr_t)&PyFrozenSet_Type;
    L->obj_none = (uintptr_t)Py_None;
    L->obj_true = (uintptr_t)Py_True;
    L->obj_false = (uintptr_t)Py_False;
    L->type_tp_name = offsetof(PyTypeObject, tp_name);
    L->float_fval = offsetof(PyFloatObject, ob_fval);
    L->tuple_items = offsetof(PyTupleObject, ob_item);
    L->set_used = offsetof(PySetObject, used);
#if PY_VERSION_HEX >= 0x030B0000
    L->co_localsnames = offsetof(PyCodeObject, co_localsplusnames);
    L->co_nlocals = offsetof(PyCodeObject, co_nlocalsplus);
#else
    L->co_localsnames = offsetof(PyCodeObject, co_varnames);
    L->co_nlocals = offsetof(PyCodeObject, co_nlocals);
    L->fo_localsplus = offsetof(PyFrameObject, f_localsplus);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    L->locals_tagged = 1;
#endif
#if PY_VERSION_HEX >= 0x030D0000
    L->dbg_size = sizeof(_Py_DebugOffsets);
    L->dbg_version = offsetof(_Py_DebugOffsets, version);
    L->dbg_free_threaded = offsetof(_Py_DebugOffsets, free_threaded);
#endif
}

#if PY_VERSION_HEX >= 0x030D0000
#define DBG(field) ((uint32_t)offsetof(_Py_DebugOffsets, field))
#endif

int
sw_layout_debug_checks(sw_debug_check_t *out)
{
#if PY_VERSION_HEX >= 0x030D0000
    const sw_layout_t *L = &sw_layout;
    /* The gil fields are relative to the interpreter's own _gil; we read
     * through the ceval.gil pointer, so compare offsets inside the
     * struct. */
    const sw_debug_check_t checks[] = {
        {"runtime.interpreters_head", DBG(runtime_state.interpreters_head), 0,
         L->rt_interp_head},
        {"runtime.finalizing", DBG(runtime_state.finalizing), 0,
         L->rt_finalizing},
        {"interp.next", DBG(interpreter_state.next), 0, L->is_next},
        {"interp.threads_head", DBG(interpreter_state.threads_head), 0,
         L->is_threads_head},
        {"interp.id", DBG(interpreter_state.id), 0, L->is_id},
        {"interp.ceval_gil", DBG(interpreter_state.ceval_gil), 0,
         L->is_gil_ptr},
        {"interp.gil_runtime_state_locked",
         DBG(interpreter_state.gil_runtime_state_locked),
         DBG(interpreter_state.gil_runtime_state), L->gil_locked},
        {"interp.gil_runtime_state_holder",
         DBG(interpreter_state.gil_runtime_state_holder),
         DBG(interpreter_state.gil_runtime_state), L->gil_last_holder},
        {"tstate.size", DBG(thread_state.size), 0, L->ts_size},
        {"tstate.next", DBG(thread_state.next), 0, L->ts_next},
        {"tstate.interp", DBG(thread_state.interp), 0, L->ts_interp},
        {"tstate.current_frame", DBG(thread_state.current_frame), 0,
         L->ts_frame},
        {"tstate.thread_id", DBG(thread_state.thread_id), 0, L->ts_thread_id},
        {"tstate.native_thread_id", DBG(thread_state.native_thread_id), 0,
         L->ts_native_thread_id},
        {"tstate.datastack_chunk", DBG(thread_state.datastack_chunk), 0,
         L->ts_datastack_chunk},
        {"frame.previous", DBG(interpreter_frame.previous), 0, L->if_previous},
        {"frame.executable", DBG(interpreter_frame.executable), 0, L->if_code},
        {"frame.instr_ptr", DBG(interpreter_frame.instr_ptr), 0, L->if_instr},
        {"frame.localsplus", DBG(interpreter_frame.localsplus), 0, L->if_size},
        {"frame.owner", DBG(interpreter_frame.owner), 0, L->if_owner},
        {"code.filename", DBG(code_object.filename), 0, L->co_filename},
        {"code.name", DBG(code_object.name), 0, L->co_name},
        {"code.qualname", DBG(code_object.qualname), 0, L->co_qualname},
        {"code.linetable", DBG(code_object.linetable), 0, L->co_linetable},
        {"code.firstlineno", DBG(code_object.firstlineno), 0,
         L->co_firstlineno},
        {"code.localsplusnames", DBG(code_object.localsplusnames), 0,
         L->co_localsnames},
        {"code.co_code_adaptive", DBG(code_object.co_code_adaptive), 0,
         L->co_code_adaptive},
        {"object.ob_type", DBG(pyobject.ob_type), 0, L->ob_type},
        {"tuple.ob_item", DBG(tuple_object.ob_item), 0, L->tuple_items},
        {"float.ob_fval", DBG(float_object.ob_fval), 0, L->float_fval},
        {"dict.ma_keys", DBG(dict_object.ma_keys), 0, L->dict_keys},
        {"bytes.ob_size", DBG(bytes_object.ob_size), 0, L->ob_size},
        {"bytes.ob_sval", DBG(bytes_object.ob_sval), 0, L->bytes_sval},
        {"unicode.state", DBG(unicode_object.state), 0, L->str_state},
        {"unicode.length", DBG(unicode_object.length), 0, L->str_length},
        {"unicode.asciiobject_size", DBG(unicode_object.asciiobject_size), 0,
         L->str_ascii_size},
        {"type.tp_name", DBG(type_object.tp_name), 0, L->type_tp_name},
    };
    int n = (int)(sizeof(checks) / sizeof(checks[0]));

    memcpy(out, checks, sizeof(checks));
    return n;
#else
    (void)out;
    return 0;
#endif
}

#if PY_VERSION_HEX >= 0x030D0000
_Static_assert(SW_DEBUG_CHECKS_MAX >= 37, "SW_DEBUG_CHECKS_MAX too small");

/* Compares what the runtime publishes about itself with the table. */
static int
check_debug_offsets(char *err, size_t errlen)
{
    const _Py_DebugOffsets *d = &_PyRuntime.debug_offsets;
    const char *base = (const char *)d;
    sw_debug_check_t checks[SW_DEBUG_CHECKS_MAX];
    int i, n = sw_layout_debug_checks(checks);

    if (memcmp(d->cookie, "xdebugpy", 8) != 0) {
        snprintf(err, errlen, "_PyRuntime.debug_offsets has no valid cookie");
        return -1;
    }
    if ((d->version >> 16) != (PY_VERSION_HEX >> 16)) {
        snprintf(err, errlen,
                 "_PyRuntime.debug_offsets reports version 0x%llx, built "
                 "for 0x%x",
                 (unsigned long long)d->version, (unsigned)PY_VERSION_HEX);
        return -1;
    }
    if (d->free_threaded) {
        snprintf(err, errlen, "free-threaded builds are not supported yet");
        return -1;
    }
    for (i = 0; i < n; i++) {
        uint64_t v, minus = 0;

        memcpy(&v, base + checks[i].at, sizeof(v));
        if (checks[i].minus) {
            memcpy(&minus, base + checks[i].minus, sizeof(minus));
        }
        if (v - minus != checks[i].value) {
            snprintf(err, errlen,
                     "internal layout differs from the one built for: %s is "
                     "at %llu, expected %llu",
                     checks[i].what, (unsigned long long)(v - minus),
                     (unsigned long long)checks[i].value);
            return -1;
        }
    }
    return 0;
}
#endif

int
sw_layout_init(char *err, size_t errlen)
{
    /* Py_GetVersion() is "3.12.1 (main, ...)": the running interpreter,
     * which may differ from the headers only in the patch level. */
    const char *running = Py_GetVersion();
    char want[16];
    size_t n;

    fill(&sw_layout);
    n = (size_t)snprintf(want, sizeof(want), "%d.%d.", PY_MAJOR_VERSION,
                         PY_MINOR_VERSION);
    if (strncmp(running, want, n) != 0) {
        snprintf(err, errlen,
                 "built for CPython %d.%d but running under CPython %.20s",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION, running);
        return -1;
    }
    n = strcspn(running, " ");
    if (n >= sizeof(sw_layout.version)) {
        n = sizeof(sw_layout.version) - 1;
    }
    memcpy(sw_layout.version, running, n);
    sw_layout.version[n] = '\0';
#if PY_VERSION_HEX >= 0x030D0000
    if (check_debug_offsets(err, errlen) < 0) {
        return -1;
    }
#endif
    return 0;
}
