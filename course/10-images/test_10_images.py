"""Level 10's checks: an image pulled from a real registry (docker-registry;
busybox pushed with skopeo, the layers made here pushed through the
registry's API), its digests checked, its layers unpacked with their
whiteouts, and hostile layers refused with nothing written outside DIR."""
import gzip
import io
import json
import os
import subprocess
import tarfile
import urllib.request

import pytest

STUDENT_FILE = "image.py"
TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def layer(*entries: tuple) -> bytes:
    """A tar of ``(name, kind, content)``: kind is "file" (content: bytes),
    "dir", "symlink" or "hardlink" (content: the link's target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, content in entries:
            m = tarfile.TarInfo(name)
            m.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                m.size = len(content)
                tar.addfile(m, io.BytesIO(content))
                continue
            m.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                      "hardlink": tarfile.LNKTYPE}[kind]
            m.linkname = content or ""
            tar.addfile(m)
    return buf.getvalue()


def tree(top: str, skip: str = "") -> dict:
    """Every path under ``top`` (but ``skip``) with its type, mode, size and links."""
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            if p == skip or p.startswith(skip + os.sep):
                continue
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_nlink, st.st_mtime_ns)
    return out


def pulled(run, ref: str, dest: str):
    return run("pull", ref, dest, timeout=120)


def last(stderr: str) -> str:
    """What a failed pull said last (a traceback's last line is its error)."""
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def test_busybox_is_pulled_and_runs(run, registry, tmp_path):
    """busybox, pushed by skopeo, pulled and unpacked: its shell is there and runs.
    Look at: fetch_manifest(), Registry.download(), then the traceback's last line."""
    dest = str(tmp_path / "rootfs")
    r = pulled(run, f"{registry.addr}/course/busybox:latest", dest)
    assert r.returncode == 0, last(r.stderr)
    assert os.access(f"{dest}/bin/busybox", os.X_OK)
    assert os.readlink(f"{dest}/bin/sh") == "busybox"
    assert "root:x:0:0" in open(f"{dest}/etc/passwd").read()
    out = subprocess.run([f"{dest}/bin/busybox", "echo", "hello from the image"],
                         capture_output=True, text=True)
    assert out.stdout == "hello from the image\n"


def test_a_docker_schema2_manifest_is_pulled_too(run, registry, tmp_path):
    """The same image in Docker's schema 2 form (skopeo --format v2s2).
    Look at: fetch_manifest(): DOCKER_MANIFEST is an image manifest too."""
    with_docker = str(tmp_path / "layout")
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false",
                    f"docker://{registry.addr}/course/busybox:latest", f"oci:{with_docker}"],
                   check=True, capture_output=True)
    registry.push_layout(with_docker, "course/docker:latest", "--format", "v2s2")
    r = pulled(run, f"{registry.addr}/course/docker:latest", str(tmp_path / "rootfs"))
    assert r.returncode == 0, last(r.stderr)
    assert os.access(tmp_path / "rootfs" / "bin" / "busybox", os.X_OK)


def test_an_index_gives_this_machines_image(run, registry, tmp_path):
    """An index lists one manifest per platform: take this machine's (linux,
    amd64 on x86_64) and fetch it by its digest; the other is another image.
    Look at: fetch_manifest(), the index branch."""
    import platform
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    repo = "course/multi"
    entries = []
    for name, plat in (("foreign", "s390x" if arch != "s390x" else "arm64"), ("native", arch)):
        registry.push_layers(f"{repo}:{name}", [(layer(("platform", "file", name.encode())),
                                                 TAR, None)])
        req = urllib.request.Request(f"http://{registry.addr}/v2/{repo}/manifests/{name}",
                                     method="HEAD", headers={
                                         "Accept": "application/vnd.oci.image.manifest.v1+json"})
        with urllib.request.urlopen(req) as r:
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": r.headers["Docker-Content-Digest"],
                            "size": int(r.headers["Content-Length"]),
                            "platform": {"os": "linux", "architecture": plat}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"http://{registry.addr}/v2/{repo}/manifests/latest", data=index, method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})).close()
    r = pulled(run, f"{registry.addr}/{repo}:latest", str(tmp_path / "rootfs"))
    assert r.returncode == 0, last(r.stderr)
    assert (tmp_path / "rootfs" / "platform").read_text() == "native"


def test_a_tampered_blob_is_refused(run, registry, tmp_path):
    """A blob changed in the registry's storage is refused, before anything is
    unpacked: its bytes no longer have the digest the manifest names.
    Look at: Registry.download(), hashing each chunk as it comes."""
    data = gzip.compress(layer(("etc/secret", "file", os.urandom(4096))))
    manifest = registry.push_layers("course/tampered:latest", [(data, TAR_GZIP, None)])
    path = registry.blob_file(manifest["layers"][0]["digest"])
    with open(path, "r+b") as f:        # one byte changed, the size the same
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = pulled(run, f"{registry.addr}/course/tampered:latest", str(tmp_path / "rootfs"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "digest" in r.stderr, last(r.stderr)
    assert not (tmp_path / "rootfs" / "etc" / "secret").exists()


def test_whiteouts_delete_and_opaque_directories_empty(run, registry, tmp_path):
    """`.wh.NAME` removes NAME; `.wh..wh..opq` empties its directory of what
    lower layers put there (not of this layer's own entries); neither is left
    in DIR.
    Look at: Unpacker.whiteout()."""
    lower = layer(("etc", "dir", None), ("etc/hosts", "file", b"hosts\n"),
                  ("etc/motd", "file", b"first\n"), ("home", "dir", None),
                  ("home/old", "dir", None), ("home/old/file", "file", b"old\n"),
                  ("home/top", "file", b"top\n"))
    upper = layer(("etc/.wh.hosts", "file", b""), ("etc/motd", "file", b"second\n"),
                  ("home", "dir", None), ("home/new", "dir", None),
                  ("home/new/file", "file", b"new\n"), ("home/.wh..wh..opq", "file", b""))
    registry.push_layers("course/layers:latest", [(gzip.compress(lower), TAR_GZIP, None),
                                                  (upper, TAR, None)])
    dest = tmp_path / "rootfs"
    r = pulled(run, f"{registry.addr}/course/layers:latest", str(dest))
    assert r.returncode == 0, last(r.stderr)
    assert (dest / "etc" / "motd").read_text() == "second\n"
    assert not (dest / "etc" / "hosts").exists()
    assert sorted(os.listdir(dest / "home")) == ["new"]
    assert (dest / "home" / "new" / "file").read_text() == "new\n"
    assert not [p for p in tree(str(dest)) if ".wh." in p]


HOSTILE = {
    # name: the layer's entries; OUT is a directory beside DIR (DIR is OUT/../rootfs)
    "dot-dot": lambda out: [("../../escaped", "file", b"pwned\n")],
    "absolute": lambda out: [(f"{out}/escaped", "file", b"pwned\n")],
    "symlink-then-write": lambda out: [("link", "symlink", out),
                                      ("link/escaped", "file", b"pwned\n")],
    "hardlink-outside": lambda out: [("h", "hardlink", "../../outside/secret")],
    "hardlink-through-symlink": lambda out: [("link", "symlink", out),
                                            ("h", "hardlink", "link/secret")],
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_layer_is_refused_and_nothing_is_written_outside(run, registry, tmp_path,
                                                                   attack):
    """`..`, an absolute name, a write or a hard link through a symlink: each
    refused in one line (no traceback), and nothing outside DIR changed.
    Look at: clean_name(), then Unpacker.open_parent() (O_NOFOLLOW, each step)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep\n")
    entries = [("etc", "dir", None), ("etc/ok", "file", b"ok\n")] + HOSTILE[attack](str(outside))
    registry.push_layers(f"course/hostile-{attack}:latest", [(layer(*entries), TAR, None)])
    dest = str(tmp_path / "in" / "rootfs")
    os.makedirs(dest)
    before = tree(str(tmp_path), skip=dest)
    r = pulled(run, f"{registry.addr}/course/hostile-{attack}:latest", dest)
    assert r.returncode != 0, f"the {attack} layer was unpacked: {r.stdout}{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, last(r.stderr)
    assert tree(str(tmp_path), skip=dest) == before, "something outside DIR changed"
    assert (outside / "secret").stat().st_nlink == 1


def test_a_symlink_replaced_by_a_directory_is_not_written_through(run, registry, tmp_path):
    """A lower layer's symlink is replaced by the upper layer's directory, not
    followed: a chmod or a write through the path would land outside DIR
    (CVE-2021-32760). The code is given; your open_parent() must keep it so.
    Look at: Unpacker.write() and set_metadata() (given), Unpacker.open_parent()."""
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    os.chmod(outside, 0o700)
    registry.push_layers("course/relink:latest", [
        (layer(("etc", "symlink", str(outside))), TAR, None),
        (layer(("etc", "dir", None), ("etc/motd", "file", b"hi\n")), TAR, None)])
    dest = tmp_path / "rootfs"
    r = pulled(run, f"{registry.addr}/course/relink:latest", str(dest))
    assert r.returncode == 0, last(r.stderr)
    assert os.path.isdir(dest / "etc") and not os.path.islink(dest / "etc")
    assert (dest / "etc" / "motd").read_text() == "hi\n"
    assert os.listdir(outside) == [] and (os.stat(outside).st_mode & 0o777) == 0o700
