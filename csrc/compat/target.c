/* Another process's interpreter, found from outside; see target.h.
 *
 * Everything read from the target's files and memory is checked before it
 * is used: ELF headers and tables against the file's size, symbol names
 * against their string table, and the memory through the safe read. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "compat/target.h"
#include "compat/vmread.h"

#define MAX_FILES 16 /* candidate files (the executable, libpython) */

static int memory_only; /* sw_target_test_memory_only() */

void
sw_target_test_memory_only(int on)
{
    memory_only = on;
}

const sw_layout_entry_t *
sw_layout_table_for(int minor)
{
    int i;

    for (i = 0; i < sw_layout_ntables; i++) {
        if (((sw_layout_tables[i].layout->version_hex >> 16) & 0xff) ==
            (uint32_t)minor) {
            return &sw_layout_tables[i];
        }
    }
    return NULL;
}

/* ---- /proc/PID/maps ----------------------------------------------------- */

typedef struct mapped_file {
    uintptr_t base; /* start of its mapping at file offset 0 */
    uintptr_t end;
    unsigned long dev_major, dev_minor, inode;
    char path[1024];
} mapped_file_t;

/* A file the interpreter may live in: python3.X or libpython3.X.so. */
static int
is_candidate(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return strncmp(base, "python", 6) == 0 ||
           strncmp(base, "libpython", 9) == 0;
}

/* The files of pid mapped at offset 0 that may hold the interpreter,
 * the executable first.  Returns how many, or SW_ESYS (errno). */
static int
mapped_files(int pid, mapped_file_t *out, int max)
{
    char path[64], line[1400], exe[1024];
    FILE *f;
    ssize_t n;
    int count = 0;

    snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    f = fopen(path, "re");
    if (f == NULL) {
        return SW_ESYS;
    }
    while (fgets(line, sizeof(line), f) != NULL && count < max) {
        unsigned long lo, hi, off, major, minor, inode;
        char perms[8];
        int pos = 0, i, dup = 0;
        char *file;

        if (sscanf(line, "%lx-%lx %7s %lx %lx:%lx %lu %n", &lo, &hi, perms,
                   &off, &major, &minor, &inode, &pos) < 7 ||
            pos == 0 || off != 0) {
            continue;
        }
        file = line + pos;
        file[strcspn(file, "\n")] = '\0';
        if (file[0] != '/' || (!is_candidate(file) && strcmp(file, exe))) {
            continue;
        }
        for (i = 0; i < count; i++) {
            dup |= strcmp(out[i].path, file) == 0;
        }
        if (dup) {
            continue;
        }
        out[count].base = lo;
        out[count].end = hi;
        out[count].dev_major = major;
        out[count].dev_minor = minor;
        out[count].inode = inode;
        snprintf(out[count].path, sizeof(out[count].path), "%s", file);
        if (strcmp(file, exe) == 0 && count > 0) {
            mapped_file_t tmp = out[0];

            out[0] = out[count];
            out[count] = tmp;
        }
        count++;
    }
    if (ferror(f)) {
        fclose(f);
        return SW_ESYS;
    }
    fclose(f);
    if (count == 0) {
        errno = ENOENT; /* gone between the open and the read */
    }
    return count;
}

/* ---- ELF symbols -------------------------------------------------------- */

/* The symbols stackwatch needs, in this order. */
static const char *const wanted[] = {
    "_PyRuntime",       "PyCode_Type",    "PyUnicode_Type", "PyBytes_Type",
    "PyFrame_Type",     "PyDict_Type",    "PyLong_Type",    "PyFloat_Type",
    "PyBool_Type",      "PyList_Type",    "PyTuple_Type",   "PySet_Type",
    "PyFrozenSet_Type", "_Py_NoneStruct", "_Py_TrueStruct", "_Py_FalseStruct",
    "Py_Version",
};
#define NWANTED (sizeof(wanted) / sizeof(wanted[0]))
#define SYM_RUNTIME 0
#define SYM_PY_VERSION 16

typedef struct elf_file {
    const unsigned char *data;
    size_t size;
    uintptr_t vaddr0; /* lowest PT_LOAD address, page aligned */
} elf_file_t;

/* A pointer to [off, off + len) of the file, or NULL if outside it. */
static const void *
at(const elf_file_t *e, uint64_t off, uint64_t len)
{
    if (off > e->size || len > e->size - off) {
        return NULL;
    }
    return e->data + off;
}

/* Checks the ELF header; finds the lowest loaded address.  Returns 0 or
 * -1. */
static int
elf_header(elf_file_t *e, const Elf64_Ehdr **eh)
{
    const Elf64_Ehdr *h = at(e, 0, sizeof(Elf64_Ehdr));
    uint64_t lowest = UINT64_MAX;
    int i;

    if (h == NULL || memcmp(h->e_ident, ELFMAG, SELFMAG) != 0 ||
        h->e_ident[EI_CLASS] != ELFCLASS64 ||
        h->e_ident[EI_DATA] != ELFDATA2LSB || h->e_machine != EM_X86_64 ||
        h->e_shentsize != sizeof(Elf64_Shdr) ||
        h->e_phentsize != sizeof(Elf64_Phdr)) {
        return -1;
    }
    for (i = 0; i < h->e_phnum; i++) {
        const Elf64_Phdr *ph =
            at(e, h->e_phoff + (uint64_t)i * sizeof(*ph), sizeof(*ph));

        if (ph == NULL) {
            return -1;
        }
        if (ph->p_type == PT_LOAD && ph->p_vaddr < lowest) {
            lowest = ph->p_vaddr;
        }
    }
    if (lowest == UINT64_MAX) {
        return -1;
    }
    e->vaddr0 = (uintptr_t)(lowest & ~(uint64_t)0xfff);
    *eh = h;
    return 0;
}

/* Looks the wanted symbols up in the symbol tables of type `type`
 * (SHT_DYNSYM, SHT_SYMTAB), filling the values still 0. */
static void
elf_lookup(const elf_file_t *e, const Elf64_Ehdr *h, uint32_t type,
           uint64_t *values)
{
    int i;

    for (i = 0; i < h->e_shnum; i++) {
        const Elf64_Shdr *sh =
            at(e, h->e_shoff + (uint64_t)i * sizeof(*sh), sizeof(*sh));
        const Elf64_Shdr *strs;
        const char *names;
        uint64_t k, count;

        if (sh == NULL || sh->sh_type != type ||
            sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_link >= h->e_shnum) {
            continue;
        }
        strs = at(e, h->e_shoff + (uint64_t)sh->sh_link * sizeof(*strs),
                  sizeof(*strs));
        if (strs == NULL || at(e, sh->sh_offset, sh->sh_size) == NULL ||
            (names = at(e, strs->sh_offset, strs->sh_size)) == NULL) {
            continue;
        }
        count = sh->sh_size / sizeof(Elf64_Sym);
        for (k = 1; k < count; k++) {
            const Elf64_Sym *s =
                (const Elf64_Sym *)(const void *)(e->data + sh->sh_offset +
                                                  k * sizeof(Elf64_Sym));
            const char *name;
            size_t j, room;

            if (s->st_shndx == SHN_UNDEF || s->st_value == 0 ||
                s->st_name >= strs->sh_size ||
                ELF64_ST_TYPE(s->st_info) != STT_OBJECT) {
                continue;
            }
            name = names + s->st_name;
            room = strs->sh_size - s->st_name;
            for (j = 0; j < NWANTED; j++) {
                size_t len = strlen(wanted[j]);

                if (values[j] == 0 && room > len &&
                    memcmp(name, wanted[j], len + 1) == 0) {
                    values[j] = s->st_value;
                }
            }
        }
    }
}

/* Opens the file of mapping m: maps names it as this process sees it,
 * which for a target in another root (a chroot, a container) may be
 * another file or none; so the path as named, then under the target's
 * root, then the mapping itself, each taken only if it is the mapped
 * file (device and inode).  Returns the fd (with *st) or -1 (errno). */
static int
open_mapped(int pid, const mapped_file_t *m, struct stat *st)
{
    char path[1200];
    int i, fd, err = ENOENT;

    for (i = 0; i < 3; i++) {
        if (i == 0) {
            snprintf(path, sizeof(path), "%s", m->path);
        }
        else if (i == 1) {
            snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
        }
        else {
            snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", pid,
                     (unsigned long)m->base, (unsigned long)m->end);
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) {
                err = errno;
            }
            continue;
        }
        if (fstat(fd, st) == 0 && st->st_ino == m->inode &&
            major(st->st_dev) == m->dev_major &&
            minor(st->st_dev) == m->dev_minor) {
            return fd;
        }
        close(fd);
    }
    errno = err;
    return -1;
}

/* The wanted symbols of file `path` (as pid sees it), as addresses in pid
 * given the file's mapping at `base`.  Returns 0 if _PyRuntime is among
 * them, 1 if not (not the interpreter's file), SW_ESYS (errno). */
static int
file_symbols(int pid, const mapped_file_t *m, uintptr_t *addrs)
{
    struct stat st;
    elf_file_t e;
    const Elf64_Ehdr *h;
    uint64_t values[NWANTED] = {0};
    void *map;
    size_t j;
    int fd, rc = 1;

    fd = open_mapped(pid, m, &st);
    if (fd < 0) {
        return SW_ESYS;
    }
    if (st.st_size <= 0) {
        close(fd);
        return 1;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return SW_ESYS;
    }
    e.data = map;
    e.size = (size_t)st.st_size;
    if (elf_header(&e, &h) == 0) {
        elf_lookup(&e, h, SHT_DYNSYM, values);
        elf_lookup(&e, h, SHT_SYMTAB, values);
        if (values[SYM_RUNTIME] != 0) {
            for (j = 0; j < NWANTED; j++) {
                addrs[j] =
                    values[j] ? (uintptr_t)values[j] - e.vaddr0 + m->base : 0;
            }
            rc = 0;
        }
    }
    munmap(map, e.size);
    return rc;
}

/* The wanted symbols of mapping m from the target's memory, where its
 * file cannot be opened (a directory this user may not enter): the
 * dynamic symbol table the loader mapped (.dynsym, which holds every
 * symbol CPython exports), found through the ELF and program headers at
 * the mapping's start and its PT_DYNAMIC.  The loader has relocated the
 * table addresses in the dynamic section of a shared object, not always
 * those of an executable: an address below the mapping gets the bias.
 * Returns 0 if _PyRuntime is among them, 1 if not, SW_EFAULT if the
 * memory could not be read (errno from the read). */
#define MEM_MAX_DYN 512
#define MEM_MAX_SYMS (1u << 18)
#define MEM_MAX_STR (8u << 20)
#define MEM_SYM_BATCH 1024

static int
mem_symbols(sw_vm_t *vm, const mapped_file_t *m, uintptr_t *addrs)
{
    Elf64_Ehdr h;
    Elf64_Phdr ph[64];
    Elf64_Dyn *dyn = NULL;
    Elf64_Sym *syms = NULL;
    char *strs = NULL;
    uint64_t lowest = UINT64_MAX, dyn_addr = 0, dyn_size = 0;
    uint64_t symtab = 0, strtab = 0, strsz = 0, nsyms, k, values[NWANTED];
    uintptr_t bias;
    size_t i, j, ndyn;
    int rc = 1;

    memset(values, 0, sizeof(values));
    if (sw_vm_read(vm, m->base, &h, sizeof(h)) < 0) {
        return SW_EFAULT;
    }
    if (memcmp(h.e_ident, ELFMAG, SELFMAG) != 0 ||
        h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_machine != EM_X86_64 ||
        h.e_phentsize != sizeof(Elf64_Phdr) || h.e_phnum == 0 ||
        h.e_phnum > 64 || h.e_phoff > m->end - m->base ||
        sw_vm_read(vm, m->base + h.e_phoff, ph, h.e_phnum * sizeof(ph[0])) <
            0) {
        return 1;
    }
    for (i = 0; i < h.e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < lowest) {
            lowest = ph[i].p_vaddr;
        }
        if (ph[i].p_type == PT_DYNAMIC) {
            dyn_addr = ph[i].p_vaddr;
            dyn_size = ph[i].p_memsz;
        }
    }
    if (lowest == UINT64_MAX || dyn_size == 0) {
        return 1;
    }
    bias = m->base - (uintptr_t)(lowest & ~(uint64_t)0xfff);
    ndyn = (size_t)(dyn_size / sizeof(Elf64_Dyn));
    if (ndyn > MEM_MAX_DYN) {
        ndyn = MEM_MAX_DYN;
    }
    dyn = malloc(ndyn * sizeof(*dyn));
    if (dyn == NULL ||
        sw_vm_read(vm, bias + dyn_addr, dyn, ndyn * sizeof(*dyn)) < 0) {
        free(dyn);
        return 1;
    }
    for (i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
        uint64_t v = dyn[i].d_un.d_ptr;

        if (dyn[i].d_tag == DT_SYMTAB) {
            symtab = v < m->base ? v + bias : v;
        }
        else if (dyn[i].d_tag == DT_STRTAB) {
            strtab = v < m->base ? v + bias : v;
        }
        else if (dyn[i].d_tag == DT_STRSZ) {
            strsz = v;
        }
    }
    free(dyn);
    /* The linkers put .dynstr right after .dynsym: the symbols are what
     * lies between. */
    if (symtab == 0 || strtab <= symtab || strsz == 0 || strsz > MEM_MAX_STR) {
        return 1;
    }
    nsyms = (strtab - symtab) / sizeof(Elf64_Sym);
    if (nsyms > MEM_MAX_SYMS) {
        nsyms = MEM_MAX_SYMS;
    }
    strs = malloc(strsz + 1);
    syms = malloc(MEM_SYM_BATCH * sizeof(*syms));
    if (strs == NULL || syms == NULL ||
        sw_vm_read(vm, strtab, strs, strsz) < 0) {
        goto done;
    }
    strs[strsz] = '\0';
    for (k = 0; k < nsyms; k += MEM_SYM_BATCH) {
        size_t n =
            nsyms - k < MEM_SYM_BATCH ? (size_t)(nsyms - k) : MEM_SYM_BATCH;

        if (sw_vm_read(vm, symtab + k * sizeof(Elf64_Sym), syms,
                       n * sizeof(*syms)) < 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            const Elf64_Sym *sy = &syms[i];

            if (sy->st_shndx == SHN_UNDEF || sy->st_value == 0 ||
                sy->st_name >= strsz ||
                ELF64_ST_TYPE(sy->st_info) != STT_OBJECT) {
                continue;
            }
            for (j = 0; j < NWANTED; j++) {
                if (values[j] == 0 &&
                    strcmp(strs + sy->st_name, wanted[j]) == 0) {
                    values[j] = sy->st_value;
                }
            }
        }
    }
    if (values[SYM_RUNTIME] != 0) {
        for (j = 0; j < NWANTED; j++) {
            addrs[j] = values[j] ? (uintptr_t)values[j] + bias : 0;
        }
        rc = 0;
    }
done:
    free(strs);
    free(syms);
    return rc;
}

/* ---- the version and the table ------------------------------------------ */

/* The minor version in a file name: python3.X or libpython3.X..., or -1. */
static int
minor_from_name(const char *path)
{
    const char *base = strrchr(path, '/');
    int minor = -1;

    base = base ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0) {
        base += 3;
    }
    if (sscanf(base, "python3.%d", &minor) != 1) {
        return -1;
    }
    return minor;
}

/* Reads a NUL-terminated C string of at most cap - 1 bytes at addr. */
static int
read_cstr(sw_vm_t *vm, uintptr_t addr, char *out, size_t cap)
{
    size_t n;

    /* Strings may end just before an unmapped page: read byte-wise past
     * a failed block read. */
    if (sw_vm_read(vm, addr, out, cap - 1) < 0) {
        for (n = 0; n < cap - 1; n++) {
            if (sw_vm_read(vm, addr + n, out + n, 1) < 0) {
                return -1;
            }
            if (out[n] == '\0') {
                break;
            }
        }
    }
    out[cap - 1] = '\0';
    return 0;
}

/* The target's version: fills t->version, t->version_from, *minor.
 * Returns 0, or SW_EFAULT (errno from the read) / SW_EINVAL (err). */
static int
find_version(sw_target_t *t, sw_vm_t *vm, const uintptr_t *addrs, int *minor,
             char *err, size_t errlen)
{
    struct {
        char cookie[8];
        uint64_t version;
    } dbg;
    uint64_t hex = 0;

    if (sw_vm_read(vm, addrs[SYM_RUNTIME], &dbg, sizeof(dbg)) < 0) {
        return SW_EFAULT;
    }
    if (memcmp(dbg.cookie, "xdebugpy", 8) == 0) {
        hex = dbg.version;
        t->version_from = SW_VERSION_FROM_DEBUG_OFFSETS;
    }
    else if (addrs[SYM_PY_VERSION] != 0) {
        uint64_t v = 0;

        if (sw_vm_read(vm, addrs[SYM_PY_VERSION], &v, sizeof(v)) < 0) {
            return SW_EFAULT;
        }
        hex = v;
        t->version_from = SW_VERSION_FROM_PY_VERSION;
    }
    if (hex != 0) {
        if ((hex >> 24) != 3) {
            snprintf(err, errlen, "its CPython reports version 0x%llx",
                     (unsigned long long)hex);
            return SW_EINVAL;
        }
        *minor = (int)((hex >> 16) & 0xff);
        snprintf(t->version, sizeof(t->version), "3.%d.%d", *minor,
                 (int)((hex >> 8) & 0xff));
        return 0;
    }
    *minor = minor_from_name(t->binary);
    if (*minor < 0) {
        snprintf(err, errlen,
                 "its CPython version is unknown (%s has no Py_Version and "
                 "no version in its name)",
                 t->binary);
        return SW_EINVAL;
    }
    snprintf(t->version, sizeof(t->version), "3.%d", *minor);
    t->version_from = SW_VERSION_FROM_NAME;
    return 0;
}

/* The table with the target's addresses put in. */
static void
relocate(sw_layout_t *L, const uintptr_t *addrs)
{
    L->runtime = addrs[0];
    L->type_code = addrs[1];
    L->type_unicode = addrs[2];
    L->type_bytes = addrs[3];
    L->type_frame = addrs[4];
    L->type_dict = addrs[5];
    L->type_long = addrs[6];
    L->type_float = addrs[7];
    L->type_bool = addrs[8];
    L->type_list = addrs[9];
    L->type_tuple = addrs[10];
    L->type_set = addrs[11];
    L->type_frozenset = addrs[12];
    L->obj_none = addrs[13];
    L->obj_true = addrs[14];
    L->obj_false = addrs[15];
    if (L->gil_place == SW_GIL_RUNTIME) {
        L->gil_runtime += L->runtime; /* relative in the table */
    }
}

/* 3.13+: the target's _Py_DebugOffsets against the table.  Returns 0,
 * SW_EFAULT or SW_EINVAL (err). */
static int
check_debug(const sw_layout_entry_t *entry, const sw_layout_t *L, sw_vm_t *vm,
            char *err, size_t errlen)
{
    unsigned char buf[4096];
    uint64_t v, minus, ft;
    int i;

    if (L->dbg_size == 0) {
        return 0;
    }
    if (L->dbg_size > sizeof(buf) || L->dbg_version != 8) {
        snprintf(err, errlen, "stackwatch's table for %s is inconsistent",
                 L->version);
        return SW_EINVAL;
    }
    if (sw_vm_read(vm, L->runtime, buf, L->dbg_size) < 0) {
        return SW_EFAULT;
    }
    memcpy(&ft, buf + L->dbg_free_threaded, sizeof(ft));
    if (ft) {
        snprintf(err, errlen,
                 "it is a free-threaded build, which stackwatch "
                 "does not read yet");
        return SW_EINVAL;
    }
    for (i = 0; i < entry->nchecks; i++) {
        const sw_debug_check_t *c = &entry->checks[i];

        if ((size_t)c->at + 8 > L->dbg_size ||
            (size_t)c->minus + 8 > L->dbg_size) {
            continue;
        }
        memcpy(&v, buf + c->at, sizeof(v));
        minus = 0;
        if (c->minus) {
            memcpy(&minus, buf + c->minus, sizeof(minus));
        }
        if (v - minus != c->value) {
            snprintf(err, errlen,
                     "its _Py_DebugOffsets disagree with stackwatch's table "
                     "for CPython %s (%s is %llu, expected %llu)",
                     L->version, c->what, (unsigned long long)(v - minus),
                     (unsigned long long)c->value);
            return SW_EINVAL;
        }
    }
    return 0;
}

/* The type objects must be the ones named: tp_name "code" and "str". */
static int
check_types(const sw_layout_t *L, sw_vm_t *vm, char *err, size_t errlen)
{
    const struct {
        uintptr_t type;
        const char *name;
    } want[] = {{L->type_code, "code"},
                {L->type_unicode, "str"},
                {L->type_frame, "frame"},
                {L->type_dict, "dict"}};
    char name[16];
    uintptr_t p;
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (want[i].type == 0 ||
            sw_vm_read_ptr(vm, want[i].type + L->type_tp_name, &p) < 0 ||
            read_cstr(vm, p, name, sizeof(name)) < 0) {
            return SW_EFAULT;
        }
        if (strcmp(name, want[i].name) != 0) {
            snprintf(err, errlen,
                     "its type objects do not read back as CPython %s's "
                     "(%s is named \"%.15s\")",
                     L->version, want[i].name, name);
            return SW_EINVAL;
        }
    }
    return 0;
}

int
sw_target_open(sw_target_t *t, int pid, char *err, size_t errlen)
{
    mapped_file_t *files = calloc(MAX_FILES, sizeof(*files));
    uintptr_t addrs[NWANTED] = {0};
    const sw_layout_entry_t *entry;
    sw_vm_t vm;
    int n, i, rc, minor = -1, saved;

    memset(t, 0, sizeof(*t));
    t->pid = pid;
    err[0] = '\0';
    if (files == NULL) {
        errno = ENOMEM;
        return SW_ESYS;
    }
    n = mapped_files(pid, files, MAX_FILES);
    if (n <= 0) {
        saved = errno;
        free(files);
        errno = saved;
        return SW_ESYS;
    }
    if (sw_vm_open_pid(&vm, pid) < 0) {
        free(files);
        errno = ESRCH;
        return SW_ESYS;
    }
    rc = 1;
    for (i = 0; i < n && rc == 1; i++) {
        if (memory_only) {
            rc = SW_ESYS;
            errno = EACCES;
        }
        else {
            rc = file_symbols(pid, &files[i], addrs);
        }
        if (rc == SW_ESYS && errno != ESRCH) {
            /* A file this user may not open: what the loader mapped of
             * it tells the exported symbols just as well. */
            rc = mem_symbols(&vm, &files[i], addrs);
            if (rc == SW_EFAULT) {
                rc = SW_ESYS; /* errno of the read: EPERM, ESRCH */
            }
        }
        if (rc == 0) {
            snprintf(t->binary, sizeof(t->binary), "%s", files[i].path);
        }
        if (rc < 0) {
            saved = errno;
            free(files);
            errno = saved;
            return rc;
        }
    }
    free(files);
    if (rc != 0) {
        snprintf(err, errlen,
                 "no CPython interpreter found in it (no _PyRuntime symbol "
                 "in its executable or a libpython it maps)");
        return SW_EINVAL;
    }
    rc = find_version(t, &vm, addrs, &minor, err, errlen);
    if (rc == SW_EFAULT) {
        return SW_ESYS; /* errno from process_vm_readv: EPERM, ESRCH */
    }
    if (rc < 0) {
        return rc;
    }
    entry = sw_layout_table_for(minor);
    if (entry == NULL) {
        snprintf(err, errlen,
                 "it runs CPython %s, which stackwatch does not support",
                 t->version);
        return SW_EINVAL;
    }
    t->layout = *entry->layout;
    relocate(&t->layout, addrs);
    snprintf(t->layout.version, sizeof(t->layout.version), "%s", t->version);
    rc = check_debug(entry, &t->layout, &vm, err, errlen);
    if (rc == 0) {
        rc = check_types(&t->layout, &vm, err, errlen);
    }
    if (rc == SW_EFAULT) {
        snprintf(err, errlen,
                 "its interpreter's memory could not be read at the "
                 "addresses its symbols give");
        return SW_EINVAL;
    }
    return rc;
}
