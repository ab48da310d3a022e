"""transports.py without a registry, root or skopeo: names, format
conversion, and copies between files (oci:, oci-archive:, docker-archive:,
dir:) of a small image made here; a corrupt blob leaves nothing.  The
tests against skopeo and a registry are tests/e2e/test_image_copy.py."""
import gzip
import io
import json
import os
import tarfile

import pytest

from minirun.engine import digest as dg
from minirun.engine.images import archive, transports
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError


def make_layout(path: str, tag: str = "v1") -> bytes:
    """A one-layer OCI layout at ``path``; its manifest's bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    plain = buf.getvalue()
    layer = gzip.compress(plain, mtime=0)
    config = json.dumps({**mf.host_platform(), "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [dg.of_bytes(plain)]}}).encode()
    data = archive.oci_manifest(dg.of_bytes(config), len(config), [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": dg.of_bytes(layer), "size": len(layer)}])
    os.makedirs(f"{path}/blobs/sha256")
    for blob in (layer, config, data):
        with open(f"{path}/blobs/sha256/{dg.of_bytes(blob)[7:]}", "wb") as f:
            f.write(blob)
    with open(f"{path}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(f"{path}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": mf.OCI_MANIFEST, "digest": dg.of_bytes(data), "size": len(data),
             "annotations": {archive.REF_NAME: tag}}]}, f)
    return data


def copy(src: str, dst: str, **kw) -> str:
    return transports.copy(transports.source(src), transports.destination(dst), **kw)


def test_names():
    assert transports.split("docker://localhost:5000/a/b:c") == ("docker", "localhost:5000/a/b:c")
    assert transports.split("oci:/d:t") == ("oci", "/d:t")
    assert transports.split("busybox:latest") == ("containers-storage", "busybox:latest")
    assert transports.split("localhost:5000/x") == ("containers-storage", "localhost:5000/x")
    assert transports.split("containers-storage:x") == ("containers-storage", "x")
    for bad, words in (("docker:x", "docker://"), ("sif:x", "no sif: transport"),
                       ("oci:", "needs a path"), ("containers-storage:[vfs@/x]y", "one store")):
        with pytest.raises(TransportError, match=words):
            transports.split(bad)


def test_convert_keeps_the_blobs():
    oci = archive.oci_manifest("sha256:" + "a" * 64, 3, [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": "sha256:" + "b" * 64, "size": 4}])
    docker = transports.convert(oci, mf.DOCKER_MANIFEST)
    doc = mf.parse(docker)
    assert doc.media_type == mf.DOCKER_MANIFEST and doc.config.media_type == mf.DOCKER_CONFIG
    assert doc.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    back = mf.parse(transports.convert(docker, mf.OCI_MANIFEST))
    assert back.layers == mf.parse(oci).layers and back.config == mf.parse(oci).config
    zstd = oci.replace(b"tar+gzip", b"tar+zstd")
    with pytest.raises(TransportError, match="no name in the v2s2 format"):
        transports.convert(zstd, mf.DOCKER_MANIFEST)


def test_files_to_files_keep_the_manifest(tmp_path):
    data = make_layout(f"{tmp_path}/src")
    digest = dg.of_bytes(data)
    assert copy(f"oci:{tmp_path}/src:v1", f"oci-archive:{tmp_path}/a.tar:t") == digest
    assert copy(f"oci-archive:{tmp_path}/a.tar", f"dir:{tmp_path}/d") == digest
    assert copy(f"dir:{tmp_path}/d", f"oci:{tmp_path}/back:w") == digest
    with open(f"{tmp_path}/back/blobs/sha256/{digest[7:]}", "rb") as f:
        assert f.read() == data
    assert copy(f"oci:{tmp_path}/back:w", f"oci:{tmp_path}/back:x") == digest    # added to
    with open(f"{tmp_path}/back/index.json") as f:
        tags = [e["annotations"][archive.REF_NAME] for e in json.load(f)["manifests"]]
    assert tags == ["w", "x"]
    # a docker-archive: layers uncompressed, read back with a manifest made for them
    copy(f"oci:{tmp_path}/src:v1", f"docker-archive:{tmp_path}/d.tar:x/y:z")
    src = transports.source(f"docker-archive:{tmp_path}/d.tar:x/y:z")
    _, doc = src.manifest()
    config = json.loads(src.config(doc))
    assert [d.digest for d in doc.layers] == config["rootfs"]["diff_ids"]
    said = []
    copy(f"docker-archive:{tmp_path}/d.tar", f"oci:{tmp_path}/from-docker", say=said.append)
    assert said[0] == "Getting image source signatures" and said[-1] == "Storing signatures"
    assert sorted(n for n in os.listdir(tmp_path)) == [
        "a.tar", "back", "d", "d.tar", "from-docker", "src"]


def test_a_corrupt_blob_leaves_nothing(tmp_path):
    data = make_layout(f"{tmp_path}/src")
    layer = json.loads(data)["layers"][0]["digest"]
    with open(f"{tmp_path}/src/blobs/sha256/{layer[7:]}", "r+b") as f:
        f.seek(20)
        f.write(b"\xff")
    make_layout(f"{tmp_path}/other", tag="o")            # a layout to add to
    before = sorted(os.listdir(f"{tmp_path}/other/blobs/sha256"))
    for dest in (f"oci:{tmp_path}/new", f"oci:{tmp_path}/other:x", f"oci-archive:{tmp_path}/a",
                 f"docker-archive:{tmp_path}/d", f"dir:{tmp_path}/dir"):
        if dest.endswith("other:x"):                  # (its blob is the good one: skipped)
            os.unlink(f"{tmp_path}/other/blobs/sha256/{layer[7:]}")
            before.remove(layer[7:])
        with pytest.raises(dg.DigestError, match=f"blob {layer}: content has digest"):
            copy(f"oci:{tmp_path}/src:v1", dest)
    assert sorted(os.listdir(tmp_path)) == ["other", "src"]
    assert sorted(os.listdir(f"{tmp_path}/other/blobs/sha256")) == before
