/* The memory profiler's `c` columns: GOT patching.
 *
 * How.  An object that calls malloc (an extension module, a library it
 * uses: libsqlite3, libcrypto...) calls it through its global offset
 * table: a JUMP_SLOT relocation (the PLT's entry) or a GLOB_DAT one
 * (-fno-plt calls, and code that takes malloc's address).  Enabling the
 * `c` profile walks every loaded object (dl_iterate_phdr), reads its
 * PT_DYNAMIC relocation tables (DT_JMPREL and DT_RELA), and writes the
 * address of one of our hooks into each entry of an undefined symbol we
 * watch, keeping the previous value; entries inside PT_GNU_RELRO (made
 * read-only by the loader after relocation) are made writable for the
 * write and read-only again.  The hooks call the C library's function
 * (resolved from this object, whose own GOT is never patched) through
 * memtrack.h's bodies with kind SW_MEM_C.  Memray does the same job the
 * same way (its "elf_shenanigans"); this is our own code.
 *
 * What is not patched: the C library (its internal calls are its own
 * business and never go through a GOT), the dynamic loader, the vDSO,
 * stackwatch itself (the hooks and memtrack call malloc), and symbols
 * an object defines itself (an allocator linked into it).
 *
 * Counted twice?  Python's allocators (pymalloc's arenas, PyMem_Raw*)
 * call malloc and mmap through the interpreter's GOT, patched like any
 * other; but they run inside memprof_py's PyMem hooks, which are always
 * installed with the `c` ones, and memtrack's per-thread depth makes a
 * hook called inside another pass through.  So the `c` columns count
 * what bypasses Python's allocators only.
 *
 * dlopen.  Objects loaded after enable() are patched when a patched
 * dlopen returns (Python's imports and ctypes go through one).  The call
 * is made from this object, so a bare library name is searched with our
 * RUNPATH rather than the caller's (names with a '/' are unaffected).
 *
 * Restoring.  disable() walks the loaded objects again and writes the
 * saved value back into every entry that still holds a hook; entries of
 * objects unloaded meanwhile are never touched (they are not walked).
 *
 * Threads.  Patching and restoring run under `mu` (enable/disable hold
 * the GIL; a patched dlopen can run in any thread).  Other threads may
 * call through an entry while it is written: an aligned 8-byte store,
 * they see the old function or the hook, both valid.  Lock order: mu,
 * then the loader's lock (inside dl_iterate_phdr).  Fork: the child
 * resets mu; memprof_py's child handler restores the entries. */
#include "memgot.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtrack.h"

/* ---- the hooks ------------------------------------------------------------
 * Each calls the C library's function through an adapter of memtrack's
 * shapes (sw_malloc_fn...), its extra arguments in ctx. */

static void *
c_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void *
c_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return calloc(nelem, elsize);
}

static void *
c_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n);
}

static void
c_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void *
hk_malloc(size_t n)
{
    return sw_mem_malloc(c_malloc, NULL, n, SW_MEM_C);
}

static void *
hk_calloc(size_t nelem, size_t elsize)
{
    return sw_mem_calloc(c_calloc, NULL, nelem, elsize, SW_MEM_C);
}

static void *
hk_realloc(void *p, size_t n)
{
    if (p != NULL && n == 0) {
        /* glibc frees the block and returns NULL: a free, not a failed
         * realloc (which leaves the block where it was). */
        sw_mem_free(c_free, NULL, p);
        return NULL;
    }
    return sw_mem_realloc(c_realloc, NULL, p, n, SW_MEM_C);
}

static void *
hk_reallocarray(void *p, size_t nelem, size_t elsize)
{
    size_t n;

    if (__builtin_mul_overflow(nelem, elsize, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return hk_realloc(p, n);
}

static void
hk_free(void *p)
{
    sw_mem_free(c_free, NULL, p);
}

/* Aligned allocations: which function, its alignment, its result. */
enum { AL_POSIX, AL_ALIGNED, AL_MEMALIGN, AL_VALLOC };

typedef struct aligned {
    int how;
    size_t align;
    int rc; /* posix_memalign's */
} aligned_t;

static void *
c_aligned(void *ctx, size_t n)
{
    aligned_t *a = ctx;
    void *p = NULL;

    switch (a->how) {
    case AL_POSIX:
        a->rc = posix_memalign(&p, a->align, n);
        return a->rc == 0 ? p : NULL;
    case AL_ALIGNED:
        return aligned_alloc(a->align, n);
    case AL_MEMALIGN:
        return memalign(a->align, n);
    default:
        return valloc(n);
    }
}

static int
hk_posix_memalign(void **out, size_t align, size_t n)
{
    aligned_t a = {AL_POSIX, align, 0};
    void *p = sw_mem_malloc(c_aligned, &a, n, SW_MEM_C);

    if (a.rc == 0) {
        *out = p;
    }
    return a.rc;
}

static void *
hk_aligned_alloc(size_t align, size_t n)
{
    aligned_t a = {AL_ALIGNED, align, 0};

    return sw_mem_malloc(c_aligned, &a, n, SW_MEM_C);
}

static void *
hk_memalign(size_t align, size_t n)
{
    aligned_t a = {AL_MEMALIGN, align, 0};

    return sw_mem_malloc(c_aligned, &a, n, SW_MEM_C);
}

static void *
hk_valloc(size_t n)
{
    aligned_t a = {AL_VALLOC, 0, 0};

    return sw_mem_malloc(c_aligned, &a, n, SW_MEM_C);
}

typedef struct mapping {
    void *addr;
    int prot, flags, fd;
    off_t off;
    int rc; /* munmap's */
} mapping_t;

static void *
c_mmap(void *ctx, size_t n)
{
    mapping_t *m = ctx;
    void *p = mmap(m->addr, n, m->prot, m->flags, m->fd, m->off);

    return p == MAP_FAILED ? NULL : p;
}

/* Anonymous mappings only (a file's mapping is not memory taken), and
 * not MAP_FIXED ones (they replace pages that may be counted already). */
static void *
hk_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off)
{
    mapping_t m = {addr, prot, flags, fd, off, 0};
    void *p;

    if (!(flags & MAP_ANONYMOUS) || (flags & MAP_FIXED)) {
        return mmap(addr, n, prot, flags, fd, off);
    }
    p = sw_mem_malloc(c_mmap, &m, n, SW_MEM_C);
    return p == NULL ? MAP_FAILED : p;
}

static void
c_munmap(void *ctx, void *p)
{
    mapping_t *m = ctx;

    m->rc = munmap(p, (size_t)m->off);
}

/* An unmapping that starts at a counted mapping frees all of it (the
 * side table knows blocks by their start); one that starts elsewhere is
 * not counted. */
static int
hk_munmap(void *addr, size_t n)
{
    mapping_t m = {NULL, 0, 0, -1, (off_t)n, 0};

    if (addr == NULL) {
        return munmap(addr, n);
    }
    sw_mem_free(c_munmap, &m, addr);
    return m.rc;
}

static void rescan(void);

static void *
hk_dlopen(const char *file, int flags)
{
    void *h = dlopen(file, flags);

    if (h != NULL) {
        rescan();
    }
    return h;
}

typedef struct hook {
    const char *name;
    void *hook;
    void *real; /* what an entry gets back when its saved value is lost */
} hook_t;

static hook_t hooks[] = {
    {"malloc", (void *)hk_malloc, (void *)malloc},
    {"calloc", (void *)hk_calloc, (void *)calloc},
    {"realloc", (void *)hk_realloc, (void *)realloc},
    {"reallocarray", (void *)hk_reallocarray, (void *)reallocarray},
    {"free", (void *)hk_free, (void *)free},
    {"posix_memalign", (void *)hk_posix_memalign, (void *)posix_memalign},
    {"aligned_alloc", (void *)hk_aligned_alloc, (void *)aligned_alloc},
    {"memalign", (void *)hk_memalign, (void *)memalign},
    {"valloc", (void *)hk_valloc, (void *)valloc},
    {"mmap", (void *)hk_mmap, (void *)mmap},
    {"mmap64", (void *)hk_mmap, (void *)mmap},
    {"munmap", (void *)hk_munmap, (void *)munmap},
    {"dlopen", (void *)hk_dlopen, (void *)dlopen},
};
#define NHOOKS (sizeof hooks / sizeof hooks[0])

static const hook_t *
hook_named(const char *name)
{
    size_t i;

    /* Every watched name starts with one of these letters. */
    if (strchr("mcrfpavd", name[0]) == NULL) {
        return NULL;
    }
    for (i = 0; i < NHOOKS; i++) {
        if (strcmp(hooks[i].name, name) == 0) {
            return &hooks[i];
        }
    }
    return NULL;
}

static int
is_hook(uintptr_t v)
{
    size_t i;

    for (i = 0; i < NHOOKS; i++) {
        if ((uintptr_t)hooks[i].hook == v) {
            return 1;
        }
    }
    return 0;
}

/* ---- the saved entries ------------------------------------------------- */

#define MAX_SAVED 16384

typedef struct saved {
    uintptr_t slot; /* the entry's address */
    uintptr_t orig; /* its value before the hook */
} saved_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static saved_t saved[MAX_SAVED]; /* under mu */
static size_t nsaved;            /* under mu */
static _Atomic int installed;
static _Atomic uint64_t st_objects, st_slots, st_failed, st_foreign;
static uintptr_t self_base; /* our own object's load address */
/* The first C library's mapped range (the base namespace's), found at
 * each walk; under mu. */
static uintptr_t libc_lo, libc_hi;

/* ---- walking the objects ----------------------------------------------- */

enum { PATCH, RESTORE };

typedef struct walk {
    int mode;
    int patched; /* entries written by this walk */
    long page;
} walk_t;

/* A d_ptr of the dynamic section: the loader relocated it in place
 * when the section is writable (x86-64's usual case), not otherwise. */
static uintptr_t
dyn_addr(uintptr_t base, uintptr_t v)
{
    return v < base ? base + v : v;
}

static int
is_libc(const char *name)
{
    const char *b = strrchr(name, '/');

    b = b ? b + 1 : name;
    return strncmp(b, "libc.so", 7) == 0 || strncmp(b, "libc-", 5) == 0;
}

static int
skipped(const struct dl_phdr_info *info)
{
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *b = strrchr(name, '/');

    b = b ? b + 1 : name;
    if (info->dlpi_addr == self_base && self_base != 0) {
        return 1;
    }
    return is_libc(name) || strncmp(b, "ld-linux", 8) == 0 ||
           strncmp(b, "ld64.so", 7) == 0 ||
           strncmp(b, "linux-vdso", 10) == 0 ||
           strncmp(b, "linux-gate", 10) == 0;
}

/* Writes v into the entry at slot; relro: [lo, hi) is the object's
 * read-only-after-relocation range (whole pages).  Returns 0 or -1. */
static int
write_entry(uintptr_t slot, uintptr_t v, uintptr_t lo, uintptr_t hi, long page)
{
    _Atomic uintptr_t *e = (_Atomic uintptr_t *)slot;

    if (slot >= lo && slot < hi) {
        void *pg = (void *)(slot & ~((uintptr_t)page - 1));

        if (mprotect(pg, (size_t)page, PROT_READ | PROT_WRITE) != 0) {
            return -1;
        }
        atomic_store_explicit(e, v, memory_order_release);
        (void)mprotect(pg, (size_t)page, PROT_READ);
        return 0;
    }
    atomic_store_explicit(e, v, memory_order_release);
    return 0;
}

static uintptr_t
saved_value(uintptr_t slot, const hook_t *h)
{
    size_t i;

    for (i = nsaved; i-- > 0;) {
        if (saved[i].slot == slot) {
            return saved[i].orig;
        }
    }
    return (uintptr_t)h->real;
}

/* One relocation table: patch (or restore) the watched entries. */
static int
do_relocs(walk_t *w, uintptr_t base, const ElfW(Rela) * r, size_t n,
          const ElfW(Sym) * syms, const char *strtab, uintptr_t lo,
          uintptr_t hi, uintptr_t olo, uintptr_t ohi)
{
    size_t i;
    int touched = 0;

    for (i = 0; i < n; i++) {
        unsigned long type = ELF64_R_TYPE(r[i].r_info);
        const ElfW(Sym) * sym;
        const hook_t *h;
        uintptr_t slot, cur;

        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) {
            continue;
        }
        sym = &syms[ELF64_R_SYM(r[i].r_info)];
        if (sym->st_name == 0 || sym->st_shndx != SHN_UNDEF) {
            continue;
        }
        h = hook_named(strtab + sym->st_name);
        if (h == NULL) {
            continue;
        }
        slot = base + r[i].r_offset;
        cur = atomic_load_explicit((_Atomic uintptr_t *)slot,
                                   memory_order_relaxed);
        if (w->mode == PATCH) {
            if (is_hook(cur)) {
                continue;
            }
            if (cur != (uintptr_t)h->real && !(cur >= olo && cur < ohi) &&
                !(cur >= libc_lo && cur < libc_hi)) {
                /* Bound to another definition than the one the hooks
                 * call (an allocator of its own through RTLD_DEEPBIND,
                 * another namespace's C library, another tool's hook):
                 * left alone, since blocks of one allocator must not be
                 * freed by another.  An entry that points into its own
                 * object is a lazy binding's PLT stub, not bound yet;
                 * one into the C library is the function itself, when
                 * h->real is not (a non-PIE executable that takes
                 * malloc's address makes its own PLT entry the address
                 * of malloc everywhere, GLOB_DAT entries included, while
                 * JUMP_SLOT entries still bind to the C library). */
                atomic_fetch_add(&st_foreign, 1);
                continue;
            }
            if (nsaved == MAX_SAVED ||
                write_entry(slot, (uintptr_t)h->hook, lo, hi, w->page) < 0) {
                atomic_fetch_add(&st_failed, 1);
                continue;
            }
            saved[nsaved].slot = slot;
            saved[nsaved].orig = cur;
            nsaved++;
            atomic_fetch_add(&st_slots, 1);
            w->patched++;
            touched = 1;
        }
        else if (cur == (uintptr_t)h->hook) {
            if (write_entry(slot, saved_value(slot, h), lo, hi, w->page) ==
                0) {
                atomic_fetch_sub(&st_slots, 1);
                touched = 1;
            }
        }
    }
    return touched;
}

static int
visit(struct dl_phdr_info *info, size_t size, void *data)
{
    walk_t *w = data;
    uintptr_t base = info->dlpi_addr, lo = 0, hi = 0, olo = 0, ohi = 0;
    const ElfW(Dyn) *dyn = NULL;
    const ElfW(Sym) *syms = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmpsz = 0, relasz = 0, relaent = sizeof(ElfW(Rela));
    long pltrel = DT_RELA;
    int i, touched = 0;
    (void)size;

    if (skipped(info)) {
        return 0;
    }
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type == PT_LOAD) {
            uintptr_t a = base + ph->p_vaddr, e = a + ph->p_memsz;

            olo = (olo == 0 || a < olo) ? a : olo;
            ohi = e > ohi ? e : ohi;
        }
        else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        }
        else if (ph->p_type == PT_GNU_RELRO) {
            /* The loader protects whole pages only: the start rounded
             * down, the end rounded down too. */
            lo = (base + ph->p_vaddr) & ~((uintptr_t)w->page - 1);
            hi =
                (base + ph->p_vaddr + ph->p_memsz) & ~((uintptr_t)w->page - 1);
        }
    }
    if (dyn == NULL) {
        return 0;
    }
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            syms = (const ElfW(Sym) *)dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_JMPREL:
            jmprel = (const ElfW(Rela) *)dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            jmpsz = dyn->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (long)dyn->d_un.d_val;
            break;
        case DT_RELA:
            rela = (const ElfW(Rela) *)dyn_addr(base, dyn->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relasz = dyn->d_un.d_val;
            break;
        case DT_RELAENT:
            relaent = dyn->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (syms == NULL || strtab == NULL || relaent != sizeof(ElfW(Rela))) {
        return 0;
    }
    if (jmprel != NULL && pltrel == DT_RELA) {
        touched |= do_relocs(w, base, jmprel, jmpsz / sizeof(ElfW(Rela)), syms,
                             strtab, lo, hi, olo, ohi);
    }
    if (rela != NULL) {
        touched |= do_relocs(w, base, rela, relasz / sizeof(ElfW(Rela)), syms,
                             strtab, lo, hi, olo, ohi);
    }
    if (touched && w->mode == PATCH) {
        atomic_fetch_add(&st_objects, 1);
    }
    return 0;
}

static int
find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
    int i;
    (void)size;
    (void)data;

    if (info->dlpi_name == NULL || !is_libc(info->dlpi_name)) {
        return 0;
    }
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type == PT_LOAD) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr, e = a + ph->p_memsz;

            libc_lo = (libc_lo == 0 || a < libc_lo) ? a : libc_lo;
            libc_hi = e > libc_hi ? e : libc_hi;
        }
    }
    return 1; /* the first one only */
}

static int
walk_all(int mode)
{
    walk_t w = {mode, 0, sysconf(_SC_PAGESIZE)};

    if (self_base == 0) {
        Dl_info di;

        if (dladdr((void *)hk_malloc, &di) != 0) {
            self_base = (uintptr_t)di.dli_fbase;
        }
    }
    libc_lo = libc_hi = 0;
    dl_iterate_phdr(find_libc, NULL);
    dl_iterate_phdr(visit, &w);
    return w.patched;
}

static void
rescan(void)
{
    if (!atomic_load_explicit(&installed, memory_order_acquire)) {
        return;
    }
    pthread_mutex_lock(&mu);
    if (atomic_load_explicit(&installed, memory_order_relaxed)) {
        walk_all(PATCH);
    }
    pthread_mutex_unlock(&mu);
}

int
sw_memgot_install(void)
{
    int n;

    pthread_mutex_lock(&mu);
    atomic_store(&installed, 1);
    n = walk_all(PATCH);
    pthread_mutex_unlock(&mu);
    return n;
}

void
sw_memgot_uninstall(void)
{
    pthread_mutex_lock(&mu);
    if (atomic_load(&installed)) {
        atomic_store(&installed, 0);
        walk_all(RESTORE);
        nsaved = 0;
        atomic_store(&st_objects, 0);
    }
    pthread_mutex_unlock(&mu);
}

int
sw_memgot_installed(void)
{
    return atomic_load(&installed);
}

void
sw_memgot_get_stats(sw_memgot_stats_t *out)
{
    out->objects = atomic_load(&st_objects);
    out->slots = atomic_load(&st_slots);
    out->failed = atomic_load(&st_failed);
    out->foreign = atomic_load(&st_foreign);
}

void
sw_memgot_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    memcpy(&mu, &fresh, sizeof mu);
}
