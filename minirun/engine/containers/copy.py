"""`minirun cp`: files between the host and a container, through the
container's root opened as a directory fd: ``/proc/PID/root`` of a running
one; a stopped one's overlay, mounted for the copy in a mount namespace of
a child process (root of a user namespace when rootless), which takes the
mount with it when it exits.

Every container-side path is resolved with ``openat2(RESOLVE_IN_ROOT)``: a
symlink in the container, absolute or full of ``..``, is followed as the
container would follow it and can never lead to the host's files.  Trees
are walked through file descriptors (``os.fwalk``), never through paths a
container process could swap while we copy.
"""
import os
import stat

from minirun.errors import MiniRunError

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


class CopyError(MiniRunError):
    """A cp source does not exist or a destination cannot be written."""


def _open(root_fd: int, path: str, flags: int) -> int:
    from minirun.kernel import mounts
    try:
        return mounts.openat2(root_fd, path.lstrip("/") or ".", flags | os.O_CLOEXEC,
                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    except FileNotFoundError:
        raise CopyError(f"`{path}` does not exist in the container") from None


def _copy_fd(src: int, dst: int) -> None:
    while chunk := os.read(src, 1 << 20):
        os.write(dst, chunk)


def out_of(root_path: str, src: str, dest: str) -> None:
    """Container path ``src`` -> host path ``dest``; the container's root is
    ``root_path`` (``/proc/PID/root``, or its mounted rootfs)."""
    root = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open(root, src, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            if os.path.isdir(dest) and not stat.S_ISDIR(st.st_mode):
                dest = os.path.join(dest, os.path.basename(src.rstrip("/")) or "root")
            elif os.path.isdir(dest):
                dest = os.path.join(dest, os.path.basename(src.rstrip("/")))
            if stat.S_ISDIR(st.st_mode):
                _tree_out(fd, dest)
            else:
                with open(dest, "wb") as out:
                    _copy_fd(fd, out.fileno())
                os.chmod(dest, stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    finally:
        os.close(root)


def _tree_out(dir_fd: int, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    for top, dirs, files, tfd in os.fwalk(".", dir_fd=dir_fd, follow_symlinks=False):
        here = os.path.normpath(os.path.join(dest, top))
        for name in dirs:
            os.makedirs(os.path.join(here, name), exist_ok=True)
        for name in files:
            st = os.stat(name, dir_fd=tfd, follow_symlinks=False)
            target = os.path.join(here, name)
            if stat.S_ISLNK(st.st_mode):
                if os.path.lexists(target):
                    os.unlink(target)
                os.symlink(os.readlink(name, dir_fd=tfd), target)
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tfd)
                try:
                    with open(target, "wb") as out:
                        _copy_fd(fd, out.fileno())
                finally:
                    os.close(fd)
                os.chmod(target, stat.S_IMODE(st.st_mode))


def into(root_path: str, src: str, dest: str) -> None:
    """Host path ``src`` -> container path ``dest``."""
    if not os.path.lexists(src):
        raise CopyError(f"`{src}` does not exist on the host")
    root = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            dfd = _open(root, dest, os.O_RDONLY | os.O_DIRECTORY)
            name = os.path.basename(src.rstrip("/"))
        except (CopyError, NotADirectoryError):
            parent, name = os.path.split(dest.rstrip("/"))
            dfd = _open(root, parent or "/", os.O_RDONLY | os.O_DIRECTORY)
        try:
            _put(dfd, name, src)
        finally:
            os.close(dfd)
    finally:
        os.close(root)


def _put(dir_fd: int, name: str, src: str) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        try:
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
        except FileExistsError:
            pass
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=dir_fd)
        try:
            for entry in os.listdir(src):
                _put(sub, entry, os.path.join(src, entry))
        finally:
            os.close(sub)
    elif stat.S_ISLNK(st.st_mode):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        os.symlink(os.readlink(src), name, dir_fd=dir_fd)
    else:
        # O_NOFOLLOW: a symlink planted at the destination is not written through
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW |
                         os.O_CLOEXEC, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
        except OSError as e:
            if e.errno == 40:   # ELOOP
                raise CopyError(f"`{name}` in the container is a symlink: refusing to "
                                "write through it") from None
            raise
        try:
            with open(src, "rb") as f:
                _copy_fd(f.fileno(), fd)
        finally:
            os.close(fd)


def with_stopped(overlay: str, rootfs: str, direction: str, src: str, dest: str) -> None:
    """Copy with a container that is not running: mount its overlay at its
    rootfs in a mount namespace of our own (we are a child for this), copy.
    Runs through engine/userns.in_child."""
    from minirun.kernel import mounts, namespaces
    namespaces.unshare(namespaces.CLONE_NEWNS)
    mounts.mount(None, "/", None, mounts.MS_REC | mounts.MS_SLAVE)
    mounts.mount("overlay", rootfs, "overlay", 0, overlay)
    (out_of if direction == "out" else into)(rootfs, src, dest)


def copy(store, name: str, direction: str, source: str, destination: str) -> None:
    """`cp`: ``direction`` "in" copies the host's ``source`` to the
    container's ``destination``, "out" the container's ``source`` to the
    host's ``destination`` (host paths absolute).  A running container is
    reached through its root; a stopped one has its overlay mounted for the
    copy, in a child (a plain user's: in the store's user namespace)."""
    import json
    from minirun.engine.containers import lifecycle, records as ct
    rec = lifecycle.refresh(store, ct.find(store, name))
    if rec["state"] == "running":
        (into if direction == "in" else out_of)(f"/proc/{rec['pid']}/root", source,
                                                destination)
        return
    from minirun.engine import userns
    d = ct.container_dir(store, rec["id"])
    with open(os.path.join(d, "config.json")) as f:
        overlay = json.load(f)["annotations"]["org.minirun.rootfs.overlay"]
    userns.in_child(with_stopped, overlay, os.path.join(d, "rootfs"), direction, source,
                    destination)
