/* The one safe-read function: every read of interpreter memory made
 * without the GIL goes through sw_vm_read().
 *
 * Memory that another thread may free at any moment (thread states,
 * frames, data-stack chunks, code objects) is copied with a system call
 * that fails with EFAULT instead of faulting.  The primary method is
 * process_vm_readv() on our own pid, which needs no ptrace rights (the
 * kernel skips the access check when the target mm is the caller's own).
 * Where a seccomp profile, gVisor or a kernel without
 * CONFIG_CROSS_MEMORY_ATTACH refuses it, write() of the range into a pipe
 * does the same job: the kernel copies from our address space and returns
 * EFAULT on an unmapped page.  Safe reads prevent crashes, not garbage:
 * callers validate what they read.
 *
 * Pure C; no Python.h. */
#ifndef SW_COMPAT_VMREAD_H
#define SW_COMPAT_VMREAD_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum sw_vm_method {
    SW_VM_NONE = 0,
    SW_VM_PROCESS_VM_READV = 1,
    SW_VM_PIPE = 2,
};

/* A reading context.  Owned by one thread at a time (the pipe method
 * keeps a pipe per context); counters are plain, read by the owner. */
typedef struct sw_vm {
    int method;
    int pid; /* getpid() is a system call: asked once, at open */
    int pipe_rd;
    int pipe_wr;
    size_t pipe_cap;
    uint64_t reads;  /* successful reads */
    uint64_t faults; /* reads that failed cleanly */
} sw_vm_t;

/* Chooses the method for the whole process: process_vm_readv if a probe
 * read of a known-good address works (and a read of address 16 fails),
 * else the pipe method.  `force` is SW_VM_NONE to probe, or a method to
 * use (STACKWATCH_READ_METHOD; tests exercise the fallback).
 * Context: module init (GIL held, no other reader running); call before
 * sw_vm_open().  Not thread-safe against concurrent sw_vm_open().
 * Returns the method chosen, or SW_ESYS if none works (errno is not
 * meaningful; sw_vm_method() is then SW_VM_NONE). */
int sw_vm_select(int force);

/* The method chosen by sw_vm_select(), or SW_VM_NONE.  Context: any. */
int sw_vm_method(void);

/* Name of a method for reports: "process_vm_readv", "pipe", or "none"
 * for anything else.  A static string; context: any. */
const char *sw_vm_method_name(int method);

/* Prepares a reading context for the calling thread (the pipe method
 * opens a non-blocking pipe).  Context: any thread, no GIL; not
 * async-signal-safe only because it may call pipe2/fcntl.
 * Returns 0, or SW_ESYS with errno set: ENOSYS when no method was
 * selected, else pipe2's errno.  The context is usable for
 * sw_vm_close() either way. */
int sw_vm_open(sw_vm_t *vm);

/* Prepares a reading context for another process, pid: process_vm_readv
 * on its pid, whatever method sw_vm_select() chose for our own memory
 * (the pipe method can only copy our own).  The kernel allows it where
 * ptrace would be allowed (same user and Yama's ptrace_scope, or
 * CAP_SYS_PTRACE); the target is never stopped.  This only prepares: the
 * first read says whether it is allowed.  Context: any thread, no GIL.
 * Returns 0, or SW_EINVAL for a pid <= 0. */
int sw_vm_open_pid(sw_vm_t *vm, int pid);

/* Releases the context's resources (the pipe's fds).  Safe on a closed
 * context or one whose sw_vm_open() failed; a zeroed context has fds 0
 * and would close stdin: only pass contexts that went through
 * sw_vm_open(). */
void sw_vm_close(sw_vm_t *vm);

/* Copies len bytes at addr in the context's process (this one, or the
 * one given to sw_vm_open_pid()) into dst, or fails cleanly.
 * Counts the outcome in vm->reads / vm->faults.
 * Context: the thread that owns vm; no GIL needed; never faults; no
 * allocation; async-signal-safe (system calls only).
 * Returns 0 (also for len 0), SW_EFAULT if any byte is unreadable or the
 * system call fails for another reason (dst is then undefined, possibly
 * partly written; errno is the system call's, EPERM when another process
 * may not be read), or SW_EINVAL for a null address or a range that wraps
 * around the address space. */
int sw_vm_read(sw_vm_t *vm, uintptr_t addr, void *dst, size_t len);

/* A region to read: len bytes at addr into dst. */
typedef struct sw_vm_region {
    uintptr_t addr;
    void *dst;
    size_t len;
} sw_vm_region_t;

/* Reads n regions with as few system calls as the method allows (one per
 * 64 regions for process_vm_readv, plus one more after each region that
 * fails).  ok[] holds n bytes; ok[i] says whether region i was read (a
 * null address fails).  Context: as sw_vm_read.  Returns the number of
 * regions read, 0..n; never an error code, callers check ok[]. */
int sw_vm_readv(sw_vm_t *vm, const sw_vm_region_t *regions, int n, char *ok);

/* Reads one pointer-sized word.  Context and returns as sw_vm_read. */
int sw_vm_read_ptr(sw_vm_t *vm, uintptr_t addr, uintptr_t *out);

#endif
