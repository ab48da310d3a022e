"""`image copy` between skopeo's transports and `image inspect` of an image
where it lies, checked against skopeo itself both ways: what minirun
writes skopeo reads, what skopeo writes minirun reads, manifests kept byte
for byte where the format is the same, and a corrupt blob refused with one
line and nothing left behind.  Root and rootless (skopeo runs as root)."""
import json
import os
import subprocess

import pytest

LINES = ["Getting image source signatures", "Copying blob", "Copying config",
         "Writing manifest to image destination", "Storing signatures"]


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["skopeo", *args], capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {r.stderr.decode()}")
    return r


def raw(ref: str) -> bytes:
    return skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout


def files_under(path: str) -> set[str]:
    out = set()
    for d, dirs, files in os.walk(path):
        out.update(os.path.relpath(os.path.join(d, n), path) for n in dirs + files)
    return out


def shape(report: str) -> list[str]:
    """The report's lines, digests dropped: what skopeo says, step by step."""
    return [next(p for p in LINES if line.startswith(p)) for line in report.splitlines()]


def test_registry_to_oci_keeps_the_manifest_and_skopeo_reads_it(mr, registry):
    src = f"docker://{registry.addr}/test/busybox:latest"
    mine, theirs = (os.path.join(mr.rt.scratch, n) for n in ("mine", "theirs"))
    r = mr("image", "copy", "--src-tls-verify=false", src, f"oci:{mine}:v1")
    assert r.returncode == 0, r.stderr
    ours = skopeo("copy", "--src-tls-verify=false", src, f"oci:{theirs}:v1").stdout.decode()
    assert r.stdout.splitlines()[1:3] == ours.splitlines()[1:3]      # the same digests
    assert shape(r.stdout) == shape(ours) == LINES
    served = raw(src)
    with open(f"{mine}/index.json") as f:
        [entry] = json.load(f)["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    with open(f"{mine}/blobs/sha256/{entry['digest'][7:]}", "rb") as f:
        assert f.read() == served                      # the registry's bytes, unchanged
    assert files_under(f"{mine}/blobs") == files_under(f"{theirs}/blobs")
    info = json.loads(skopeo("inspect", f"oci:{mine}:v1").stdout)
    assert info["Digest"] == entry["digest"]
    # skopeo reads every blob again (checking each digest) on a copy out of it
    skopeo("copy", "-q", f"oci:{mine}:v1", f"oci-archive:{mr.rt.scratch}/back.tar")
    # a Docker schema 2 manifest goes into a layout as OCI's: the same blobs
    r = mr("image", "copy", "-q", f"docker://{registry.addr}/test/docker", f"oci:{mine}:d")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    info = json.loads(skopeo("inspect", "--raw", f"oci:{mine}:d").stdout)
    assert info["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert skopeo("inspect", f"oci:{mine}:v1").stdout != b""    # the first image is kept


def test_registry_to_registry_keeps_the_bytes(mr, registry):
    """An OCI manifest and a Docker schema 2 one cross unchanged (their
    digests too), as skopeo copies them without --format."""
    for name in ("busybox", "docker"):
        src = f"docker://{registry.addr}/test/{name}"
        dest = f"docker://{registry.addr}/copied-{mr.rt.mode}/{name}:v1"
        r = mr("image", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dest)
        assert r.returncode == 0, r.stderr
        assert shape(r.stdout) == LINES
        assert raw(dest) == raw(src)
    # --format: the other format's media types, the same blobs; --digestfile
    dest = f"docker://{registry.addr}/copied-{mr.rt.mode}/as-v2s2:v1"
    digestfile = os.path.join(mr.rt.scratch, "digest")
    mr("image", "copy", "-q", "-f", "v2s2", "--digestfile", digestfile,
       f"docker://{registry.addr}/test/busybox", dest, check=True)
    got, served = json.loads(raw(dest)), json.loads(raw(f"docker://{registry.addr}/test/busybox"))
    assert got["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert [d["digest"] for d in got["layers"]] == [d["digest"] for d in served["layers"]]
    with open(digestfile) as f:
        assert f.read() == json.loads(skopeo("inspect", "--tls-verify=false", dest).stdout)[
            "Digest"]
    r = mr("image", "copy", "-f", "v2s2", f"docker://{registry.addr}/test/busybox",
           f"oci:{mr.rt.scratch}/never")
    assert r.returncode == 125 and "holds oci manifests only" in r.stderr
    assert not os.path.exists(f"{mr.rt.scratch}/never")
    r = mr("image", "copy", "--dest-tls-verify=true", f"docker://{registry.addr}/test/busybox",
           f"docker://{registry.addr}/copied-{mr.rt.mode}/tls:v1")
    assert r.returncode == 125 and "TLS" in r.stderr and len(r.stderr.splitlines()) == 1


def test_all_keeps_an_index_byte_for_byte(mr, registry):
    """--all: every image an index lists, then the index as it was served
    (its digest too), said as skopeo says it; the store holds no index."""
    src = f"docker://{registry.addr}/test/indexed"
    layout = os.path.join(mr.rt.scratch, "all")
    r = mr("image", "copy", "--all", src, f"oci:{layout}:v1")
    assert r.returncode == 0, r.stderr
    theirs = skopeo("copy", "--all", "--src-tls-verify=false", src,
                    f"oci:{mr.rt.scratch}/theirs-all:v1").stdout.decode()
    assert r.stdout == theirs
    assert files_under(f"{layout}/blobs") == files_under(f"{mr.rt.scratch}/theirs-all/blobs")
    dest = f"docker://{registry.addr}/all-{mr.rt.mode}/indexed:v1"
    mr("image", "copy", "-q", "--all", f"oci:{layout}:v1", dest, check=True)
    assert raw(dest) == raw(src)
    skopeo("copy", "-q", "--all", "--src-tls-verify=false", dest, f"dir:{mr.rt.scratch}/d")
    r = mr("image", "copy", "--all", src, "containers-storage:indexed")
    assert r.returncode == 125 and "cannot hold an index" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(mr.store, "store.db")) or mr.images() == []


def test_what_skopeo_writes_minirun_reads(mr, registry):
    """skopeo's oci:, oci-archive: and docker-archive: go into the store (and
    run), and from skopeo's archive to a registry that skopeo reads."""
    src = f"docker://{registry.addr}/test/busybox"
    s = mr.rt.scratch
    skopeo("copy", "-q", "--src-tls-verify=false", src, f"oci:{s}/sk-oci:t")
    skopeo("copy", "-q", "--src-tls-verify=false", src, f"oci-archive:{s}/sk.oci.tar")
    skopeo("copy", "-q", "--src-tls-verify=false", src,
           f"docker-archive:{s}/sk.docker.tar:foo/bar:v1")
    for source, name in ((f"oci:{s}/sk-oci:t", "from-oci"),
                         (f"oci-archive:{s}/sk.oci.tar", "containers-storage:from-archive:v2"),
                         (f"docker-archive:{s}/sk.docker.tar:foo/bar:v1", "from-docker")):
        r = mr("image", "copy", source, name)
        assert r.returncode == 0, r.stderr
        assert shape(r.stdout) == LINES
    names = sorted(n for i in mr.images() for n in i["Names"])
    assert names == ["localhost/from-archive:v2", "localhost/from-docker:latest",
                     "localhost/from-oci:latest"]
    r = mr("run", "--rm", "from-docker", "echo", "copied")
    assert r.returncode == 0 and r.stdout.strip() == "copied", r.stderr
    dest = f"docker://{registry.addr}/from-skopeo-{mr.rt.mode}/bb:v1"
    mr("image", "copy", "-q", f"oci-archive:{s}/sk.oci.tar", dest, check=True)
    assert raw(dest) == raw(src)
    skopeo("copy", "-q", "--src-tls-verify=false", dest, f"oci:{s}/back")


def test_what_minirun_writes_skopeo_reads(mr, img, registry):
    """From the store to oci:, oci-archive:, docker-archive: and dir:; skopeo
    copies each out again (checking every blob) and sees the same image."""
    s = mr.rt.scratch
    served = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{img}").stdout)
    config = skopeo("inspect", "--tls-verify=false", "--config", "--raw",
                    f"docker://{img}").stdout
    for dest in (f"oci:{s}/m-oci:v1", f"oci-archive:{s}/m.oci.tar:v1",
                 f"docker-archive:{s}/m.docker.tar:foo/bar:v1", f"dir:{s}/m-dir"):
        r = mr("image", "copy", img, dest)
        assert r.returncode == 0, r.stderr
        assert shape(r.stdout) == LINES
        info = json.loads(skopeo("inspect", dest).stdout)
        assert skopeo("inspect", "--config", "--raw", dest).stdout == config
        if dest.startswith("docker-archive:"):     # layers go uncompressed, as skopeo's
            assert info["Layers"] == json.loads(config)["rootfs"]["diff_ids"]
        else:                                     # the pulled manifest, byte for byte
            assert info["Digest"] == served["Digest"] and info["Layers"] == served["Layers"]
        skopeo("copy", "-q", dest, f"oci:{s}/skopeo-again:{dest.split(':')[0]}")
    with open(f"{s}/m-dir/version") as f:
        assert f.read() == "Directory Transport Version: 1.1\n"
    out = subprocess.run(["tar", "xOf", f"{s}/m.docker.tar", "manifest.json"],
                         capture_output=True, check=True).stdout
    assert json.loads(out)[0]["RepoTags"] == ["docker.io/foo/bar:v1"]


def test_the_store_to_a_layout_and_back_runs(mr, img):
    layout = os.path.join(mr.rt.scratch, "layout")
    mr("image", "copy", "-q", img, f"oci:{layout}:v1", check=True)
    mr("image", "copy", "-q", f"oci:{layout}:v1", "containers-storage:again:v1", check=True)
    mr("image", "copy", "-q", f"oci:{layout}", "again2", check=True)   # its only image
    [image] = mr.images()          # the same config: the same image, three names
    assert sorted(image["Names"]) == sorted([img, "localhost/again:v1",
                                             "localhost/again2:latest"])
    r = mr("run", "--rm", "again2", "sh", "-c", "echo from-a-layout")
    assert r.returncode == 0 and r.stdout.strip() == "from-a-layout", r.stderr
    with open(f"{layout}/index.json") as f:
        digest = json.load(f)["manifests"][0]["digest"]
    got = subprocess.run(mr.argv("image", "inspect", "--raw", "again2"), capture_output=True,
                         env=mr.env(), check=True).stdout
    with open(f"{layout}/blobs/sha256/{digest[7:]}", "rb") as f:
        assert got == f.read()                   # the store's manifest, as the layout's


def test_a_registry_into_the_store_runs(mr, registry):
    """Two layers, zstd and an opaque directory, unpacked where the store is
    written (rootless: as root of the user namespace)."""
    r = mr("image", "copy", f"docker://{registry.addr}/test/multi", "containers-storage:multi")
    assert r.returncode == 0, r.stderr
    assert shape(r.stdout) == LINES[:2] + LINES[1:]              # two blobs
    r = mr("run", "--rm", "multi", "sh", "-c", "cat /etc/motd; ls /home")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["second layer", "new"]       # /home made opaque
    [image] = mr.images()
    assert image["Digest"] == json.loads(skopeo(
        "inspect", "--tls-verify=false", f"docker://{registry.addr}/test/multi").stdout)["Digest"]


def test_inspect_without_pulling_as_skopeo(mr, registry):
    for name in ("busybox", "docker", "indexed"):
        ref = f"docker://{registry.addr}/test/{name}"
        r = mr("image", "inspect", ref)
        assert r.returncode == 0, r.stderr
        ours = json.loads(r.stdout)
        theirs = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
        assert {k: ours[k] for k in theirs} == theirs
        assert [d["Digest"] for d in ours["LayersData"]] == ours["Layers"]
        got = subprocess.run(mr.argv("image", "inspect", "--raw", ref), capture_output=True,
                             env=mr.env(), check=True).stdout
        assert got == raw(ref)                    # an index's bytes, for test/indexed
        got = subprocess.run(mr.argv("image", "inspect", "--config", "--raw", ref),
                             capture_output=True, env=mr.env(), check=True).stdout
        assert got == skopeo("inspect", "--tls-verify=false", "--config", "--raw", ref).stdout
    r = mr("image", "inspect", f"docker://{registry.addr}/test/nothing")
    assert r.returncode == 125 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "not found" in r.stderr


def test_a_corrupt_blob_is_one_error_and_leaves_nothing(mr, registry):
    """A blob whose bytes do not match its digest is refused at its last
    chunk, whatever the destination: one line, and every destination as it
    was (a layout added to keeps its index and blobs; the registry has no
    manifest; the store no blob)."""
    s = mr.rt.scratch
    bad = f"{s}/bad"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.addr}/test/busybox",
           f"oci:{bad}:x")
    with open(f"{bad}/index.json") as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(f"{bad}/blobs/sha256/{mdigest[7:]}") as f:
        layer = json.load(f)["layers"][0]["digest"]
    with open(f"{bad}/blobs/sha256/{layer[7:]}", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    existing = f"{s}/existing"
    mr("image", "copy", "-q", f"docker://{registry.addr}/test/multi", f"oci:{existing}:m",
       check=True)
    before = files_under(s)
    with open(f"{existing}/index.json", "rb") as f:
        index = f.read()
    pushed = f"docker://{registry.addr}/corrupt-{mr.rt.mode}/x:v1"
    for dest in (f"oci:{s}/new", f"oci:{existing}:bb", f"oci-archive:{s}/a.tar",
                 f"docker-archive:{s}/d.tar", f"dir:{s}/dir", pushed, "containers-storage:bad"):
        r = mr("image", "copy", f"oci:{bad}:x", dest)
        assert r.returncode == 125, (dest, r.stderr)
        [line] = r.stderr.splitlines()
        assert f"blob {layer}: content has digest" in line and "corrupt" in line, line
        assert {p for p in files_under(s) if not p.startswith("store")} == \
            {p for p in before if not p.startswith("store")}, dest
    with open(f"{existing}/index.json", "rb") as f:
        assert f.read() == index
    assert skopeo("inspect", "--tls-verify=false", pushed, check=False).returncode != 0
    assert mr.images() == [] and os.listdir(os.path.join(mr.store, "blobs", "sha256")) == []


def test_bad_names_are_one_line_each(mr, img):
    s = mr.rt.scratch
    os.makedirs(f"{s}/full")
    with open(f"{s}/full/keep", "w") as f:
        f.write("mine\n")
    mr.rt.chown(f"{s}/full")
    mr("image", "copy", "-q", img, f"oci:{s}/two:a", check=True)
    mr("image", "copy", "-q", img, f"oci:{s}/two:b", check=True)
    mr("image", "copy", "-q", img, f"oci-archive:{s}/whole.tar", check=True)
    with open(f"{s}/whole.tar", "rb") as f, open(f"{s}/cut.tar", "wb") as out:
        out.write(f.read(os.path.getsize(f"{s}/whole.tar") // 2))
    cases = [
        (img, "docker:localhost/x", "write docker://"),
        ("docker-daemon:x", "y", "no docker-daemon: transport"),
        (f"oci:{s}/nowhere", "y", "does not exist"),
        (f"oci:{s}/two", "y", "2 images in the layout: name one"),
        (f"oci:{s}/two:c", "y", "no image tagged 'c'"),
        (f"oci-archive:{s}/two", "y", "is a directory"),
        (img, f"dir:{s}/full", "exists and is not empty"),
        (img, f"oci:{s}/full", "is not an OCI layout"),
        (img, f"docker-archive:{s}/no/such/x.tar", "does not exist"),
        (img, f"docker-archive:{s}/x.tar:foo@sha256:{'0' * 64}", "by tag, not by digest"),
        (img, "docker://no-registry-name", "name the registry"),
        (img, "containers-storage:[overlay@/x]y", "drop the [driver@root] part"),
        ("nothing-here", f"oci:{s}/o", "not in the store"),
        (f"oci-archive:{s}/cut.tar", f"oci:{s}/o", "is truncated or corrupt"),
    ]
    for src, dest, words in cases:
        r = mr("image", "copy", src, dest)
        assert r.returncode == 125 and words in r.stderr, (src, dest, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    with open(f"{s}/full/keep") as f:
        assert f.read() == "mine\n"                  # nothing not named is touched
    assert not [n for n in os.listdir(s) if n.endswith(".tmp") or n in ("o", "x.tar")]


@pytest.mark.parametrize("where", ["docker", "oci"])
def test_copy_time_against_skopeo(mr, registry, where, record_property):
    """The figure the docs quote: busybox registry->oci (or registry->registry)
    by minirun and by skopeo, measured here in the same run."""
    import time
    if mr.rt.rootless:
        pytest.skip("timed once, as root")
    src = f"docker://{registry.addr}/test/big"
    times = {}
    for tool in ("minirun", "skopeo"):
        dest = (f"oci:{mr.rt.scratch}/{tool}" if where == "oci" else
                f"docker://{registry.addr}/timed-{tool}/big:v1")
        argv = mr.argv("image", "copy", "-q", src, dest) if tool == "minirun" else \
            ["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
             src, dest]
        start = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True, env=mr.env(), timeout=120)
        times[tool] = time.monotonic() - start
    record_property("seconds", times)
    print(f"\nbig (48 MiB) registry->{where}: minirun {times['minirun']:.2f} s, "
          f"skopeo {times['skopeo']:.2f} s")
    assert times["minirun"] < max(10 * times["skopeo"], 5.0)
