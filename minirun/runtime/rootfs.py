"""Building the container's filesystem view, inside its mount namespace.

Runs in the init process before ``pivot_root``; each function is one step of
the table of contents in ``init.py``.  ``k`` is the kernel seam.
"""
import os

from minirun.runtime.spec import Mount, Spec


def make_root_private(k, spec: Spec) -> None:
    """Stop mounts made below from propagating back to the host.

    Moves if: after the binds, a host mount namespace could receive them.
    """
    m = k.mounts
    m.mount(None, "/", None, m.MS_SLAVE | m.MS_REC)


OVERLAY_ANNOTATION = "org.minirun.rootfs.overlay"


def mount_overlay_root(k, spec: Spec, in_userns: bool) -> None:
    """Assemble the rootfs from image layers, inside the container's own
    mount namespace: the annotation ``org.minirun.rootfs.overlay`` holds
    ``lowerdir=A:B,upperdir=U,workdir=W`` (the engine writes it; runc would
    ignore it, so the engine mounts on the host for other runtimes).  Made
    here, the mount dies with the namespace: it can never leak on the host.
    In a user namespace overlay keeps its own xattrs under user.* (userxattr).
    """
    data = (spec.annotations or {}).get(OVERLAY_ANNOTATION)
    if not data:
        return
    options = dict(part.partition("=")[::2] for part in data.split(","))
    if set(options) != {"lowerdir", "upperdir", "workdir"} or not all(
            p.startswith("/") for v in options.values() for p in v.split(":")):
        raise OSError(22, f"annotation {OVERLAY_ANNOTATION}: expected "
                      "lowerdir=/a:/b,upperdir=/u,workdir=/w", data)
    if in_userns:
        data += ",userxattr"
    k.mounts.mount("overlay", spec.root_path, "overlay", 0, data)


def bind_rootfs(k, spec: Spec) -> int:
    """Make the rootfs a mount point (pivot_root needs one) and open it."""
    m = k.mounts
    m.mount(spec.root_path, spec.root_path, None, m.MS_BIND | m.MS_REC)
    return os.open(spec.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _remount(k, root_fd: int, dest: str, flags: int) -> None:
    """Change the flags of the bind just made at ``dest``; re-open it first,
    because a fd opened before the mount names the covered directory."""
    m = k.mounts
    fd = m.open_in_root(root_fd, dest)
    try:
        path = m.fd_path(fd)
        m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | flags | m.locked_flags(path),
                shown=dest)
    finally:
        os.close(fd)


def _propagate(k, root_fd: int, dest: str, propagation: int) -> None:
    m = k.mounts
    fd = m.open_in_root(root_fd, dest)
    try:
        m.mount(None, m.fd_path(fd), None, propagation, shown=dest)
    finally:
        os.close(fd)


def _bind(k, root_fd: int, source: str, dest: str, flags: int, propagation: int) -> None:
    m = k.mounts
    src_fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
    try:
        is_dir = os.path.isdir(m.fd_path(src_fd))
        dst_fd = m.make_target(root_fd, dest, is_dir)
        try:
            m.mount(m.fd_path(src_fd), m.fd_path(dst_fd), None,
                    m.MS_BIND | (flags & m.MS_REC), shown=dest)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    extra = flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
    if extra:
        _remount(k, root_fd, dest, extra)
    if propagation:
        _propagate(k, root_fd, dest, propagation)


def _cgroup(k, root_fd: int, mnt: Mount, flags: int, view) -> None:
    """cgroup v2: mount cgroup2.  v1 and hybrid hosts: a tmpfs holding a bind
    of the container's own directory in each tree, which works rootless too.
    ``view`` was worked out by the parent: inside a cgroup namespace the
    host's trees no longer show in /proc/self/mountinfo."""
    m = k.mounts
    dst = m.make_target(root_fd, mnt.destination, True)
    try:
        if view.unified:
            m.mount("cgroup2", m.fd_path(dst), "cgroup2", flags, shown=mnt.destination)
            return
        m.mount("tmpfs", m.fd_path(dst), "tmpfs", flags & ~m.MS_RDONLY, "mode=755",
                shown=mnt.destination)
    finally:
        os.close(dst)
    bind_flags = m.MS_BIND | m.MS_REC | m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC
    for source, name in view.binds:
        _bind(k, root_fd, source, f"{mnt.destination}/{name}", bind_flags | (flags & m.MS_RDONLY),
              0)
    if flags & m.MS_RDONLY:
        _remount(k, root_fd, mnt.destination, m.MS_RDONLY | (flags & ~m.MS_BIND))


def mount_one(k, root_fd: int, mnt: Mount, bundle: str, cgroup_view) -> None:
    """One entry of config.json's ``mounts``."""
    m = k.mounts
    flags, propagation, data = m.parse_options(list(mnt.options))
    if mnt.type == "bind" or flags & m.MS_BIND:
        source = os.path.join(bundle, mnt.source or "")
        _bind(k, root_fd, source, mnt.destination, flags | m.MS_BIND, propagation)
        return
    if mnt.type == "cgroup":
        _cgroup(k, root_fd, mnt, flags, cgroup_view)
        return
    dst = m.make_target(root_fd, mnt.destination, True)
    try:
        try:
            try:
                m.mount(mnt.source or mnt.type, m.fd_path(dst), mnt.type, flags, data or None,
                        shown=mnt.destination)
            except OSError as e:
                # devpts refuses a gid= that the user namespace does not map
                # (gid 5, tty, for a single-id rootless map): drop it, as runc does.
                if not (e.errno == 22 and mnt.type == "devpts" and "gid=" in data):
                    raise
                data = ",".join(o for o in data.split(",") if not o.startswith("gid="))
                m.mount(mnt.source or mnt.type, m.fd_path(dst), mnt.type, flags, data or None,
                        shown=mnt.destination)
        except PermissionError:
            if mnt.type not in ("sysfs", "mqueue"):
                raise
            # Not ours to mount in this user namespace: show the host's, read-only.
            host = "/sys" if mnt.type == "sysfs" else "/dev/mqueue"
            os.close(dst)
            dst = -1
            _bind(k, root_fd, host, mnt.destination, m.MS_BIND | m.MS_REC | m.MS_RDONLY
                  | (flags & (m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC)), 0)
    finally:
        if dst >= 0:
            os.close(dst)
    if propagation:
        _propagate(k, root_fd, mnt.destination, propagation)


def make_devices(k, spec: Spec, root_fd: int, in_userns: bool) -> None:
    """The spec's default devices and config's ``linux.devices``: made with
    mknod as real root, bind-mounted from the host in a user namespace."""
    d = k.devices
    if any(mnt.destination == "/dev" and mnt.type == "bind" for mnt in spec.mounts):
        return  # the host's /dev is bound in as it is
    wanted = {dev.path: dev for dev in d.DEFAULTS}
    for dev in spec.linux.devices:
        wanted[dev.path] = d.Device(path=dev.path, type=dev.type, major=dev.major,
                                    minor=dev.minor, file_mode=dev.file_mode, uid=dev.uid,
                                    gid=dev.gid)
    for dev in wanted.values():
        if in_userns:
            try:
                d.bind_in_root(root_fd, dev)
            except (FileNotFoundError, PermissionError) as e:
                raise OSError(e.errno, f"{dev.path}: in a user namespace the host's node at "
                                       "the same path is bound in (no node can be made), "
                                       "and the host has none the user may open") from None
        else:
            d.mknod_in_root(root_fd, dev)
    for target, path in d.LINKS:
        d.symlink_in_root(root_fd, target, path)
    if any(mnt.destination == "/dev/pts" for mnt in spec.mounts):
        d.symlink_in_root(root_fd, "pts/ptmx", "/dev/ptmx")


def pivot(k, root_fd: int) -> None:
    """Make the rootfs ``/``: pivot_root(".", ".") stacks the old root on top
    of the new one, and a lazy unmount of "." then drops it, so no directory
    of the host stays reachable (and no put_old directory is needed)."""
    m = k.mounts
    k.process.fchdir(root_fd)
    m.pivot_root(".", ".")
    m.umount2(".", m.MNT_DETACH)
    k.process.chdir("/")


def set_root_propagation(k, spec: Spec) -> None:
    if spec.linux.rootfs_propagation:
        m = k.mounts
        m.mount(None, "/", None, m.PROPAGATION_OPTIONS[spec.linux.rootfs_propagation])


def readonly_paths(k, spec: Spec) -> None:
    m = k.mounts
    for path in spec.linux.readonly_paths:
        if not os.path.exists(path):
            continue
        m.mount(path, path, None, m.MS_BIND | m.MS_REC)
        m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | m.locked_flags(path))


def masked_paths(k, spec: Spec) -> None:
    """/dev/null over files, an empty read-only tmpfs over directories."""
    m = k.mounts
    for path in spec.linux.masked_paths:
        if os.path.isdir(path) and not os.path.islink(path):
            m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY, None)
        elif os.path.exists(path):
            m.mount("/dev/null", path, None, m.MS_BIND)


def readonly_root(k, spec: Spec) -> None:
    if spec.root_readonly:
        m = k.mounts
        m.mount(None, "/", None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | m.locked_flags("/"))


def unmount_added(k, root_path: str, before: list[int]) -> None:
    """Undo what a container without a mount namespace mounted in the
    runtime's: every mount below its rootfs that was not there at create,
    deepest first, detached (a process of the host may still hold one)."""
    m = k.mounts
    added = [point for mid, point in m.mounts_below(root_path) if mid not in set(before)]
    for point in sorted(added, key=len, reverse=True):
        try:
            m.umount2(point, m.MNT_DETACH)
        except OSError as e:
            if e.errno != 22:      # EINVAL: gone with its parent already
                raise
