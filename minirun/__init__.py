"""minirun: a daemonless, rootless container runtime built on Linux primitives.

The package has three layers, read from the bottom up::

    kernel/    one module per kernel primitive (namespaces, mounts, idmap,
               cgroups, capabilities, seccomp, ...): the only place that
               makes syscalls, each wrapper named after its man page
    runtime/   one OCI bundle -> one container, as runc does: spec.py parses
               config.json, launch.py and init.py are the launch, in order,
               lifecycle.py has the verbs (create, start, state, kill, delete)
    engine/    many containers: images, storage, networks (later issues)
    cli/       minirun (podman-like, click) and minirun-oci (runc-like)

The runtime never imports the engine; only kernel/ loads the C half
(minirun._native, built from native/build.py by cffi).

Reading order for a student: kernel/namespaces.py, runtime/spec.py,
runtime/launch.py, runtime/init.py, runtime/rootfs.py, runtime/process.py.
"""
__version__ = "0.1.0"
