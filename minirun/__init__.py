"""minirun: a daemonless, rootless container runtime built on Linux primitives.

The package in layers, read from the bottom up::

    kernel/    one module per kernel primitive (namespaces, mounts, idmap,
               cgroups, capabilities, seccomp, ...): the only place that
               makes syscalls, each wrapper named after its man page
    runtime/   one OCI bundle -> one container, as runc does: spec.py parses
               config.json, launch.py and init.py are the launch, in order,
               lifecycle.py has the verbs (create, start, state, kill, delete)
    engine/    many containers (podman's job), in rooms: images/, lazy/
               (layers read from the registry as they are used, by FUSE),
               network/ and containers/, on a base of the store
    cli/       minirun (podman-like, click, with a click-free fast path for
               run and exec) and minirun-oci (runc-like)

Beside them: errors.py (the exception hierarchy's base classes), explain.py
(the --explain narration), records.py (immutable records without typing).
The runtime never imports the engine; only the declared doors
(kernel/_native.py, engine/lazy/inflate.py: NATIVE_DOORS in
tests/unit/test_layout.py) load the C half (minirun._native, built from
native/build.py by cffi).  docs/ARCHITECTURE.md
says why each piece is where it is.

Reading order for a student: kernel/namespaces.py, runtime/spec.py,
runtime/launch.py, runtime/init.py, runtime/rootfs.py, runtime/process.py,
kernel/credentials.py, then engine/__init__.py and the rooms it names.
"""
__version__ = "0.1.0"

# The Python API (api.py), loaded on first use: every command line imports
# this package, and none of them needs the API.
_API = ("run", "Container", "Result", "Image", "images", "containers", "JobTimeout", "Pool")


def __getattr__(name: str):
    if name == "Pool":
        from minirun.pool import Pool
        return Pool
    if name in _API:
        from minirun import api
        return getattr(api, name)
    raise AttributeError(f"module 'minirun' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
