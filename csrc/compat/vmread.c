/* Safe reads of our own memory (or, for the outside reader, another
 * process's); see vmread.h for why. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "compat/vmread.h"

static _Atomic int chosen = SW_VM_NONE;

/* Largest single pipe transfer we ask for; the pipe is grown towards it. */
#define PIPE_WANT (1u << 20)

static int
read_pvr(int pid, uintptr_t addr, void *dst, size_t len)
{
    struct iovec local = {dst, len};
    struct iovec remote = {(void *)addr, len};
    ssize_t n;

    do {
        n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : SW_EFAULT;
}

/* Empties the pipe after a failed or partial transfer. */
static void
drain(sw_vm_t *vm)
{
    char sink[4096];

    while (read(vm->pipe_rd, sink, sizeof(sink)) > 0) {
    }
}

static int
read_pipe(sw_vm_t *vm, uintptr_t addr, void *dst, size_t len)
{
    char *out = dst;

    while (len > 0) {
        size_t part = len < vm->pipe_cap ? len : vm->pipe_cap;
        ssize_t w, r;
        size_t got = 0;

        do {
            w = write(vm->pipe_wr, (const void *)addr, part);
        } while (w < 0 && errno == EINTR);
        if (w != (ssize_t)part) {
            if (w > 0) {
                drain(vm);
            }
            return SW_EFAULT;
        }
        while (got < part) {
            r = read(vm->pipe_rd, out + got, part - got);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                drain(vm);
                return SW_EFAULT;
            }
            got += (size_t)r;
        }
        out += part;
        addr += part;
        len -= part;
    }
    return 0;
}

int
sw_vm_read(sw_vm_t *vm, uintptr_t addr, void *dst, size_t len)
{
    int rc;

    if (addr == 0 || addr + len < addr) {
        vm->faults++;
        return SW_EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    rc = vm->method == SW_VM_PIPE ? read_pipe(vm, addr, dst, len)
                                  : read_pvr(vm->pid, addr, dst, len);
    if (rc == 0) {
        vm->reads++;
    }
    else {
        vm->faults++;
    }
    return rc;
}

/* Most regions one process_vm_readv call takes (IOV_MAX is 1024). */
#define VEC_MAX 64

int
sw_vm_readv(sw_vm_t *vm, const sw_vm_region_t *regions, int n, char *ok)
{
    int i = 0, done = 0;

    memset(ok, 0, (size_t)n);
    while (i < n) {
        struct iovec local[VEC_MAX], remote[VEC_MAX];
        int k = 0, j;
        ssize_t got;

        if (vm->method == SW_VM_PIPE || regions[i].addr == 0) {
            ok[i] = sw_vm_read(vm, regions[i].addr, regions[i].dst,
                               regions[i].len) == 0;
            done += ok[i];
            i++;
            continue;
        }
        /* A batch of consecutive non-null regions. */
        while (i + k < n && k < VEC_MAX && regions[i + k].addr != 0) {
            local[k].iov_base = regions[i + k].dst;
            local[k].iov_len = regions[i + k].len;
            remote[k].iov_base = (void *)regions[i + k].addr;
            remote[k].iov_len = regions[i + k].len;
            k++;
        }
        do {
            got = process_vm_readv(vm->pid, local, (unsigned long)k, remote,
                                   (unsigned long)k, 0);
        } while (got < 0 && errno == EINTR);
        /* The kernel stops at the first region it cannot read: the ones
         * before it are complete. */
        for (j = 0; got > 0 && j < k && (size_t)got >= regions[i + j].len;
             j++) {
            ok[i + j] = 1;
            got -= (ssize_t)regions[i + j].len;
            vm->reads++;
            done++;
        }
        if (j < k) {
            vm->faults++; /* region i + j failed; go on after it */
            j++;
        }
        i += j;
    }
    return done;
}

int
sw_vm_read_ptr(sw_vm_t *vm, uintptr_t addr, uintptr_t *out)
{
    return sw_vm_read(vm, addr, out, sizeof(*out));
}

int
sw_vm_open(sw_vm_t *vm)
{
    int fds[2];
    int cap;

    memset(vm, 0, sizeof(*vm));
    vm->pid = (int)getpid();
    vm->pipe_rd = vm->pipe_wr = -1;
    vm->method = atomic_load_explicit(&chosen, memory_order_acquire);
    if (vm->method == SW_VM_NONE) {
        errno = ENOSYS;
        return SW_ESYS;
    }
    if (vm->method != SW_VM_PIPE) {
        return 0;
    }
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        return SW_ESYS;
    }
    vm->pipe_rd = fds[0];
    vm->pipe_wr = fds[1];
    cap = fcntl(fds[1], F_SETPIPE_SZ, PIPE_WANT);
    if (cap <= 0) {
        cap = fcntl(fds[1], F_GETPIPE_SZ);
    }
    vm->pipe_cap = cap > 0 ? (size_t)cap : 4096;
    return 0;
}

int
sw_vm_open_pid(sw_vm_t *vm, int pid)
{
    memset(vm, 0, sizeof(*vm));
    vm->pipe_rd = vm->pipe_wr = -1;
    if (pid <= 0) {
        return SW_EINVAL;
    }
    vm->pid = pid;
    vm->method = SW_VM_PROCESS_VM_READV;
    return 0;
}

void
sw_vm_close(sw_vm_t *vm)
{
    if (vm->pipe_rd >= 0) {
        close(vm->pipe_rd);
    }
    if (vm->pipe_wr >= 0) {
        close(vm->pipe_wr);
    }
    vm->pipe_rd = vm->pipe_wr = -1;
}

/* A method works if it copies a known value and refuses a bad address. */
static int
probe(int method)
{
    sw_vm_t vm;
    volatile uint64_t known = 0x5377617463685077ull;
    uint64_t copy = 0;
    int ok;

    atomic_store_explicit(&chosen, method, memory_order_release);
    if (sw_vm_open(&vm) < 0) {
        atomic_store_explicit(&chosen, SW_VM_NONE, memory_order_release);
        return 0;
    }
    ok = sw_vm_read(&vm, (uintptr_t)&known, &copy, sizeof(copy)) == 0 &&
         copy == known && sw_vm_read(&vm, 16, &copy, sizeof(copy)) != 0;
    sw_vm_close(&vm);
    if (!ok) {
        atomic_store_explicit(&chosen, SW_VM_NONE, memory_order_release);
    }
    return ok;
}

int
sw_vm_select(int force)
{
    if (force != SW_VM_NONE) {
        return probe(force) ? force : SW_ESYS;
    }
    if (probe(SW_VM_PROCESS_VM_READV)) {
        return SW_VM_PROCESS_VM_READV;
    }
    if (probe(SW_VM_PIPE)) {
        return SW_VM_PIPE;
    }
    return SW_ESYS;
}

int
sw_vm_method(void)
{
    return atomic_load_explicit(&chosen, memory_order_acquire);
}

const char *
sw_vm_method_name(int method)
{
    switch (method) {
    case SW_VM_PROCESS_VM_READV:
        return "process_vm_readv";
    case SW_VM_PIPE:
        return "pipe";
    default:
        return "none";
    }
}
