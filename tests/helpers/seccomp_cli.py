"""Runs the stackwatch CLI (argv[1:]) under a seccomp filter that makes
ptrace, process_vm_readv and process_vm_writev fail with EPERM, as in a
container without CAP_SYS_PTRACE (libseccomp through ctypes).

Before running the CLI it checks that the filter holds: process_vm_readv
on its own pid must fail with EPERM (else it exits with status 3, one
line on stderr). Exits with the CLI's status."""
import ctypes
import ctypes.util
import errno
import os
import sys

SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(code):
    return 0x00050000 | (code & 0xFFFF)


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def deny_ptrace_class():
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp")
                      or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                     ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        for name in (b"ptrace", b"process_vm_readv", b"process_vm_writev"):
            nr = lib.seccomp_syscall_resolve_name(name)
            rc = lib.seccomp_rule_add(ctx, scmp_act_errno(errno.EPERM), nr,
                                      0)
            if rc < 0:
                raise OSError(-rc, "seccomp_rule_add(%s)" % name.decode())
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise OSError(-rc, "seccomp_load")
    finally:
        lib.seccomp_release(ctx)


def readv_errno():
    """errno of process_vm_readv on our own pid (0 if it worked)."""
    libc = ctypes.CDLL(None, use_errno=True)
    src = ctypes.create_string_buffer(b"x" * 8)
    dst = ctypes.create_string_buffer(8)
    local = IoVec(ctypes.cast(dst, ctypes.c_void_p), 8)
    remote = IoVec(ctypes.cast(src, ctypes.c_void_p), 8)
    fn = libc.process_vm_readv
    fn.restype = ctypes.c_ssize_t
    n = fn(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return 0 if n == 8 else ctypes.get_errno()


deny_ptrace_class()
if readv_errno() != errno.EPERM:
    sys.stderr.write("seccomp_cli: the filter does not hold\n")
    sys.exit(3)

from stackwatch import cli  # noqa: E402

sys.exit(cli.main(sys.argv[1:]))
