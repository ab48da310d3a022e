"""COPY and ADD: files from the context (or another stage) as one layer.

The layer is written as a tar straight from the files, each entry given
the owner and mode the instruction names (``--chown``, ``--chmod``; root
and the file's own mode else), so nothing on the host is chowned, and a
plain user's build writes root-owned files as a root one does.  What the
rules are, as Docker set them and buildah keeps them:

- a source directory's *contents* are copied, not the directory itself;
- several sources (or a wildcard) need a destination directory (ending
  in ``/``); one file goes to the destination's name, or into it when the
  destination ends in ``/`` or is a directory in the image already;
- a relative destination is under the WORKDIR; missing parents are
  made (0755, root), existing ones go into the layer as the image has
  them, found through the image's symlinks (``/bin`` may be ``usr/bin``):
  overlayfs shows the top layer's directory, so a parent written with
  other modes would change ``/tmp``'s 1777;
- ADD of a local tar archive (plain, gzip, bzip2, xz) unpacks it at the
  destination, its entries keeping their owners and modes.

See: the Dockerfile reference, "COPY" and "ADD"
"""
import os
import stat
import tarfile
import time

from minirun.engine.build import BuildError
from minirun.engine.images.rootfs import Rootfs

ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


class Source:
    """One source word's files: ``walk()`` yields (path under the source,
    host path, lstat), the source itself first as ""."""

    def __init__(self, name: str, entries):
        self.name = name
        self.entries = entries

    def walk(self):
        return self.entries()

    def is_dir(self) -> bool:
        for _, _, st in self.walk():
            return stat.S_ISDIR(st.st_mode)
        return False


def owner(chown: str | None, rootfs: Rootfs, where: str) -> tuple[int, int] | None:
    """--chown=USER[:GROUP] as numbers (names from the image's
    /etc/passwd and /etc/group); a user alone gives its number as the group."""
    if not chown:
        return None
    user, _, group = chown.partition(":")
    uid = _number(user, rootfs, "/etc/passwd", where)
    return uid, _number(group, rootfs, "/etc/group", where) if group else uid


def user_ids(user: str, rootfs: Rootfs) -> tuple[int, int]:
    """USER's words as numbers: a name's uid and primary gid from the
    image's /etc/passwd (a group given wins); unknown names are root's."""
    name, _, group = user.partition(":")
    uid = gid = 0
    if name.isdigit():
        uid = gid = int(name)
    elif name:
        for line in (rootfs.read("/etc/passwd") or b"").decode(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == name and fields[2].isdigit():
                uid, gid = int(fields[2]), int(fields[3]) if fields[3].isdigit() else 0
                break
    if group:
        try:
            gid = _number(group, rootfs, "/etc/group", "USER")
        except BuildError:
            pass
    return uid, gid


def _number(name: str, rootfs: Rootfs, table: str, where: str) -> int:
    if name.isdigit():
        return int(name)
    text = (rootfs.read(table) or b"").decode(errors="replace")
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise BuildError(f"{where}: --chown: no {name!r} in the image's {table}; give a number "
                     "or add the name first")


def mode(chmod: str | None, where: str) -> int | None:
    if chmod is None:
        return None
    try:
        value = int(chmod, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise BuildError(f"{where}: --chmod={chmod}: give octal permission bits, e.g. 0755")
    return value


def write_layer(path: str, sources: list[Source], dest: str, rootfs: Rootfs, *,
                ids: tuple[int, int] | None, perms: int | None, unpack: bool,
                where: str, dirs: list[str] = ()) -> None:
    """The layer tar at ``path``: ``sources`` copied to ``dest`` (absolute,
    in the image) by the rules above; first the directories ``dirs``
    (WORKDIRs not made yet)."""
    if len(sources) > 1 and not dest.endswith("/"):
        raise BuildError(f"{where}: with more than one source the destination must be a "
                         "directory ending in /")
    target = rootfs.resolve(dest)
    found = rootfs.entry(target)
    into_dir = dest.endswith("/") or any(s.is_dir() for s in sources) or \
        bool(found and stat.S_ISDIR(found[1].st_mode))
    top = target if into_dir else os.path.dirname(target)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()
        for directory in dirs:
            _parents(tar, rootfs, rootfs.resolve(directory), None, seen)
        _parents(tar, rootfs, top, ids, seen)
        for source in sources:
            if not into_dir:
                _add(tar, target, *next(iter(source.walk()))[1:], ids, perms)
            elif unpack and _is_archive(source):
                _unpack(tar, source, top, where)
            else:
                for rel, full, st in source.walk():
                    if rel == "" and stat.S_ISDIR(st.st_mode):
                        continue            # (its contents, not itself)
                    _add(tar, os.path.join(top, rel or source.name), full, st, ids, perms)


def _parents(tar: tarfile.TarFile, rootfs: Rootfs, directory: str,
             ids: tuple[int, int] | None, seen: set[str]) -> None:
    """The directories down to ``directory``: as the image has them, or
    new (0755, owned by ``ids`` as buildah makes them, else root)."""
    parts = [p for p in directory.split("/") if p]
    for n in range(1, len(parts) + 1):
        inside = "/" + "/".join(parts[:n])
        if inside in seen:
            continue
        seen.add(inside)
        found = rootfs.entry(inside)
        if found and not stat.S_ISDIR(found[1].st_mode):
            raise BuildError(f"`{inside}` in the image is not a directory: copy somewhere else")
        info = tarfile.TarInfo(inside.lstrip("/"))
        info.type = tarfile.DIRTYPE
        if found:
            st = found[1]
            info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
            info.mtime = int(st.st_mtime)
        else:
            info.mode, info.mtime = 0o755, int(time.time())
            info.uid, info.gid = ids or (0, 0)
        tar.addfile(info)


def _add(tar: tarfile.TarFile, name: str, full: str, st: os.stat_result,
         ids: tuple[int, int] | None, perms: int | None) -> None:
    info = tar.gettarinfo(full, arcname=name.lstrip("/"))
    info.uid, info.gid = ids or (0, 0)
    info.uname = info.gname = ""
    if perms is not None and not info.issym():
        info.mode = perms
    if info.isreg():
        with open(full, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _is_archive(source: Source) -> bool:
    rel, full, st = next(iter(source.walk()))
    if not stat.S_ISREG(st.st_mode):
        return False
    with open(full, "rb") as f:
        head = f.read(512)
    return head.startswith(ARCHIVE_MAGIC) or tarfile.is_tarfile(full)


def _unpack(tar: tarfile.TarFile, source: Source, top: str, where: str) -> None:
    """ADD of an archive: its entries under ``top``, as they are."""
    full = next(iter(source.walk()))[1]
    try:
        with tarfile.open(full, "r:*") as archive:
            for member in archive:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if ".." in parts:
                    raise BuildError(f"{where}: {source.name}: the entry {member.name!r} "
                                     "climbs out of the destination; the archive is refused")
                member.name = os.path.join(top, *parts).lstrip("/") if parts else top.lstrip("/")
                if member.islnk():
                    member.linkname = os.path.join(top, member.linkname).lstrip("/")
                tar.addfile(member, archive.extractfile(member) if member.isreg() else None)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BuildError(f"{where}: {source.name} is not an archive minirun can read: {e}") \
            from None
