/* A frame's local variables read without the GIL; see locals.h. */
#include <string.h>

#include "compat/locals.h"

#define CODE_BUF 1024 /* a code object's header */
#define OBJ_HDR 64    /* enough of any object for what is read of it */
#define MAX_NAMES 4096

static uintptr_t
word_at(const char *buf, size_t off)
{
    uintptr_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

/* The type's tp_name into out (cap bytes), "?" when unreadable. */
static void
type_name(sw_reader_t *r, uintptr_t type, char *out, size_t cap)
{
    uintptr_t p;
    size_t i;

    strcpy(out, "?");
    if (sw_vm_read_ptr(&r->vm, type + r->L->type_tp_name, &p) < 0 || p == 0) {
        return;
    }
    /* Read what can be read of cap - 1 bytes (a name may end just before
     * an unmapped page): byte by byte past a failed block. */
    if (sw_vm_read(&r->vm, p, out, cap - 1) < 0) {
        for (i = 0; i < cap - 1; i++) {
            if (sw_vm_read(&r->vm, p + i, out + i, 1) < 0) {
                strcpy(out, "?");
                return;
            }
            if (out[i] == '\0') {
                break;
            }
        }
    }
    out[cap - 1] = '\0';
    for (i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f) {
            strcpy(out, "?"); /* not a type's name: a torn read */
            return;
        }
    }
}

/* An exact int of at most two digits: SW_LOCAL_INT; else 0 (not read). */
static int
read_int(const sw_layout_t *L, const char *hdr, int64_t *out)
{
    uint64_t tag;
    uint32_t d[2] = {0, 0};
    int64_t ndigits;
    int negative;

    memcpy(&tag, hdr + L->long_tag, sizeof(tag));
    if (L->long_tag_shift) {
        /* 3.12+: digits in the high bits; sign 0 positive, 1 zero, 2
         * negative in the low two. */
        ndigits = (int64_t)(tag >> L->long_tag_shift);
        negative = (tag & 3) == 2;
        if ((tag & 3) == 3) {
            return 0;
        }
    }
    else {
        ndigits = (int64_t)tag;
        negative = ndigits < 0;
        if (negative) {
            ndigits = -ndigits;
        }
    }
    if (ndigits < 0 || ndigits > 2 || L->long_digit0 + 8 > (size_t)OBJ_HDR) {
        return 0;
    }
    memcpy(d, hdr + L->long_digit0, (size_t)ndigits * sizeof(d[0]));
    if (d[0] >= (1u << 30) || d[1] >= (1u << 30)) {
        return 0;
    }
    *out = (int64_t)d[0] | ((int64_t)d[1] << 30);
    if (negative) {
        *out = -*out;
    }
    return SW_LOCAL_INT;
}

/* Reads the object at v into l (name already set). */
static void
read_value(sw_reader_t *r, uintptr_t v, sw_local_t *l)
{
    const sw_layout_t *L = r->L;
    char hdr[OBJ_HDR];
    uintptr_t type;
    intptr_t size;

    l->addr = v;
    l->kind = SW_LOCAL_UNREADABLE;
    if (v == L->obj_none) {
        l->kind = SW_LOCAL_NONE;
        return;
    }
    if (sw_vm_read(&r->vm, v, hdr, sizeof(hdr)) < 0) {
        /* A small object right before an unmapped page: its first words. */
        memset(hdr, 0, sizeof(hdr));
        if (sw_vm_read(&r->vm, v, hdr, 2 * sizeof(void *)) < 0) {
            return;
        }
    }
    type = word_at(hdr, L->ob_type);
    memcpy(&size, hdr + L->ob_size, sizeof(size));
    if (type == L->type_bool) {
        l->kind = SW_LOCAL_BOOL;
        l->ival = v == L->obj_true;
        if (v != L->obj_true && v != L->obj_false) {
            l->kind = SW_LOCAL_UNREADABLE;
        }
    }
    else if (type == L->type_long) {
        l->kind = read_int(L, hdr, &l->ival);
        if (l->kind == 0) {
            l->kind = SW_LOCAL_UNREADABLE; /* too big: its type below */
        }
    }
    else if (type == L->type_float) {
        memcpy(&l->fval, hdr + L->float_fval, sizeof(l->fval));
        l->kind = SW_LOCAL_FLOAT;
    }
    else if (type == L->type_unicode) {
        int64_t length;

        memcpy(&length, hdr + L->str_length, sizeof(length));
        if (length >= 0 && length < ((int64_t)1 << 40) &&
            sw_read_str(r, v, l->text,
                        length > SW_LOCAL_CHARS ? SW_LOCAL_CHARS + 1
                                                : sizeof(l->text)) == 0) {
            l->kind = SW_LOCAL_STR;
            l->len = length;
            l->text_len = strlen(l->text);
        }
    }
    else if (type == L->type_bytes) {
        size_t n = size > SW_LOCAL_CHARS ? SW_LOCAL_CHARS : (size_t)size;

        if (size >= 0 && size < ((intptr_t)1 << 40) &&
            sw_vm_read(&r->vm, v + L->bytes_sval, l->text, n) == 0) {
            l->kind = SW_LOCAL_BYTES;
            l->len = size;
            l->text_len = n;
        }
    }
    else if (type == L->type_list || type == L->type_tuple ||
             type == L->type_dict || type == L->type_set ||
             type == L->type_frozenset) {
        int64_t len = size;

        if (type == L->type_dict) {
            memcpy(&len, hdr + L->dict_used, sizeof(len));
        }
        else if (type == L->type_set || type == L->type_frozenset) {
            memcpy(&len, hdr + L->set_used, sizeof(len));
        }
        if (len >= 0 && len < ((int64_t)1 << 40)) {
            l->kind = SW_LOCAL_SIZED;
            l->len = len;
            strcpy(l->type, type == L->type_list    ? "list"
                            : type == L->type_tuple ? "tuple"
                            : type == L->type_dict  ? "dict"
                            : type == L->type_set   ? "set"
                                                    : "frozenset");
        }
    }
    if (l->kind == SW_LOCAL_UNREADABLE && type != 0) {
        /* Anything else, and a simple type that did not read back (an int
         * of more than two digits): its type and address. */
        l->kind = SW_LOCAL_OTHER;
        type_name(r, type, l->type, sizeof(l->type));
    }
}

int
sw_read_locals(sw_reader_t *r, uintptr_t frame, uintptr_t code,
               sw_local_t *out, int max)
{
    const sw_layout_t *L = r->L;
    char hdr[CODE_BUF], tup[OBJ_HDR];
    uintptr_t names_obj, names[SW_LOCALS_MAX], slots[SW_LOCALS_MAX];
    intptr_t nnames;
    int count, i, n = 0;

    if (L->co_size > sizeof(hdr) || L->tuple_items + 8 > sizeof(tup) ||
        L->co_localsnames == 0) {
        return SW_EINVAL;
    }
    if (sw_vm_read(&r->vm, code, hdr, L->co_size) < 0) {
        return SW_EFAULT;
    }
    if (word_at(hdr, L->ob_type) != L->type_code) {
        return SW_EINVAL;
    }
    names_obj = word_at(hdr, L->co_localsnames);
    memcpy(&count, hdr + L->co_nlocals, sizeof(count));
    if (sw_vm_read(&r->vm, names_obj, tup, sizeof(tup)) < 0) {
        return SW_EFAULT;
    }
    memcpy(&nnames, tup + L->ob_size, sizeof(nnames));
    if (word_at(tup, L->ob_type) != L->type_tuple || nnames < 0 ||
        nnames > MAX_NAMES || count < 0 || count > nnames) {
        return SW_EINVAL;
    }
    if (max > SW_LOCALS_MAX) {
        max = SW_LOCALS_MAX;
    }
    if (count > max) {
        count = max;
    }
    if (count == 0) {
        return 0;
    }
    if (sw_vm_read(&r->vm, names_obj + L->tuple_items, names,
                   (size_t)count * sizeof(names[0])) < 0 ||
        sw_vm_read(&r->vm,
                   frame + (L->frame_model == SW_FRAMES_INTERP
                                ? L->if_size
                                : L->fo_localsplus),
                   slots, (size_t)count * sizeof(slots[0])) < 0) {
        return SW_EFAULT;
    }
    for (i = 0; i < count; i++) {
        uintptr_t v = slots[i];
        sw_local_t *l = &out[n];

        if (L->locals_tagged) {
            if ((v & 3) == 3) {
                continue; /* a tagged int of the interpreter's own */
            }
            v &= ~(uintptr_t)3;
        }
        if (v == 0) {
            continue; /* unbound */
        }
        memset(l, 0, sizeof(*l));
        if (sw_read_str(r, names[i], l->name, sizeof(l->name)) < 0) {
            return n > 0 ? n : SW_EINVAL;
        }
        read_value(r, v, l);
        n++;
    }
    return n;
}
