"""Mounts: attach a filesystem (or another place of the tree) at a path.

``mount(2)`` does many jobs selected by its flags, each its own call.

Why each is made (``--explain`` prints the item under the call):

- propagation: change how mount events travel between this tree and its
  peers (``MS_PRIVATE``, ``MS_SLAVE``, ``MS_SHARED``): the launch cuts the
  container's tree off first, so that its mounts never appear on the host
  (mount_namespaces(7))
- bind: make a tree that exists already appear at a second place too
  (``MS_BIND``; ``MS_REC``: with the mounts under it) (mount(2))
- remount: change the flags of a mount that exists (``MS_REMOUNT``): a
  bind mount cannot be made read-only in the same call (mount(2))
- overlay: the image's layers, read-only, under a writable directory of the
  container's own: it sees one tree, and what it changes goes to its own
  directory only, never to the layers other containers share (mount(8))
- proc: a /proc of its own: it shows the processes of the container's PID
  namespace, not the host's (proc(5))
- sysfs: /sys, the kernel's view of devices and drivers, as the container's
  network namespace shows it (sysfs(5))
- tmpfs: an empty filesystem in memory: /dev, /dev/shm, or an empty place
  laid over a path the container must not see (tmpfs(5))
- devpts: terminals numbered apart from the host's (``newinstance``), for
  the container's own pseudo-terminals (pts(4))
- mqueue: the POSIX message queues of the container's IPC namespace
  (mq_overview(7))
- cgroup: the container's control groups, as its cgroup namespace shows
  them: its own group is the root (cgroups(7))
- mount: attach a filesystem at a path (mount(2))
- umount2: take a mount away; ``MNT_DETACH`` takes it out of the tree at
  once and frees it once nothing uses it: the host's old root after
  pivot_root, a network namespace's file once its container is gone (umount2(2))
- pivot_root: make the rootfs the root of this mount namespace; given "."
  twice, the old root lands on top of the new one, to be unmounted at once,
  so that nothing of the host's tree stays reachable (pivot_root(2))
- chroot: no mount namespace of its own: change this process's root only
  (pivot_root would move the root of everyone in the namespace) (chroot(2))

Targets inside a container's rootfs are never named by a path that the
rootfs could redirect: they are opened with ``openat2(RESOLVE_IN_ROOT)``
(symlinks are followed as if the rootfs were ``/``) and mounted on through
``/proc/self/fd/N`` (CVE-2021-30465).

See: mount(2), umount(2), pivot_root(2), chroot(2), openat2(2), mount_namespaces(7)
"""
import errno
import os
import re
import stat

from minirun import explain
from minirun.kernel._native import check, cstr, ffi, lib

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

_FLAG_NAMES = {v: k for k, v in globals().items() if k.startswith("MS_") and k != "MS_SILENT"}

# mount(8) option -> (flags to set, flags to clear)
OPTIONS = {
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0), "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "atime": (0, MS_NOATIME), "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME), "nodiratime": (MS_NODIRATIME, 0),
    "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "nosymfollow": (MS_NOSYMFOLLOW, 0), "symfollow": (0, MS_NOSYMFOLLOW),
}
PROPAGATION_OPTIONS = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
# Options that mean something to the OCI runtime, not to mount(2).
IGNORED_OPTIONS = {"tmpcopyup", "notmpcopyup", "copy-symlink", "defaults", "z", "Z"}


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """Split mount(8) options into (flags, propagation flags, data string)."""
    flags, propagation, data = 0, 0, []
    for opt in options:
        if opt in OPTIONS:
            set_, clear = OPTIONS[opt]
            flags = (flags | set_) & ~clear
        elif opt in PROPAGATION_OPTIONS:
            propagation |= PROPAGATION_OPTIONS[opt]
        elif opt not in IGNORED_OPTIONS:
            data.append(opt)
    return flags, propagation, ",".join(data)


def flag_names(flags: int) -> str:
    return "|".join(n for v, n in sorted(_FLAG_NAMES.items()) if flags & v) or "0"


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None, shown: str | None = None) -> None:
    """mount(2); ``shown`` names the target for the narration and errors."""
    where = shown or target
    if explain.enabled():
        q = lambda v: "NULL" if v is None else f'"{v}"'  # noqa: E731
        explain.say(f"mount({q(source)}, {q(where)}, {q(fstype)}, {flag_names(flags)}, "
                    f"{q(data)})", why=_why(fstype, flags))
    check(lib.mount(cstr(source), cstr(target), cstr(fstype), flags,
                    cstr(data) if data else ffi.NULL), "mount", where)


def _why(fstype: str | None, flags: int) -> str:
    """The Why item of a mount(2) call (narration only)."""
    if flags & PROPAGATION:
        return "propagation"
    if flags & (MS_REMOUNT | MS_BIND):
        return "remount" if flags & MS_REMOUNT else "bind"
    if fstype in ("cgroup", "cgroup2"):
        return "cgroup"
    return fstype if fstype in ("overlay", "proc", "sysfs", "tmpfs", "devpts", "mqueue") \
        else "mount"


def umount2(target: str, flags: int = 0) -> None:
    explain.say(f'umount2("{target}", {"MNT_DETACH" if flags & MNT_DETACH else flags})',
                why="umount2")
    check(lib.umount2(cstr(target), flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    explain.say(f'pivot_root("{new_root}", "{put_old}")', why="pivot_root")
    check(lib.mr_pivot_root(cstr(new_root), cstr(put_old)), "pivot_root", new_root)


def chroot_fd(dir_fd: int) -> None:
    """fchdir(dir_fd), then chroot("."): the directory becomes this process's
    root.  Unlike pivot_root it changes one process, not the namespace, so
    it serves a container that shares the runtime's mount namespace."""
    explain.say(f'fchdir({dir_fd}); chroot(".")', why="chroot")
    os.fchdir(dir_fd)
    os.chroot(".")
    os.chdir("/")


def mounts_below(path: str) -> list[tuple[int, str]]:
    """(mount id, mount point) of every mount at or below ``path`` in this
    process's mount namespace, from /proc/self/mountinfo (proc(5))."""
    path = path.rstrip("/") or "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            # the kernel writes space, tab, newline and backslash as \ooo
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == path or point.startswith(path + "/"):
                found.append((int(fields[0]), point))
    return found


def locked_flags(path: str) -> int:
    """The flags an existing mount has that a remount must keep.

    In a user namespace the kernel refuses a remount that would clear
    nosuid, nodev, noexec or the atime flags of a mount it inherited.
    """
    f = os.statvfs(path).f_flag
    flags = 0
    for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                   (os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                   (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME),
                   (os.ST_RDONLY, MS_RDONLY)):
        if f & st:
            flags |= ms
    return flags


# --- paths inside a rootfs, resolved as the container will see them ---

O_PATH = os.O_PATH
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


# How often an openat2 that met a rename or mount elsewhere is tried again.
OPENAT2_TRIES = 64


def openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2): open ``path`` below ``dir_fd`` with RESOLVE_* rules."""
    return check(_openat2(dir_fd, path, flags, resolve), "openat2", path)


def open_in_root(root_fd: int, path: str, flags: int = O_PATH) -> int:
    """Open ``path`` inside the tree of ``root_fd``, which it cannot leave."""
    fd = _openat2(root_fd, path.lstrip("/") or ".", flags | os.O_CLOEXEC,
                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    return check(fd, "openat2", path)


def _openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    """The call, or -1 with errno set.  With RESOLVE_IN_ROOT or
    RESOLVE_BENEATH the kernel answers EAGAIN when a rename or a mount
    anywhere on the machine raced the walk (it cannot then vouch that ``..``
    stayed inside): the walk is simply made again."""
    raw = cstr(path)
    for _ in range(OPENAT2_TRIES):
        fd = lib.mr_openat2(dir_fd, raw, flags, 0, resolve)
        if fd != -1 or ffi.errno != errno.EAGAIN:
            break
    return fd


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def secure_join(root_fd: int, path: str) -> str:
    """``path`` with every symlink in its parents expanded as the container
    would see it: absolute targets start again at the rootfs, ``..`` stops
    at it.  Missing components are kept as they are (to be created)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links, missing = 0, False
    while parts:
        name = parts.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        if parts and not missing:  # a parent: follow it if it is a link
            fd = open_in_root(root_fd, "/" + "/".join(resolved))
            try:
                target = os.readlink(name, dir_fd=fd)
            except FileNotFoundError:
                target, missing = None, True   # below it, nothing exists to follow
            except OSError:
                target = None                  # EINVAL: not a link
            finally:
                os.close(fd)
            if target is not None:
                links += 1
                if links > 40:
                    raise OSError(40, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
        resolved.append(name)
    return "/" + "/".join(resolved)


def make_target(root_fd: int, path: str, is_dir: bool) -> int:
    """Create the mount point ``path`` inside the rootfs and open it (O_PATH).

    Links among the parents are expanded inside the rootfs first
    (:func:`secure_join`); then each directory is created by ``mkdirat`` on a
    file descriptor of the one above it, so nothing can redirect creation
    outside.  A final component that is a symlink is refused: mounting onto
    a link is how CVE-2021-30465 swapped targets, and the link's target is
    the path the config should name.
    """
    if ".." in path.split("/"):
        raise OSError(22, "mount destination must not contain '..'", path)
    parts = [p for p in secure_join(root_fd, path).split("/") if p]
    cur = "/"
    for i, name in enumerate(parts):
        parent_fd = open_in_root(root_fd, cur)
        try:
            last = i == len(parts) - 1
            try:
                st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                target = os.readlink(name, dir_fd=parent_fd)
                raise OSError(40, f"mount destination is a symlink (to `{target}`); "
                              "name the real path inside the rootfs instead", path)
            if st is None:
                if last and not is_dir:
                    os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644,
                                     dir_fd=parent_fd))
                else:
                    os.mkdir(name, 0o755, dir_fd=parent_fd)
        finally:
            os.close(parent_fd)
        cur = cur.rstrip("/") + "/" + name
    return open_in_root(root_fd, cur)
