"""Lazy layers (issue 8, first part): `minirun lazy index` indexes an
image's gzip layers from the registry, names the ones that cannot be lazy
(zstd), and every file of the layer read through the index equals the
file that was packed."""
import json
import os

import pytest

pytest.importorskip("indexed_gzip", reason="make setup installs indexed_gzip")


def test_lazy_index(mr, registry, images_dir, busybox_rootfs):
    from minirun.engine.lazy import index
    image = f"{registry.addr}/test/busybox:latest"
    r = mr("lazy", "index", "--spacing", "128KiB", image)
    assert r.returncode == 0 and ": lazy: " in r.stdout, r.stderr
    with open(os.path.join(images_dir, "busybox", "index.json")) as f:
        manifest = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(images_dir, "busybox", "blobs", "sha256", manifest)) as f:
        layer = json.load(f)["layers"][0]["digest"]
    where = os.path.join(mr.store, "lazy", "v2", "sha256", layer.split(":")[1])
    toc, windows = index.load(where)
    assert toc["spacing"] == 128 << 10 and len(windows) == toc["windows"]["size"]
    blob = os.path.join(images_dir, "busybox", "blobs", "sha256", layer.split(":")[1])
    with open(blob, "rb") as source:
        lazy = index.Layer(source, toc, windows)
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


def _busybox_layer(images_dir: str) -> tuple[str, int, str]:
    """(digest, size, path) of the busybox image's layer blob."""
    layout = os.path.join(images_dir, "busybox")
    with open(os.path.join(layout, "index.json")) as f:
        manifest = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", manifest)) as f:
        desc = json.load(f)["layers"][0]
    return desc["digest"], desc["size"], os.path.join(layout, "blobs", "sha256",
                                                       desc["digest"].split(":")[1])


def test_files_read_from_the_registry_a_span_at_a_time(images_dir, busybox_rootfs, tmp_path,
                                                       capfd):
    """Range requests against a real registry: a small file costs its span
    (and a window), every file reads right, a span the registry changed is
    refused, and a registry that goes away mid-read gives EIO after a
    bounded wait, said once."""
    import errno
    import time
    from minirun.engine.images.registry import Client
    from minirun.engine.lazy import index
    from minirun.engine.lazy.fetch import RemoteBlob
    from tests.e2e.registry import Registry
    digest, size, blob = _busybox_layer(images_dir)
    toc, windows = index.build(blob, 128 << 10)
    reg = Registry()
    try:
        reg.push(os.path.join(images_dir, "busybox"), "lazy/busybox:latest")
        client = Client(reg.addr, insecure=True)
        remote = RemoteBlob(client, "lazy/busybox", digest, size, str(tmp_path / "cache"),
                            chunk=16 << 10)
        lazy = index.Layer(remote, toc, windows)
        files = sorted((e for e in toc["entries"] if e["type"] == "file" and e["size"]),
                       key=lambda e: e["size"])
        with open(os.path.join(busybox_rootfs, files[0]["name"]), "rb") as f:
            assert lazy.read(files[0]["name"], 0, files[0]["size"]) == f.read()
        print(f"one {files[0]['size']}-byte file: {remote.fetched} of {size} bytes fetched")
        assert remote.fetched <= (128 << 10) < size          # its span: at most 128 KiB
        victim = [e for e in files if not any(lazy.done[i] for i in lazy.spans(e["name"]))][-1]
        at = toc["checkpoints"][lazy.spans(victim["name"])[0]][1]
        remote.ensure(at, at + 100)             # fetched, then changed: the registry lied
        os.pwrite(remote.fd, bytes(100), at)
        try:
            lazy.read(victim["name"], 0, victim["size"])
            raise AssertionError("a span that does not match its digest was used")
        except OSError as e:
            assert "do not match" in str(e)
        lazy.close()
        remote = RemoteBlob(client, "lazy/busybox", digest, size, str(tmp_path / "cache2"))
        lazy = index.Layer(remote, toc, windows)
        for e in files:
            with open(os.path.join(busybox_rootfs, e["name"]), "rb") as f:
                assert lazy.read(e["name"], 0, e["size"]) == f.read(), e["name"]
        lazy.close()
        again = RemoteBlob(client, "lazy/busybox", digest, size, str(tmp_path / "cache2"))
        assert index.Layer(again, toc, windows).read(files[-1]["name"], 0, 100) and \
            again.fetched == 0                                # the cache serves it now
        cold = RemoteBlob(client, "lazy/busybox", digest, size, str(tmp_path / "cold"))
        lazy = index.Layer(cold, toc, windows)
    finally:
        reg.stop()
    started = time.monotonic()
    try:
        lazy.read(files[-1]["name"], 0, files[-1]["size"])
        raise AssertionError("a read with the registry gone succeeded")
    except OSError as e:
        assert e.errno == errno.EIO, e
    assert time.monotonic() - started < 30
    assert capfd.readouterr().err.count("could not be fetched") == 1


def test_indexes_travel_with_the_image(mr, registry, images_dir):
    """--push puts the indexes in the registry as an artifact whose subject
    is the image (the distribution registry has no referrers API: the
    sha256-HEX tag lists it); a store without them takes them from there."""
    import urllib.request
    from tests.e2e.conftest import Minirun
    registry.push(os.path.join(images_dir, "busybox"), "lazy/pushed:latest")
    image = f"{registry.addr}/lazy/pushed:latest"
    r = mr("lazy", "index", "--push", "--spacing", "256KiB", image)
    assert r.returncode == 0 and "pushed the indexes: " in r.stdout, r.stderr
    request = urllib.request.Request(f"http://{registry.addr}/v2/lazy/pushed/manifests/latest",
                                     headers={"Accept": "application/vnd.oci.image.manifest."
                                                        "v1+json"}, method="HEAD")
    subject = urllib.request.urlopen(request).headers["Docker-Content-Digest"]
    request = urllib.request.Request(
        f"http://{registry.addr}/v2/lazy/pushed/manifests/{subject.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    listed = json.loads(urllib.request.urlopen(request).read())["manifests"]
    assert [m["artifactType"] for m in listed] == ["application/vnd.minirun.lazy.index.v2"]
    other = Minirun(mr.rt, mr.conf)
    other.store += "-other"
    r = other("lazy", "index", image)
    assert r.returncode == 0 and "lazy (the registry's index): " in r.stdout, r.stderr
    assert "every 256 KiB" in r.stdout                  # theirs, not built anew here
    r = mr("lazy", "index", "--push", image, check=True)    # again: one referrer, not two
    listed = json.loads(urllib.request.urlopen(request).read())["manifests"]
    assert len(listed) == 1


def test_push_carries_the_indexes(mr, registry):
    """push --lazy-index indexes the image from the store's own blobs and
    pushes the indexes beside it: another store takes them from there."""
    from tests.e2e.conftest import Minirun
    image = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", image, check=True)
    destination = f"{registry.addr}/lazy/carried:latest"
    r = mr("push", "--lazy-index", image, destination)
    assert r.returncode == 0 and "pushed the indexes: " in r.stdout, r.stderr
    other = Minirun(mr.rt, mr.conf)
    other.store += "-carried"
    r = other("lazy", "index", destination)
    assert r.returncode == 0 and "lazy (the registry's index): " in r.stdout, r.stderr


def test_a_forged_index_is_refused(mr, registry, images_dir):
    """An index artifact is whoever pushed it's: one whose table of contents
    is not one, or names a path out of the layer, gets one clear error and
    nothing is kept."""
    import gzip
    from minirun.engine import digest as dg
    from minirun.engine.images.registry import Client
    from minirun.engine.lazy import artifact
    registry.push(os.path.join(images_dir, "busybox"), "lazy/forged:latest")
    image = f"{registry.addr}/lazy/forged:latest"
    client = Client(registry.addr, insecure=True)
    data, _ = client.manifest("lazy/forged", "latest", artifact.OCI_MANIFEST)
    subject = {"mediaType": artifact.OCI_MANIFEST, "digest": dg.of_bytes(data),
               "size": len(data)}
    layer, size, _ = _busybox_layer(images_dir)
    hostile = {"mediaType": "application/vnd.minirun.lazy.toc.v2+json", "compression": "gzip",
               "uncompressedSize": 10, "compressedSize": size, "spacing": 1 << 20,
               "checkpoints": [[0, 10, size, 0, 0, 0, "0" * 64]],
               "windows": {"digest": dg.of_bytes(b""), "size": 0},
               "entries": [{"name": "../../etc/shadow", "type": "file", "mode": 420, "uid": 0,
                            "gid": 0, "size": 1, "mtime": 0, "offset": 0}]}
    for toc, why in ((b"not gzip at all", "not a table of contents minirun can read"),
                     (gzip.compress(json.dumps(hostile).encode()), "climbs out")):
        client.push_blob("lazy/forged", dg.of_bytes(toc), toc, len(toc))
        if not client.has_blob("lazy/forged", artifact.EMPTY["digest"]):
            client.push_blob("lazy/forged", artifact.EMPTY["digest"], b"{}", 2)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": artifact.OCI_MANIFEST,
            "artifactType": artifact.ARTIFACT_TYPE, "config": artifact.EMPTY, "subject": subject,
            "layers": [{"mediaType": "application/vnd.minirun.lazy.toc.v2+json+gzip",
                        "digest": dg.of_bytes(toc), "size": len(toc),
                        "annotations": {artifact.LAYER: layer}}]}).encode()
        client.push_manifest("lazy/forged", dg.of_bytes(manifest), manifest,
                             artifact.OCI_MANIFEST)
        artifact._tag_fallback(client, "lazy/forged", subject["digest"], {
            "mediaType": artifact.OCI_MANIFEST, "digest": dg.of_bytes(manifest),
            "size": len(manifest), "artifactType": artifact.ARTIFACT_TYPE})
        r = mr("lazy", "index", image)
        assert r.returncode == 125 and why in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(mr.store, "lazy", "v2", "sha256",
                                               layer.split(":")[1]))


def _lazy_mounts(*stores) -> list[str]:
    """The lazy mounts of these stores (Minirun objects): their directories
    are <runroot>/lazy/<store's device>-<store's inode>-<image> (lazy/mount.py),
    so another minirun's lazy mounts are not counted."""
    keys = []
    for m in stores:
        st = os.stat(m.store)
        keys.append(f"/lazy/{st.st_dev:x}-{st.st_ino:x}-")
    with open("/proc/self/mountinfo") as f:
        return [line for line in f
                if "minirun-lazy" in line and any(k in line.split()[4] for k in keys)]


def test_run_lazy(mr, registry, images_dir):
    """run --lazy starts from the registry's layers through the lazy mount:
    one mount shared by two containers, gone with the last; a later plain
    run fetches what the background fetcher has not and needs no mount."""
    registry.push(os.path.join(images_dir, "busybox"), "lazy/run:latest")
    image = f"{registry.addr}/lazy/run:latest"
    mr("lazy", "index", "--push", image, check=True)
    other = mr.__class__(mr.rt, mr.conf)
    other.store += "-lazy"                       # a store that has nothing yet
    other.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"          # busybox's 1 MB layer too
    try:
        for name in ("one", "two"):      # made before anything is fetched: both lazy
            other("create", "--lazy", "--name", name, "--network", "none", image,
                  "sleep", "60", check=True)
        for name in ("one", "two"):
            other("start", name, check=True)
        assert len(_lazy_mounts(other)) == 1
        directory = os.path.dirname(_lazy_mounts(other)[0].split()[4])   # <runtime>/lazy/<...>
        r = other("exec", "one", "sh", "-c", "busybox | head -1; ls -ln /bin/busybox")
        assert r.returncode == 0 and r.stdout.startswith("BusyBox v"), r.stderr
        assert r.stdout.splitlines()[1].split()[2:4] == ["0", "0"]   # owners as in the image
        other("rm", "-f", "one", check=True)
        assert len(_lazy_mounts(other)) == 1                       # two still uses it
        other("rm", "-f", "two", check=True)
        assert _lazy_mounts(other) == [] and not os.path.exists(directory)   # its directory too
        r = other("run", "--rm", "--network", "none", image, "true")   # the rest, if any
        assert r.returncode == 0 and len(other.layer_dirs()) == 1 and _lazy_mounts(other) == []
    finally:
        other("rm", "-fa")


def test_a_lazy_layer_is_completed_in_the_background(mr, registry, images_dir):
    """While a lazily started container runs, its layers are fetched whole,
    checked and unpacked: the next start needs no lazy mount."""
    import time
    registry.push(os.path.join(images_dir, "busybox"), "lazy/bg:latest")
    image = f"{registry.addr}/lazy/bg:latest"
    mr("lazy", "index", image, check=True)
    mr.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    mr("run", "-d", "--lazy", "--name", "first", "--network", "none", image, "sleep", "60",
       check=True)
    import sqlite3

    def unpacked() -> int:
        db = sqlite3.connect(os.path.join(mr.store, "store.db"))
        try:
            return db.execute("SELECT COUNT(*) FROM layers").fetchone()[0]
        finally:
            db.close()
    deadline = time.monotonic() + 60
    while not unpacked() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert unpacked() == 1 and len(mr.layer_dirs()) == 1
    mr("run", "-d", "--lazy", "--name", "second", "--network", "none", image, "sleep", "60",
       check=True)
    mr("rm", "-f", "first", check=True)
    assert _lazy_mounts(mr) == []          # the second uses the unpacked layer
    r = mr("exec", "second", "busybox", "true")
    assert r.returncode == 0, r.stderr
    mr("rm", "-f", "second", check=True)


def test_settings_lazy_by_default_and_small_layers_whole(mr, registry, images_dir):
    """MINIRUN_LAZY=1 makes --lazy the default; a layer under
    MINIRUN_LAZY_MIN_SIZE (4 MiB unless set) is fetched whole all the same."""
    registry.push(os.path.join(images_dir, "busybox"), "lazy/settings:latest")
    image = f"{registry.addr}/lazy/settings:latest"
    mr("lazy", "index", image, check=True)
    mr.settings["MINIRUN_LAZY"] = "1"
    mr("run", "-d", "--name", "small", "--network", "none", image, "sleep", "60", check=True)
    assert _lazy_mounts(mr) == [] and len(mr.layer_dirs()) == 1     # 1 MB: fetched whole
    mr("rm", "-fa", check=True)
    mr("rmi", image, check=True)
    mr.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    mr("create", "--name", "lazy", "--network", "none", image, "sleep", "60", check=True)
    mr("start", "lazy", check=True)
    assert len(_lazy_mounts(mr)) == 1 and mr.layer_dirs() == []   # lazily, without --lazy
    mr("rm", "-f", "lazy", check=True)
    assert _lazy_mounts(mr) == []


def test_record_a_start_and_prefetch_it(mr, registry, images_dir):
    """lazy record runs a command once and keeps the files its start read,
    in order, in the index; --push carries them; a cold start fetches their
    spans first (in parallel) and runs."""
    from minirun.engine.lazy import index
    from tests.e2e.conftest import Minirun
    registry.push(os.path.join(images_dir, "busybox"), "lazy/record:latest")
    image = f"{registry.addr}/lazy/record:latest"
    r = mr("lazy", "record", image, "sh", "-c", "cat /etc/passwd >/dev/null")
    assert r.returncode == 0 and "spans read by the start, recorded" in r.stdout, r.stderr
    digest, _, _ = _busybox_layer(images_dir)
    toc, windows = index.load(os.path.join(mr.store, "lazy", "v2", "sha256",
                                           digest.split(":")[1]))
    layer = index.Layer(b"", toc, windows)
    first = layer.spans("bin/busybox")[0]
    assert toc["prefetch"][:1] == [first], toc["prefetch"]     # the shell's first page first
    assert layer.spans("etc/passwd")[0] in toc["prefetch"]
    assert not [n for n in os.listdir(os.path.join(mr.store, "lazy")) if n.startswith("record")]
    mr("lazy", "index", "--push", image, check=True)
    other = Minirun(mr.rt, mr.conf)
    other.store += "-cold"
    other.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    r = other("run", "--rm", "--lazy", "--network", "none", image, "cat", "/etc/passwd")
    assert r.returncode == 0 and r.stdout.startswith("root:"), r.stderr
    assert _lazy_mounts(mr, other) == []                    # run --rm takes its mount down too
    toc, windows = index.load(os.path.join(other.store, "lazy", "v2", "sha256",
                                           digest.split(":")[1]))
    assert toc["prefetch"][:1] == [first]                    # it came with the index
    assert windows is None                  # ... and its windows stayed in the registry
    r = mr("lazy", "record", image, "false")
    assert r.returncode == 125 and "nothing recorded" in r.stderr


def _tree_image(busybox_rootfs: str, tmp_path, compression: str = "gzip") -> str:
    """A two-layer gzip image of busybox plus what overlay must get right:
    a deleted file (whiteout), an opaque directory, a setuid file, a hard
    link and a symlink; its layout."""
    import shutil
    import subprocess
    import sys
    from tests.e2e.conftest import BUILD
    bottom, top = tmp_path / "bottom", tmp_path / "top"
    shutil.copytree(busybox_rootfs, bottom, symlinks=True)
    (bottom / "etc").mkdir(exist_ok=True)
    (bottom / "etc" / "gone").write_text("deleted above\n")
    (bottom / "opt" / "keep").mkdir(parents=True)
    (bottom / "opt" / "keep" / "old").write_text("hidden by the opaque directory\n")
    (bottom / "data").mkdir()
    (bottom / "data" / "tool").write_bytes(os.urandom(3 << 20))     # several spans
    os.chmod(bottom / "data" / "tool", 0o4755)
    os.chown(bottom / "data" / "tool", 7, 8)
    os.link(bottom / "data" / "tool", bottom / "data" / "alias")
    os.symlink("tool", bottom / "data" / "sh")
    (top / "etc").mkdir(parents=True)
    os.mknod(top / "etc" / "gone", 0o600 | 0o20000, os.makedev(0, 0))   # a whiteout
    (top / "opt" / "keep").mkdir(parents=True)
    os.setxattr(top / "opt" / "keep", "trusted.overlay.opaque", b"y")
    (top / "opt" / "keep" / "new").write_text("after the opaque directory\n")
    (top / "data").mkdir()
    (top / "data" / "changed").write_text("second layer\n")
    out = str(tmp_path / "image")
    subprocess.run([sys.executable, BUILD, out, "--layer", str(bottom), "--layer", str(top),
                    "--cmd", "sh", "--compression", compression], check=True, capture_output=True)
    return out


LISTING = ("cd / && find . -xdev ! -path ./proc ! -path ./sys ! -path ./dev ! -path ./run "
           "! -path ./tmp ! -path ./etc/hosts ! -path ./etc/hostname ! -path ./etc/resolv.conf "
           "| sort | while read -r f; do if [ -d \"$f\" ] && [ ! -L \"$f\" ]; then "
           "stat -c '%n %f %u %g' \"$f\"; else stat -c '%n %f %u %g %s %h %N' \"$f\"; fi; "
           "done; find . -xdev -type f ! -path ./etc/hosts ! -path ./etc/hostname "
           "! -path ./etc/resolv.conf | sort | xargs md5sum")


@pytest.mark.parametrize("compression", ["gzip", "zstd-frames"])
def test_a_lazy_root_filesystem_equals_the_unpacked_one(mr, registry, busybox_rootfs,
                                                       tmp_path, compression):
    """Inside the container (so through overlay, as root and as a plain
    user): every path's type, mode, owners, size, link count and link
    target, and every file's content, are the same started lazily as
    started from unpacked layers; the deleted file and the opaque
    directory's old file are not there.  gzip layers, and zstd layers of
    many frames."""
    registry.push(_tree_image(busybox_rootfs, tmp_path, compression), f"lazy/{compression}:1")
    image = f"{registry.addr}/lazy/{compression}:1"
    r = mr("lazy", "index", "--push", "--spacing", "64KiB", image, check=True)
    assert r.stdout.count(": lazy: ") == (2 if compression == "gzip" else 1), r.stdout
    # (the top layer is less than one zstd frame: one frame, fetched whole)
    lazy = mr.__class__(mr.rt, mr.conf)
    lazy.store += "-tree"
    lazy.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    try:
        seen = lazy("run", "--rm", "--lazy", "--network", "none", image, "sh", "-c", LISTING)
        assert seen.returncode == 0, seen.stderr
        assert _lazy_mounts(mr) == []
        unpacked = mr("run", "--rm", "--network", "none", image, "sh", "-c", LISTING)
        assert unpacked.returncode == 0, unpacked.stderr
        assert seen.stdout == unpacked.stdout
        assert "./etc/gone" not in seen.stdout and "./opt/keep/old" not in seen.stdout
        assert "./opt/keep/new" in seen.stdout and "./data/changed" in seen.stdout
        assert "./data/tool 81ed" in seen.stdout and " 2 " in seen.stdout.split(
            "./data/alias ")[1].splitlines()[0]          # setuid; two links
    finally:
        lazy("rm", "-fa")


def test_removed_while_its_layers_are_fetched(mr, registry, images_dir):
    """`rm -f` at any moment of a lazy start, its background fetch and its
    unpacking leaves nothing behind: no mount, no server, and after `rmi`
    no cached bytes; a plain run afterwards fetches and checks the layer."""
    import subprocess
    import time
    registry.push(os.path.join(images_dir, "busybox"), "lazy/rm:latest")
    image = f"{registry.addr}/lazy/rm:latest"
    mr("lazy", "index", "--spacing", "64KiB", image, check=True)
    mr.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    cache = os.path.join(mr.store, "lazy", "cache")
    for pause in (0, 0.5, 1.0, 1.2, 1.4, 2.0):
        mr("run", "-d", "--lazy", "--name", "c", "--network", "none", image, "sleep", "60",
           check=True)
        time.sleep(pause)
        mr("rm", "-f", "c", check=True)
        assert _lazy_mounts(mr) == []
        servers = subprocess.run(["pgrep", "-f", f"minirun.engine.lazy.serve {mr.store} "],
                                 capture_output=True, text=True).stdout
        assert servers == "", servers
        mr("rmi", image, check=True)
        assert not os.path.isdir(cache) or not os.listdir(cache)
        assert mr.layer_dirs() == []
    r = mr("run", "--rm", "--network", "none", image, "busybox", "true")
    assert r.returncode == 0 and len(mr.layer_dirs()) == 1, r.stderr


def test_nothing_left_after_sigkill(mr, registry, images_dir):
    """A lazy server killed with SIGKILL leaves a dead mount that `rm`
    takes down (and the next start replaces); a container whose monitor
    was killed with SIGKILL still takes the mount with it on `rm`."""
    import signal
    import subprocess
    registry.push(os.path.join(images_dir, "busybox"), "lazy/kill:latest")
    image = f"{registry.addr}/lazy/kill:latest"
    mr("lazy", "index", image, check=True)
    mr.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    mr.settings["MINIRUN_LAZY_BACKGROUND"] = "0"      # stays lazy throughout

    def pids(pattern: str) -> list[int]:
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    mr("run", "-d", "--lazy", "--name", "a", "--network", "none", image, "sleep", "60",
       check=True)
    [server] = pids(f"minirun.engine.lazy.serve {mr.store} ")
    os.kill(server, signal.SIGKILL)
    mr("rm", "-f", "a", check=True)
    assert _lazy_mounts(mr) == []
    r = mr("run", "--rm", "--lazy", "--network", "none", image, "busybox", "true")
    assert r.returncode == 0 and _lazy_mounts(mr) == [], r.stderr
    cid = mr("run", "-d", "--lazy", "--name", "b", "--network", "none", image, "sleep", "60",
             check=True).stdout.strip()
    # the monitor, not its keeper (minirun:[EXIT], its parent, of the same command line)
    [monitor] = [p for p in pids(f"minirun.engine.containers.monitor {mr.store} {cid}")
                 if open(f"/proc/{p}/comm").read().strip() == "minirun:[MON]"]
    os.kill(monitor, signal.SIGKILL)
    mr("rm", "-f", "b", check=True)
    assert _lazy_mounts(mr) == [] and pids(f"minirun.engine.lazy.serve {mr.store} ") == []
