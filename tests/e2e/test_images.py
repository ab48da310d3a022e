"""Images from a real registry: pull, push, tags, removal, archives, and
what goes wrong on purpose.  Root and rootless."""
import json
import os
import signal
import stat
import subprocess
import time

import pytest


def test_pull_inspect_tag_rmi(mr, registry):
    name = f"{registry.addr}/test/busybox:latest"
    r = mr("pull", "-q", name)
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    [img] = mr.images()
    assert img["Id"] == image_id and img["Names"] == [name]
    [info] = json.loads(mr("image", "inspect", name, check=True).stdout)
    assert info["Os"] == "linux" and len(info["RootFS"]["Layers"]) == 1
    [layer] = mr.layer_dirs()
    root = os.path.join(mr.store, "layers", layer)
    assert os.access(os.path.join(root, "bin", "busybox"), os.X_OK)
    owner = os.stat(os.path.join(root, "bin", "busybox")).st_uid
    assert owner == (mr.rt.user.pw_uid if mr.rt.rootless else 0)   # image root, mapped
    assert mr("pull", "-q", name, check=True).stdout.strip() == image_id   # again: no-op
    mr("tag", name, "mine:v1", check=True)
    assert sorted(mr.images()[0]["Names"]) == sorted([name, "localhost/mine:v1"])
    r = mr("rmi", "localhost/mine:v1", check=True)
    assert "Untagged: localhost/mine:v1" in r.stdout and mr.images()[0]["Names"] == [name]
    r = mr("rmi", image_id[:12], check=True)
    assert f"Deleted: {image_id}" in r.stdout
    assert mr.images() == [] and mr.layer_dirs() == []
    assert os.listdir(os.path.join(mr.store, "blobs", "sha256")) == []
    r = mr("rmi", "nothing-here")
    assert r.returncode == 1 and "not in the store" in r.stderr       # podman's 1


def test_short_names_and_digests(mr, registry, images_dir):
    r = mr("pull", "-q", "test/busybox")      # through unqualified-search-registries
    assert r.returncode == 0, r.stderr
    with open(f"{images_dir}/busybox/index.json") as f:
        digest = json.load(f)["manifests"][0]["digest"]
    r = mr("pull", "-q", f"{registry.addr}/test/busybox@{digest}")
    assert r.returncode == 0, r.stderr
    names = mr.images()[0]["Names"]
    assert f"{registry.addr}/test/busybox@{digest}" in names
    r = mr("pull", "-q", "no/such/image")
    assert r.returncode == 125 and "cannot pull `no/such/image`" in r.stderr


def test_an_index_and_a_docker_manifest(mr, registry):
    """An image index lists a foreign platform first: this host's is chosen.
    A Docker schema 2 manifest (skopeo --format v2s2) pulls like an OCI one."""
    r = mr("pull", "-q", f"{registry.addr}/test/indexed")
    assert r.returncode == 0, r.stderr
    r2 = mr("pull", "-q", f"{registry.addr}/test/docker")
    assert r2.returncode == 0, r2.stderr
    assert r.stdout == r2.stdout      # the same config: the same image
    [img] = mr.images()
    assert sorted(img["Names"]) == [f"{registry.addr}/test/docker:latest",
                                    f"{registry.addr}/test/indexed:latest"]


def test_layers_with_whiteouts_and_zstd(mr, registry):
    r = mr("pull", "-q", f"{registry.addr}/test/multi")
    assert r.returncode == 0, r.stderr
    dirs = [os.path.join(mr.store, "layers", d) for d in mr.layer_dirs()]
    top = next(d for d in dirs if os.path.exists(os.path.join(d, "etc", "motd")))
    wh = os.stat(os.path.join(top, "etc", "hosts"), follow_symlinks=False)
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    attr = "user.overlay.opaque" if mr.rt.rootless else "trusted.overlay.opaque"
    if not mr.rt.rootless:   # user.* xattrs of the userns are readable from here too
        assert os.getxattr(os.path.join(top, "home"), attr) == b"y"


def test_a_tampered_blob_is_refused_and_leaves_nothing(mr, images_dir):
    from tests.e2e.registry import Registry
    reg = Registry()
    try:
        reg.push(f"{images_dir}/busybox", "t/busybox:latest")
        with open(f"{images_dir}/busybox/index.json") as f:
            mdigest = json.load(f)["manifests"][0]["digest"]
        with open(f"{images_dir}/busybox/blobs/sha256/{mdigest[7:]}") as f:
            layer = json.load(f)["layers"][0]["digest"]
        path = reg.blob_file(layer)
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        with open(path, "wb") as f:
            f.write(data)
        r = mr("pull", "-q", "--tls-verify=false", f"{reg.addr}/t/busybox")
        assert r.returncode == 125
        assert "tampered" in r.stderr or "corrupt" in r.stderr or "not a valid" in r.stderr, \
            r.stderr
        assert mr.images() == [] and mr.layer_dirs() == []
    finally:
        reg.stop()


def test_basic_auth_login_logout(mr, images_dir):
    from tests.e2e.registry import Registry
    reg = Registry(users={"alice": "wonderland"})
    try:
        reg.push(f"{images_dir}/busybox", "private/busybox:latest", creds="alice:wonderland")
        name = f"{reg.addr}/private/busybox"
        r = mr("pull", "-q", "--tls-verify=false", name)
        assert r.returncode == 125 and f"minirun login {reg.addr}" in r.stderr
        r = mr("login", "--tls-verify=false", "-u", "alice", "--password-stdin", reg.addr,
               input="wrong\n")
        assert r.returncode == 125 and "refused" in r.stderr
        r = mr("login", "--tls-verify=false", "-u", "alice", "--password-stdin", reg.addr,
               input="wonderland\n")
        assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr
        with open(os.path.join(mr.rt.scratch, "auth.json")) as f:
            assert reg.addr in json.load(f)["auths"]
        r = mr("pull", "-q", "--tls-verify=false", name)
        assert r.returncode == 0, r.stderr
        mr("logout", reg.addr, check=True)
        mr("rmi", name, check=True)
        r = mr("pull", "-q", "--tls-verify=false", name)
        assert r.returncode == 125
    finally:
        reg.stop()


def test_push_is_read_by_skopeo(mr, registry):
    mr("pull", "-q", f"{registry.addr}/test/multi", check=True)
    dest = f"{registry.addr}/pushed/multi-{mr.rt.mode}:v2"
    r = mr("push", f"{registry.addr}/test/multi", dest)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{dest}"],
                         capture_output=True, text=True, check=True).stdout
    assert len(json.loads(out)["Layers"]) == 2
    target = os.path.join(mr.rt.scratch, "copied")
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{dest}",
                    f"oci:{target}"], check=True, capture_output=True)
    assert os.path.exists(os.path.join(target, "index.json"))


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_round_trip_with_podman(mr, registry, fmt):
    import shutil
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run scripts/setup-host")
    name = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", name, check=True)
    archive = os.path.join(mr.rt.scratch, f"saved-{fmt}.tar")
    mr("save", "--format", fmt, "-o", archive, name, check=True)
    pdir = os.path.join(mr.rt.scratch, "podman")
    podman = mr.rt.prefix() + ["podman", "--root", f"{pdir}/storage", "--runroot",
                               f"{pdir}/run"]
    os.makedirs(pdir)
    mr.rt.chown(pdir)
    r = subprocess.run(podman + ["load", "-i", archive], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    back = os.path.join(mr.rt.scratch, f"from-podman-{fmt}.tar")
    r = subprocess.run(podman + ["save", "--format", fmt, "-o", back, name],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mr("rmi", name, check=True)
    r = mr("load", "-i", back)
    assert r.returncode == 0, r.stderr
    assert name in r.stdout
    [img] = mr.images()
    assert name in img["Names"]
    subprocess.run(podman + ["rmi", "-af"], capture_output=True)
    subprocess.run(["umount", "-l", f"{pdir}/storage/overlay"], capture_output=True)


def test_a_killed_pull_then_a_whole_one(mr, registry):
    name = f"{registry.addr}/test/big"
    p = subprocess.Popen(mr.argv("pull", "-q", name), env=mr.env(), start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = os.path.join(mr.store, "blobs", "partial")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [os.path.getsize(os.path.join(partial, n)) for n in os.listdir(partial)] \
            if os.path.isdir(partial) else []
        if any(s > (4 << 20) for s in sizes):
            break
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert mr.images() == []
    r = mr("pull", "-q", name)
    assert r.returncode == 0, r.stderr
    [layer] = [d for d in mr.layer_dirs() if not d.startswith(".tmp")]
    with open(os.path.join(mr.store, "layers", layer, "random.bin"), "rb") as f:
        assert len(f.read()) == 48 << 20
    assert not [d for d in os.listdir(os.path.join(mr.store, "layers")) if d.startswith(".tmp")]


def test_two_pulls_at_once(mr, registry):
    name = f"{registry.addr}/test/multi"
    procs = [subprocess.Popen(mr.argv("pull", "-q", name), env=mr.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    assert len(mr.images()) == 1 and len(mr.layer_dirs()) == 2


def test_import_a_rootfs_tarball(mr, busybox_rootfs):
    tarball = os.path.join(mr.rt.scratch, "rootfs.tar")
    subprocess.run(["tar", "-C", busybox_rootfs, "-cf", tarball, "."], check=True)
    mr.rt.chown(tarball)
    r = mr("import", tarball, "imported:1")
    assert r.returncode == 0, r.stderr
    [img] = mr.images()
    assert img["Names"] == ["localhost/imported:1"]


def test_rmi_refuses_an_image_in_use_and_prune(mr, registry):
    import sqlite3
    name = f"{registry.addr}/test/busybox:latest"
    image_id = "sha256:" + mr("pull", "-q", name, check=True).stdout.strip()
    db = sqlite3.connect(os.path.join(mr.store, "store.db"))
    with db:   # what `minirun create` (the engine issue) records for a container
        db.execute("INSERT INTO containers (id, name, image_id) VALUES ('c1', 'web', ?)",
                   (image_id,))
    r = mr("rmi", name)
    assert r.returncode == 2 and "used by container(s) web" in r.stderr   # podman's code
    assert mr("image", "prune", "-a", check=True).stdout == ""   # in use: kept
    with db:
        db.execute("DELETE FROM containers")
    db.close()
    mr("pull", "-q", f"{registry.addr}/test/multi", check=True)
    mr("rmi", f"{registry.addr}/test/multi", check=True)
    r = mr("image", "prune", "-a", check=True)
    assert r.stdout.strip() == image_id[7:] and mr.images() == []


def test_bearer_token_auth(mr, images_dir):
    """The registry sends clients to a token service (WWW-Authenticate:
    Bearer): anonymous pulls of public/* get a token, private/* needs a login."""
    from tests.e2e.registry import Registry
    reg = Registry(token=True)
    try:
        for repo in ("public/busybox", "private/busybox"):
            reg.push(f"{images_dir}/busybox", f"{repo}:latest", creds="alice:wonderland")
        r = mr("pull", "-q", "--tls-verify=false", f"{reg.addr}/public/busybox")
        assert r.returncode == 0, r.stderr
        r = mr("pull", "-q", "--tls-verify=false", f"{reg.addr}/private/busybox")
        assert r.returncode == 125 and "minirun login" in r.stderr, r.stderr
        r = mr("login", "--tls-verify=false", "-u", "alice", "--password-stdin", reg.addr,
               input="nope\n")
        assert r.returncode == 125 and "refused" in r.stderr, r.stderr
        r = mr("login", "--tls-verify=false", "-u", "alice", "--password-stdin", reg.addr,
               input="wonderland\n")
        assert r.returncode == 0, r.stderr
        r = mr("pull", "-q", "--tls-verify=false", f"{reg.addr}/private/busybox")
        assert r.returncode == 0, r.stderr
        r = mr("push", "--tls-verify=false", f"{reg.addr}/private/busybox",
               f"{reg.addr}/private/copy:v1")
        assert r.returncode == 0, r.stderr
    finally:
        reg.stop()


def test_progress_bars_on_a_terminal_only(mr, registry):
    pexpect = pytest.importorskip("pexpect")
    argv = mr.argv("pull", f"{registry.addr}/test/multi")
    env = mr.env()
    child = pexpect.spawn(argv[0], argv[1:], env=env, timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.decode(errors="replace")
    assert child.exitstatus == 0, out
    assert "B/s" in out or "100%" in out            # tqdm's bar on the terminal
    mr("rmi", f"{registry.addr}/test/multi", check=True)
    r = mr("pull", f"{registry.addr}/test/multi")      # pipes: no bar, just the id
    assert r.returncode == 0 and r.stderr == "" and len(r.stdout.strip()) == 64


def test_search_and_manifest_inspect(mr, registry):
    """search lists the registry's catalog (by term, the limit kept);
    manifest inspect shows a manifest without pulling it."""
    r = mr("search", f"{registry.addr}/test", check=True)
    names = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert r.stdout.splitlines()[0].split() == ["NAME", "DESCRIPTION"]
    assert f"{registry.addr}/test/busybox" in names and f"{registry.addr}/busybox" not in names
    assert mr("search", "--limit", "1", "--format", "{{.Name}}", f"{registry.addr}/test",
              check=True).stdout.count("\n") == 1
    doc = json.loads(mr("manifest", "inspect", f"{registry.addr}/test/busybox:latest",
                        check=True).stdout)
    assert doc["schemaVersion"] == 2 and doc["layers"], doc
    assert mr.images() == []                   # nothing pulled
    r = mr("manifest", "inspect", f"{registry.addr}/test/nothing:latest")
    assert r.returncode == 125 and "not found" in r.stderr, r


def test_save_writes_the_names_asked_for(mr, img):
    """An image with two names, saved by one (short) name: the archive
    names it alone, in its full form, in both formats."""
    import tarfile
    mr("tag", img, "other:v2", check=True)
    for fmt, member in (("docker-archive", "manifest.json"), ("oci-archive", "index.json")):
        path = os.path.join(mr.rt.scratch, f"{fmt}.tar")
        mr("save", "--format", fmt, "-o", path, "other:v2", check=True)
        with tarfile.open(path) as tar:
            doc = json.load(tar.extractfile(member))
        names = doc[0]["RepoTags"] if fmt == "docker-archive" else \
            [m["annotations"]["org.opencontainers.image.ref.name"] for m in doc["manifests"]]
        assert names == ["localhost/other:v2"], (fmt, doc)
