"""A directory of changes (a container's overlay upper directory) as an
image layer, and as the list `diff` prints.

overlayfs keeps a deletion as a whiteout (a character device 0/0) and a
directory that hides everything below it as an opaque one (the xattr
``trusted.overlay.opaque``, or ``user.overlay.opaque`` where a plain user
mounted it); an OCI layer says the same with ``.wh.NAME`` and
``.wh..wh..opq`` entries.  ``write_layer`` turns one into the other,
keeping owners, modes, times, links and device nodes (tarfile writes them
as it finds them, so a plain user runs it as root of the store's user
namespace: engine/userns.as_root).  Commit uses it now; builds will.
"""
import os
import stat
import tarfile

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")

# What the runtime and create make in a container's root filesystem to mount
# on, where the image has nothing there: none of it is the command's, so
# diff leaves it out (as podman does) and a build's RUN layer drops it.
MOUNT_POINTS = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv",
                "proc", "sys", "dev", "run/secrets")


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def entries(upper: str) -> list[tuple[str, str]]:
    """(path inside, path in the image: "etc/x") of every entry, parents
    first, each directory's entries sorted (a layer's order is stable)."""
    out = []
    for here, dirs, files in os.walk(upper):
        dirs.sort()
        rel = os.path.relpath(here, upper)
        for name in sorted(dirs + files):
            inside = name if rel == "." else os.path.join(rel, name)
            out.append((os.path.join(here, name), inside))
    return out


def changes(upper: str, lowers: list[str]) -> list[list[str]]:
    """podman diff's list: ["A"|"C"|"D", "/path"] (added, changed, deleted),
    by path; ``lowers``: the image's layer directories.  The runtime's
    mount points are not changes (MOUNT_POINTS)."""
    out = []
    for full, inside in entries(upper):
        st = os.lstat(full)
        if is_whiteout(st):
            out.append(["D", "/" + inside])
            continue
        below = any(os.path.lexists(os.path.join(layer, inside)) for layer in lowers)
        if not below and inside in MOUNT_POINTS:
            continue
        out.append(["C" if below else "A", "/" + inside])
    return sorted(out, key=lambda change: change[1])


def write_layer(upper: str, dest: str) -> None:
    """The layer tar of ``upper`` at ``dest`` (uncompressed)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for full, inside in entries(upper):
            st = os.lstat(full)
            if is_whiteout(st):
                parent, name = os.path.split(inside)
                tar.addfile(_marker(os.path.join(parent, WHITEOUT + name), st))
                continue
            tar.add(full, arcname=inside, recursive=False)
            if stat.S_ISDIR(st.st_mode) and is_opaque(full):
                tar.addfile(_marker(os.path.join(inside, OPAQUE), st))


def _marker(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = 0, 0o600, int(st.st_mtime)
    return info
