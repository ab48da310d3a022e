"""The system calls the course needs that Python's os module lacks (in
3.11): thin ctypes wrappers that keep the C names, argument order and
constants, and raise OSError(errno, strerror) on failure, as os does; the
message names the call and its arguments, flags by their constants'
names: ``pivot_root('.', '.'): Invalid argument``, ``mount('none', '/',
None, MS_REC|MS_PRIVATE): Permission denied``.

Read each wrapper beside its man page; minirun's own versions of them
live in minirun/kernel/ (namespaces.py, mounts.py, ...), with a paragraph
each on why a container needs them.
"""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

# unshare(2), setns(2), clone(2)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2

# prctl(2)
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def _check(result: int, call: str, *args) -> int:
    """``result``, unless it is -1: then OSError for errno, naming the call
    (a failed pivot_root and a failed umount2 both say just "Invalid
    argument" otherwise)."""
    if result == -1:
        err = ctypes.get_errno()
        shown = ", ".join(a if isinstance(a, _Names) else repr(a) for a in args)
        raise OSError(err, f"{call}({shown}): {os.strerror(err)}")
    return result


class _Names(str):
    """Flags shown by the names of their constants: ``MS_BIND|MS_REC``."""


def _names(flags: int, prefix: str) -> _Names:
    named = [name for name, value in globals().items() if name.startswith(prefix)
             and isinstance(value, int) and value and value & (value - 1) == 0
             and flags & value]
    rest = flags
    for name in named:
        rest &= ~globals()[name]
    return _Names("|".join(named + ([hex(rest)] if rest else [])) or "0")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare", _names(flags, "CLONE_"))


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns", fd,
           _names(nstype, "CLONE_"))


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_libc.sethostname(data, ctypes.c_size_t(len(data))), "sethostname", name)


def mount(source: str, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None),
           "mount", source, target, fstype, _names(flags, "MS_"), *([data] if data else []))


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), "umount2", target,
           _names(flags, "MNT_"))


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) has no glibc wrapper: the raw system call (155 on x86_64)."""
    nr = {"x86_64": 155, "aarch64": 41}[os.uname().machine]
    _check(_libc.syscall(ctypes.c_long(nr), new_root.encode(), put_old.encode()),
           "pivot_root", new_root, put_old)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    name = next((n for n, v in globals().items() if n.startswith("PR_") and v == option),
                option)
    return _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
                  "prctl", _Names(name), arg2, arg3, arg4, arg5)
