"""export: a container's whole filesystem as one tar (podman export).

Its files are its image's layers under its own changes.  overlayfs merges
them as the container sees them, whiteouts included, when the changes are
mounted as the top lower layer of a read-only overlay; that mount is made
in a child with a mount namespace of its own (a plain user's: in the
store's user namespace, where the owners are the container's), so it can
never outlive the command, and the tar is written from it.
"""
import os
import tarfile
import tempfile

from minirun.engine import userns
from minirun.engine.containers import records as ct
from minirun.engine.store import Store


def export(store: Store, name: str, output: str | None) -> None:
    """The tar to ``output`` (None: our stdout)."""
    rec = ct.find(store, name)
    upper = os.path.join(ct.container_dir(store, rec["id"]), "upper")
    lowers = [upper] + [store.layer_dir(d) for d, _ in
                        reversed(store.image_layers(rec["image_id"]))]
    userns.in_child(_write_merged, lowers, os.path.abspath(output) if output else None,
                    userns.needed())


def _write_merged(lowers: list[str], output: str | None, userxattr: bool) -> None:
    """In a child: mount the merged view privately, and tar it."""
    from minirun.engine.images.layerdiff import entries
    from minirun.kernel import mounts, namespaces
    namespaces.unshare(namespaces.CLONE_NEWNS)
    mounts.mount(None, "/", None, mounts.MS_REC | mounts.MS_PRIVATE)
    target = tempfile.mkdtemp(prefix="minirun-export-")
    try:
        mounts.mount("overlay", target, "overlay", mounts.MS_RDONLY,
                     "lowerdir=" + ":".join(lowers) + (",userxattr" if userxattr else ""))
        out = open(output, "wb") if output else open(1, "wb", closefd=False)
        with out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for full, inside in entries(target):
                tar.add(full, arcname=inside, recursive=False)
    finally:
        try:
            mounts.umount2(target, 2)           # MNT_DETACH
        except OSError:
            pass
        os.rmdir(target)
