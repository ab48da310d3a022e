"""--squash: the layers a build added, as one.

The squashed layer is the difference between the finished image and its
base, both read as merged trees (engine/images/rootfs.py): every entry
whose top-most copy is in one of the new layers goes in (a directory an
upper layer made opaque keeps its opaque mark), and every path of the
base that the finished image no longer has becomes a whiteout (one for a
deleted directory, not one per file in it).  Written as root of the
store's user namespace for a plain user, like every layer.
"""
import os
import stat
import tarfile

from minirun.engine.images.layerdiff import OPAQUE, WHITEOUT, is_opaque
from minirun.engine.images.rootfs import Rootfs


def write_layer(path: str, base_layers: list[str], new_layers: list[str]) -> None:
    final, base = Rootfs(base_layers + new_layers), Rootfs(base_layers)
    new = tuple(os.path.join(layer, "") for layer in new_layers)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _compare(tar, final, base, new, "/")


def _compare(tar, final: Rootfs, base: Rootfs, new: tuple, directory: str) -> None:
    names = final.listdir(directory)
    for name in names:
        inside = os.path.join(directory, name)
        host, st = final.entry(inside)
        if host.startswith(new):
            tar.add(host, arcname=inside.lstrip("/"), recursive=False)
            if stat.S_ISDIR(st.st_mode) and is_opaque(host):
                marker = tarfile.TarInfo(os.path.join(inside, OPAQUE).lstrip("/"))
                tar.addfile(marker)
                _all(tar, final, inside)
                continue
        if stat.S_ISDIR(st.st_mode):
            _compare(tar, final, base, new, inside)
    if base.entry(directory) is not None and stat.S_ISDIR(base.entry(directory)[1].st_mode):
        for gone in sorted(set(base.listdir(directory)) - set(names)):
            marker = tarfile.TarInfo(os.path.join(directory, WHITEOUT + gone).lstrip("/"))
            tar.addfile(marker)


def _all(tar, final: Rootfs, directory: str) -> None:
    """Everything under an opaque directory, from wherever it comes."""
    for inside, host, _st in final.walk(directory):
        if inside != directory:
            tar.add(host, arcname=inside.lstrip("/"), recursive=False)
