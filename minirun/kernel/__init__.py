"""The kernel seam: one module per primitive, the only place syscalls happen.

Each module is named after the man page of what it wraps and keeps the
syscall's names, argument order and constants (``mount(source, target,
fstype, MS_BIND|MS_REC, data)``), so that the man page and the code read
alike.  Failures are ``OSError(errno, strerror, path)``, made in exactly one
place (``_native.check``).

Reading order: namespaces, idmap, mounts, devices, uts, sysctl, cgroups,
rlimits, credentials, capabilities, process, fork (the one fork-and-handshake
helper), seccomp, bpf, inotify (the API's wait for a file).

The runtime never calls these modules by name from its launch steps: it is
handed a seam (:data:`LINUX` here, a recording fake in the unit tests), so
the order of steps can be tested without privileges.
"""
from types import SimpleNamespace


def linux() -> SimpleNamespace:
    """The real seam: every kernel module, loaded on first use."""
    from minirun.kernel import (bpf, capabilities, cgroups, credentials, devices, idmap,
                                mounts, namespaces, process, rlimits, seccomp, sysctl, uts)
    return SimpleNamespace(bpf=bpf, capabilities=capabilities, cgroups=cgroups,
                           credentials=credentials, devices=devices, idmap=idmap,
                           mounts=mounts, namespaces=namespaces, process=process,
                           rlimits=rlimits, seccomp=seccomp, sysctl=sysctl, uts=uts)
