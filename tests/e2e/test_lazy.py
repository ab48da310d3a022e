"""Lazy layers (issue 8, first part): `minirun lazy index` indexes an
image's gzip layers from the registry, names the ones that cannot be lazy
(zstd), and every file of the layer read through the index equals the
file that was packed."""
import json
import os

import pytest

pytest.importorskip("indexed_gzip", reason="make setup installs indexed_gzip")


def test_lazy_index(mr, registry, images_dir, busybox_rootfs):
    from minirun.lazy import index
    image = f"{registry.addr}/test/busybox:latest"
    r = mr("lazy", "index", "--spacing", "128KiB", image)
    assert r.returncode == 0 and ": lazy: " in r.stdout, r.stderr
    with open(os.path.join(images_dir, "busybox", "index.json")) as f:
        manifest = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(images_dir, "busybox", "blobs", "sha256", manifest)) as f:
        layer = json.load(f)["layers"][0]["digest"]
    where = os.path.join(mr.store, "lazy", "sha256", layer.split(":")[1])
    toc, checkpoints = index.load(where)
    assert toc["spacing"] == 128 << 10
    blob = os.path.join(images_dir, "busybox", "blobs", "sha256", layer.split(":")[1])
    with open(blob, "rb") as source:
        lazy = index.Layer(source, toc, checkpoints)
        files = [e for e in toc["entries"] if e["type"] == "file"]
        assert files
        for e in files:
            with open(os.path.join(busybox_rootfs, e["name"]), "rb") as f:
                assert lazy.read(e["name"], 0, e["size"]) == f.read(), e["name"]
        lazy.close()
    again = mr("lazy", "index", image, check=True)       # kept: not fetched twice
    assert again.stdout == r.stdout
    r = mr("lazy", "index", f"{registry.addr}/test/multi:latest")
    assert r.returncode == 0 and r.stdout.count("not lazy (zstd") == 2, r.stdout
    r = mr("lazy", "index", "--spacing", "1KiB", image)
    assert r.returncode == 125 and "at least" in r.stderr
    r = mr("lazy", "index", "--spacing", "lots", image)
    assert r.returncode == 125 and "give a size" in r.stderr
    r = mr("lazy", "index", f"{registry.addr}/test/none:latest")
    assert r.returncode == 125 and "cannot index" in r.stderr
