"""Unpacking a tar layer into an overlay layer directory, safely.

A layer is a tar stream of changes: files, links, devices, and *whiteouts*
(``.wh.NAME``: NAME was deleted; ``.wh..wh..opq``: the directory replaces
the one below).  In overlay form a whiteout is a 0:0 character device and an
opaque directory carries the ``overlay.opaque`` xattr (``trusted.`` as root,
``user.`` for a rootless overlay mounted with ``userxattr``).

Nothing is written outside the layer directory, whatever the tar says.
Every path is opened from the layer's directory fd with
``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)``: ``..`` cannot climb out,
absolute names are made relative, and an entry that would pass through a
symlink (a link written earlier by the same tar) is refused rather than
followed.  Modes, owners and times are set through the file's own fd
(``fchmod``), never through a path a symlink could redirect
(CVE-2021-32760).  The tar module's ``extractall`` is never used.

See: image-spec layer.md, overlayfs documentation ("whiteouts and opaque
directories"), openat2(2)
"""
import errno
import os
import shutil
import stat
import tarfile

from minirun.errors import MiniRunError

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class HostileLayer(MiniRunError):
    """A layer tries to write outside itself or is malformed on purpose.
    The image is not safe to use; nothing outside the layer was touched."""


class Report:
    def __init__(self):
        self.skipped_devices: list[str] = []
        self.entries = 0


def _openat2(dir_fd: int, path: str, flags: int) -> int:
    from minirun.kernel import mounts   # openat2 lives with the other path primitives
    return mounts.openat2(dir_fd, path, flags | os.O_CLOEXEC,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)


def clean_name(name: str) -> list[str]:
    """The components of a tar name inside the layer; refuse `..`."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise HostileLayer(f"layer entry `{name}` climbs out with `..`")
    return parts


class Unpacker:
    def __init__(self, root: str, rootless: bool = False):
        self.root = root
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.rootless = rootless
        self.opaque_xattr = "user.overlay.opaque" if rootless else "trusted.overlay.opaque"
        self.report = Report()
        self.dirs: list[tuple[list[str], tarfile.TarInfo]] = []
        # The last parent directory opened, kept: a tar lists a directory's
        # entries together.  Forgotten whenever anything is removed, so a
        # directory replaced by a symlink is never written through.
        self.cached: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        self.forget()
        os.close(self.root_fd)

    def forget(self) -> None:
        if self.cached:
            os.close(self.cached[1])
            self.cached = None

    # --- directories -------------------------------------------------------

    def parent(self, parts: list[str], name: str) -> int:
        """An fd of the entry's parent directory, made if missing."""
        key = tuple(parts[:-1])
        if self.cached and self.cached[0] == key:
            return os.dup(self.cached[1])
        fd = self._walk(parts, name)
        self.forget()
        self.cached = (key, os.dup(fd))
        return fd

    def _walk(self, parts: list[str], name: str) -> int:
        fd = os.dup(self.root_fd)
        for comp in parts[:-1]:
            try:
                nfd = _openat2(fd, comp, os.O_RDONLY | os.O_DIRECTORY)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = _openat2(fd, comp, os.O_RDONLY | os.O_DIRECTORY)
                elif e.errno in (errno.ELOOP, errno.EXDEV):
                    os.close(fd)
                    raise HostileLayer(f"layer entry `{name}` would be written through the "
                                       f"symlink `{comp}`: refused") from None
                elif e.errno == errno.ENOTDIR:
                    os.close(fd)
                    raise HostileLayer(f"layer entry `{name}`: `{comp}` is not a "
                                       "directory") from None
                else:
                    os.close(fd)
                    raise
            os.close(fd)
            fd = nfd
        return fd

    # --- one entry ---------------------------------------------------------

    def add(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_name(m.name)
        self.report.entries += 1
        if not parts:
            if m.isdir():
                self.dirs.append((parts, m))
                return
            raise HostileLayer(f"layer entry `{m.name}` would replace the layer's root with a "
                               f"{'symlink' if m.issym() else 'non-directory'} (CVE-2021-29136)")
        base = parts[-1]
        if base.startswith(WHITEOUT):
            self.whiteout(parts, m.name)
            return
        pfd = self.parent(parts, m.name)
        try:
            self.replace_existing(pfd, base, m)
            if m.isdir():
                try:
                    os.mkdir(base, 0o700, dir_fd=pfd)
                except FileExistsError:
                    pass
                self.dirs.append((parts, m))
            elif m.isreg():
                self.regular(tar, m, pfd, base)
            elif m.issym():
                os.symlink(m.linkname, base, dir_fd=pfd)
                self.owner_and_times(pfd, base, m, follow=False)
            elif m.islnk():
                self.hardlink(m, pfd, base)
            elif m.ischr() or m.isblk() or m.isfifo():
                self.device(m, pfd, base)
            else:
                raise HostileLayer(f"layer entry `{m.name}` has an unknown type {m.type!r}")
        finally:
            os.close(pfd)

    def replace_existing(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode) and m.isdir():
            return
        self.forget()
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(base, dir_fd=pfd)   # the fd-based walk: follows no symlink
        else:
            os.unlink(base, dir_fd=pfd)

    def regular(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            src = tar.extractfile(m)
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                os.write(fd, chunk)
            self.metadata_fd(fd, m)
        finally:
            os.close(fd)

    def hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        target = clean_name(m.linkname)
        if not target:
            raise HostileLayer(f"layer entry `{m.name}` links to the layer root")
        tpfd = self.parent(target, m.linkname)
        try:
            try:
                st = os.stat(target[-1], dir_fd=tpfd, follow_symlinks=False)
            except FileNotFoundError:
                raise HostileLayer(f"layer entry `{m.name}` is a hard link to `{m.linkname}`, "
                                   "which is not in this layer") from None
            if stat.S_ISDIR(st.st_mode):
                raise HostileLayer(f"layer entry `{m.name}` is a hard link to a directory")
            os.link(target[-1], base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tpfd)

    def device(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        try:
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor) if not m.isfifo()
                     else 0, dir_fd=pfd)
        except PermissionError:
            if not self.rootless:
                raise
            self.report.skipped_devices.append("/" + "/".join(clean_name(m.name)))
            return
        self.owner_and_times(pfd, base, m, follow=False)
        fd = _openat2(pfd, base, os.O_PATH)
        try:
            os.chmod(f"/proc/self/fd/{fd}", m.mode & 0o7777)
        finally:
            os.close(fd)

    def whiteout(self, parts: list[str], name: str) -> None:
        base = parts[-1]
        pfd = self.parent(parts, name)
        try:
            if base == OPAQUE:
                os.setxattr(pfd, self.opaque_xattr, b"y")
                return
            hidden = base[len(WHITEOUT):]
            if not hidden or hidden in (".", ".."):
                raise HostileLayer(f"layer entry `{name}` is a whiteout of nothing")
            self.forget()
            try:
                st = os.stat(hidden, dir_fd=pfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(hidden, dir_fd=pfd)
                else:
                    os.unlink(hidden, dir_fd=pfd)
            except FileNotFoundError:
                pass
            os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        finally:
            os.close(pfd)

    # --- metadata ----------------------------------------------------------

    def metadata_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        """Owner, then mode (chown clears set-uid bits), xattrs, times."""
        os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                attr = key[len("SCHILY.xattr."):]
                raw = value.encode("utf-8", "surrogateescape")
                try:
                    os.setxattr(fd, attr, raw)
                except OSError as e:
                    if attr.startswith("security.") and e.errno in (errno.EPERM, errno.ENOTSUP):
                        continue   # e.g. an SELinux label this host does not use
                    raise
        os.utime(fd, ns=(int(m.mtime * 1e9),) * 2)

    def owner_and_times(self, pfd: int, base: str, m: tarfile.TarInfo, follow: bool) -> None:
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=follow)
        os.utime(base, ns=(int(m.mtime * 1e9),) * 2, dir_fd=pfd, follow_symlinks=follow)

    def finish_dirs(self) -> None:
        """Directories last, deepest first: adding entries changes their mtime,
        and a 0500 directory must still accept its children meanwhile."""
        for parts, m in sorted(self.dirs, key=lambda d: len(d[0]), reverse=True):
            if parts:
                pfd = self.parent(parts, m.name)
                try:
                    fd = _openat2(pfd, parts[-1], os.O_RDONLY | os.O_DIRECTORY)
                finally:
                    os.close(pfd)
            else:
                fd = os.dup(self.root_fd)
            try:
                self.metadata_fd(fd, m)
            finally:
                os.close(fd)


def unpack(stream, dest: str, rootless: bool = False) -> Report:
    """Unpack the tar read from ``stream`` into the directory ``dest``."""
    u = Unpacker(dest, rootless)
    try:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|", errorlevel=2, bufsize=1 << 20)
            for member in tar:
                u.add(tar, member)
        except tarfile.TarError as e:
            raise HostileLayer(f"layer is not a valid tar stream: {e}") from None
        u.finish_dirs()
    finally:
        u.close()
    return u.report
