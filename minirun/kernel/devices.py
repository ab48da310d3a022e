"""Device nodes: the files under /dev that lead to a driver.

Why each step is taken (``--explain`` prints the item under it):

- mknod: a container's /dev is an empty tmpfs: each device it may use is
  made there from a type (c character, b block, p fifo) and a major:minor
  number; inside a user namespace mknod of a real device is refused, so
  there the host's node is bind-mounted onto an empty file instead, as runc
  and podman do rootless (mknod(2))
- symlink: the links every Linux /dev has (/dev/fd, /dev/stdin, /dev/ptmx),
  which programs expect (symlink(2))

See: mknod(2), makedev(3), devices.txt in the kernel's documentation
"""
import os
import stat

from minirun import explain
from minirun.kernel import mounts
from minirun.records import record


@record
class Device:
    path: str
    type: str = "c"
    major: int = 0
    minor: int = 0
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0


# The devices every OCI container gets (runtime-spec, config-linux.md).
DEFAULTS = [
    Device(path="/dev/null", major=1, minor=3),
    Device(path="/dev/zero", major=1, minor=5),
    Device(path="/dev/full", major=1, minor=7),
    Device(path="/dev/random", major=1, minor=8),
    Device(path="/dev/urandom", major=1, minor=9),
    Device(path="/dev/tty", major=5, minor=0),
]

LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
         ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def mknod_in_root(root_fd: int, dev: Device) -> None:
    parent, name = os.path.split(dev.path)
    pfd = mounts.make_target(root_fd, parent, is_dir=True)
    try:
        explain.say(f"mknod({dev.path}, {dev.type} {dev.major}:{dev.minor}, "
                    f"{dev.file_mode:o})", why="mknod")
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        os.mknod(name, _TYPES[dev.type] | (dev.file_mode & 0o7777),
                 os.makedev(dev.major, dev.minor), dir_fd=pfd)
        os.chmod(name, dev.file_mode & 0o7777, dir_fd=pfd)
        os.chown(name, dev.uid, dev.gid, dir_fd=pfd)
    finally:
        os.close(pfd)


def bind_in_root(root_fd: int, dev: Device, host_path: str | None = None) -> None:
    """Bind the host's node onto an empty file (in a user namespace)."""
    src = host_path or dev.path
    src_fd = os.open(src, os.O_PATH | os.O_CLOEXEC)
    try:
        dst_fd = mounts.make_target(root_fd, dev.path, is_dir=False)
        try:
            mounts.mount(mounts.fd_path(src_fd), mounts.fd_path(dst_fd), None, mounts.MS_BIND,
                         shown=dev.path)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def symlink_in_root(root_fd: int, target: str, path: str) -> None:
    parent, name = os.path.split(path)
    pfd = mounts.make_target(root_fd, parent, is_dir=True)
    try:
        explain.say(f'symlink("{target}", "{path}")', why="symlink")
        try:
            os.symlink(target, name, dir_fd=pfd)
        except FileExistsError:
            pass
    finally:
        os.close(pfd)
