"""OS-level confinement of an evaluation child, applied right after fork.

Layered under the restricted compiler, so that a hole in one layer is not an
escape. What is enforced (Linux):
- descriptors: only the result pipe survives (as fd 3); 0/1/2 are /dev/null;
- empty environment, an empty private working directory;
- rlimits: CPU seconds (SIGXCPU, then SIGKILL), address space, no core files,
  no file growth (RLIMIT_FSIZE=0), no new descriptors (RLIMIT_NOFILE=4),
  no new processes (RLIMIT_NPROC=0, effective once privileges are dropped);
- when started as root: all privileges dropped to nobody/nogroup;
- parent-death signal, not dumpable (other sandboxes cannot ptrace it);
- seccomp (via libseccomp, when the library is present): sockets, exec, fork/clone,
  ptrace, signals to other processes, writes/creates/renames/deletes on the file
  system, mounts and namespaces all fail with EPERM. Network namespaces are not
  used (they need root at evaluation time); the seccomp socket ban is the network
  wall, and where libseccomp is missing only the restricted compiler and rlimits remain.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import signal
import tempfile
from typing import Any

from plue.sandbox.results import Limits

RESULT_FD = 3
NOBODY = 65534
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2

libc = ctypes.CDLL(None, use_errno=True)  # this process already links libc

_DENIED_SYSCALLS = (
    # network
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen",
    # processes
    "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace",
    "process_vm_readv", "process_vm_writev", "kill", "tkill", "tgkill", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd",
    # file system changes
    "creat", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rename",
    "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "chmod",
    "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "truncate", "utime",
    "utimes", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "openat2", "open_by_handle_at", "name_to_handle_at", "memfd_create",
    # the machine
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "io_uring_setup",
    "userfaultfd", "init_module", "finit_module", "delete_module", "kexec_load",
    "reboot", "swapon", "swapoff", "acct", "personality",
)  # fmt: skip
_WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _compile_seccomp_program() -> tuple[ctypes.Array[ctypes.c_char], _SockFprog] | None:
    """Build the filter once with libseccomp and export its BPF program.

    Done in the warm parent at import: building and loading through libseccomp
    costs milliseconds per child, installing a ready program costs microseconds.
    """
    try:
        import pyseccomp as seccomp

        rules: Any = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        denied = seccomp.ERRNO(errno.EPERM)
        for name in _DENIED_SYSCALLS:
            # Skip syscalls this architecture does not have.
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                rules.add_rule(denied, name)
        for name, flags_arg in (("open", 1), ("openat", 2)):
            for flag in _WRITE_FLAGS:
                rules.add_rule(denied, name, seccomp.Arg(flags_arg, seccomp.MASKED_EQ, flag, flag))
        with tempfile.TemporaryFile() as exported:
            rules.export_bpf(exported)
            exported.seek(0)
            program = exported.read()
    except Exception:  # libseccomp missing: the documented degradation
        return None
    buffer = ctypes.create_string_buffer(program, len(program))
    return buffer, _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))


_SECCOMP_PROGRAM = _compile_seccomp_program()
SECCOMP_AVAILABLE = _SECCOMP_PROGRAM is not None


def _install_seccomp() -> None:
    if _SECCOMP_PROGRAM is None:
        return
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    program = ctypes.byref(_SECCOMP_PROGRAM[1])
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, program, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


def _only_result_fd(result_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD)
    os.closerange(RESULT_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _drop_privileges() -> None:
    if os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def confine(result_fd: int, limits: Limits, workdir: str) -> None:
    """Confine this (freshly forked) process. Raises if a mandatory layer fails."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    _only_result_fd(result_fd)
    os.chdir(workdir)
    os.environ.clear()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    _drop_privileges()
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    _install_seccomp()
    resource.setrlimit(resource.RLIMIT_NOFILE, (RESULT_FD + 1, RESULT_FD + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
