"""A lazily mounted layer (FUSE, lazy/fs.py) equals the same layer unpacked
by minirun, entry for entry, and an overlay of lazy layers equals an
overlay of unpacked ones: types, modes (setuid too), owners, sizes,
contents, link targets, xattrs, whiteouts and opaque directories."""
import gzip
import io
import os
import stat
import subprocess
import tarfile

import pytest

pyfuse3 = pytest.importorskip("pyfuse3", reason="make setup installs pyfuse3")
indexed_gzip = pytest.importorskip("indexed_gzip")

from minirun.engine.images.unpack import unpack  # noqa: E402
from minirun.engine.lazy import fs, index  # noqa: E402
from tests.conftest import is_root  # noqa: E402


def _add(tar, name, kind=tarfile.REGTYPE, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.size = kind, 1700000000, len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _layers(d: str) -> list[str]:
    """Two gzip layers: the second deletes a file and makes a directory opaque."""
    paths = []
    spec = [
        lambda t: [_add(t, "etc/", tarfile.DIRTYPE, mode=0o755),
                   _add(t, "etc/passwd", data=b"root:x:0:0\n", mode=0o644),
                   _add(t, "etc/gone", data=b"deleted above\n", mode=0o600, uid=7, gid=8),
                   _add(t, "opt/keep/old", data=b"hidden by opaque\n", mode=0o644),
                   _add(t, "bin/tool", data=os.urandom(700_000), mode=0o4755),
                   _add(t, "bin/alias", tarfile.LNKTYPE, linkname="bin/tool"),
                   _add(t, "bin/sh", tarfile.SYMTYPE, linkname="tool", mode=0o777),
                   _add(t, "dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
                   _add(t, "data/x", data=b"xattrs\n", mode=0o640, uid=1000, gid=1000,
                        pax_headers={"SCHILY.xattr.user.note": "hi"})],
        lambda t: [_add(t, "etc/.wh.gone"),
                   _add(t, "opt/keep/", tarfile.DIRTYPE, mode=0o750),
                   _add(t, "opt/keep/.wh..wh..opq"),
                   _add(t, "opt/keep/new", data=b"after opaque\n", mode=0o644),
                   _add(t, "etc/passwd", data=b"root:x:0:0\nuser:x:1000:1000\n",
                        mode=0o644)],
    ]
    for i, fill in enumerate(spec):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            fill(t)
        path = os.path.join(d, f"layer{i}.tar.gz")
        with open(path, "wb") as f:
            f.write(gzip.compress(raw.getvalue()))
        paths.append(path)
    return paths


def _walk(root: str) -> dict:
    out = {}
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            item = [st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_nlink if
                    not os.path.isdir(path) or os.path.islink(path) else None,
                    sorted(x for x in os.listxattr(path, follow_symlinks=False)
                           if not x.startswith("security.selinux"))]
            if os.path.islink(path):
                item.append(os.readlink(path))
            elif os.path.isfile(path):
                item += [st.st_size, open(path, "rb").read()]
            out[rel] = item
    return out


@pytest.fixture
def mounted(tmp_path):
    if not is_root():
        pytest.skip("mounting FUSE and overlay here needs root (run `make test` as root)")
    blobs = _layers(str(tmp_path))
    unpacked = []
    for i, blob in enumerate(blobs):
        dest = tmp_path / f"unpacked{i}"
        dest.mkdir()
        with gzip.open(blob) as stream:
            unpack(stream, str(dest))
        unpacked.append(str(dest))
    mnt = tmp_path / "lazy"
    mnt.mkdir()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            layers = []
            for blob in blobs:
                toc, checkpoints = index.build(blob, 64 << 10)
                layers.append((toc, index.Layer(open(blob, "rb"), toc, checkpoints)))
            fs.serve(fs.Tree(layers), str(mnt), ready=lambda: os.write(ready_w, b"1"))
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    yield unpacked, str(mnt)
    subprocess.run(["umount", str(mnt)], check=False)
    os.waitpid(pid, 0)


def test_a_lazy_layer_equals_the_unpacked_one(mounted):
    unpacked, mnt = mounted
    for i, layer in enumerate(unpacked):
        lazy, plain = _walk(os.path.join(mnt, str(i))), _walk(layer)
        assert len(plain) >= 5 and lazy == plain, f"layer {i}"
    assert _walk(os.path.join(mnt, "1"))["opt/keep"][5] == ["trusted.overlay.opaque"]
    whiteout = os.lstat(os.path.join(mnt, "1", "etc", "gone"))
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0


def test_an_overlay_of_lazy_layers_equals_one_of_unpacked_layers(mounted, tmp_path):
    unpacked, mnt = mounted
    trees = []
    for name, lowers in (("plain", unpacked), ("lazy", [f"{mnt}/0", f"{mnt}/1"])):
        target = tmp_path / f"merged-{name}"
        target.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lowers[1]}:{lowers[0]}", str(target)], check=True)
        try:
            trees.append(_walk(str(target)))
        finally:
            subprocess.run(["umount", str(target)], check=True)
    assert trees[0] == trees[1]
    merged = trees[1]
    assert "etc/gone" not in merged and "opt/keep/old" not in merged
    assert merged["opt/keep/new"][-1] == b"after opaque\n"
    assert merged["bin/tool"][0] & 0o7777 == 0o4755 and merged["bin/tool"][4] == 2
    assert merged["data/x"][5] == ["user.note"]
