"""Bad input, data loss and full disks in the engine and its CLI (issue 14):
each is one clear error line, and leaves the store as it was.  Root and
rootless, through the `mr` fixture of tests/e2e/conftest.py."""
import base64
import gzip
import io
import json
import os
import sqlite3
import subprocess
import tarfile

import pytest


def one_line(r, code: int = 125) -> str:
    """A refusal: the exit code, one `Error:` line, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("Error: "), r.stderr
    return r.stderr


def listing(store: str) -> list[str]:
    """Every path under the store, with each file's size."""
    out = []
    for top, dirs, files in os.walk(store):
        for name in dirs + files:
            if name.startswith("store.db"):     # SQLite's own files come and go
                continue
            path = os.path.join(top, name)
            size = os.lstat(path).st_size if name in files else 0
            out.append(f"{os.path.relpath(path, store)} {size}")
    return sorted(out)


@pytest.fixture
def tarball(mr, busybox_rootfs) -> str:
    path = os.path.join(mr.rt.scratch, "rootfs.tar")
    subprocess.run(["tar", "-C", busybox_rootfs, "-cf", path, "."], check=True)
    mr.rt.chown(path)
    return path


@pytest.fixture
def image(mr, tarball) -> str:
    """localhost/x:1, imported from the busybox root filesystem."""
    mr("import", tarball, "x:1", check=True)
    return "localhost/x:1"


def write(mr, name: str, data: bytes) -> str:
    path = os.path.join(mr.rt.scratch, name)
    with open(path, "wb") as f:
        f.write(data)
    mr.rt.chown(path)
    return path


# --- 1. rmi removes only what it was told --------------------------------------

def test_rmi_of_one_tag_keeps_the_others(mr, image):
    image_id = mr.images()[0]["Id"]
    mr("tag", image, "y:1", "z:1", check=True)
    r = mr("rmi", "-f", "localhost/y:1", check=True)
    assert r.stdout == "Untagged: localhost/y:1\n"
    [img] = mr.images()
    assert img["Id"] == image_id and img["Names"] == ["localhost/x:1", "localhost/z:1"]
    assert mr("rmi", "z:1", check=True).stdout == "Untagged: localhost/z:1\n"
    mr("tag", image, "y:1", check=True)
    err = one_line(mr("rmi", image_id[:12]))      # an id names every tag: -f needed
    assert "more than one tag" in err and "localhost/y:1" in err
    assert mr.images()[0]["Names"] == ["localhost/x:1", "localhost/y:1"]
    r = mr("rmi", "-f", image_id[:12], check=True)
    assert r.stdout.splitlines() == ["Untagged: localhost/x:1", "Untagged: localhost/y:1",
                                     f"Deleted: {image_id}"]
    assert mr.images() == [] and mr.layer_dirs() == []


def test_rmi_of_an_image_in_use(mr, image):
    mr("tag", image, "y:1", check=True)
    cid = mr("create", "--name", "user1", "--network", "none", image, "true",
             check=True).stdout.strip()
    assert mr("rmi", "y:1", check=True).stdout == "Untagged: localhost/y:1\n"   # not the last
    err = one_line(mr("rmi", image), code=2)        # the last name of an image in use
    assert "user1" in err and mr.images()[0]["Names"] == [image]
    r = mr("rmi", "-f", image, check=True)          # -f: the container goes too, as podman
    assert "Deleted:" in r.stdout and mr.images() == []
    assert json.loads(mr("ps", "-a", "--format", "json", check=True).stdout) == []
    assert not os.path.exists(os.path.join(mr.store, "containers", cid))


# --- 2. -v ---------------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    (":/x", "host directory cannot be empty"),
    ("vol:", "container directory cannot be empty"),
    ("vol:/x:zz", "invalid option type 'zz'"),
    ("vol:/x:ro,rw", "can only specify 1 'rw' or 'ro' option"),
    ("a b:/x", "names must match"),
])
def test_bad_volume_flags(mr, image, spec, words):
    for _ in range(2):
        err = one_line(mr("run", "--rm", "--network", "none", "-v", spec, image, "true"))
        assert words in err
    assert mr("volume", "ls", "-q", check=True).stdout == ""
    assert json.loads(mr("ps", "-a", "--format", "json", check=True).stdout) == []
    containers = os.path.join(mr.store, "containers")
    assert not os.path.isdir(containers) or not os.listdir(containers)


def test_volume_options_z_and_ro(mr, image):
    r = mr("run", "--rm", "--network", "none", "-v", "vol:/data:ro,z", image, "touch",
           "/data/f")
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr


# --- 3. credentials of the real user, also inside the store's namespace -------------

def test_auth_paths_are_the_real_users(mr):
    """As the plain user with XDG_RUNTIME_DIR unset (as after su), inside the
    store's user namespace (where minirun is uid 0)."""
    if not mr.rt.rootless:
        pytest.skip("the user namespace of the store is a plain user's")
    home = os.path.join(mr.rt.scratch, "home")
    code = ("import json; from minirun.engine.images import registries; "
            "from minirun.engine import userns; "
            "print(json.dumps([userns.as_root(registries.auth_files), "
            "userns.as_root(registries.conf_files)]))")
    argv = [a for a in mr.rt.prefix() if not a.startswith(("XDG_RUNTIME_DIR=", "HOME="))]
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR",
                                                            "REGISTRY_AUTH_FILE",
                                                            "CONTAINERS_REGISTRIES_CONF")}
    r = subprocess.run(argv + [f"HOME={home}", os.path.join(os.path.dirname(
        subprocess.sys.executable), "python"), "-c", code], capture_output=True, text=True,
        env=env, cwd=mr.rt.scratch)
    assert r.returncode == 0, r.stderr
    auth, _ = json.loads(r.stdout)
    assert not any(p.startswith("/run/containers/") for p in auth), auth
    assert os.path.join(home, ".config/containers/auth.json") in auth


def test_pull_with_credentials_in_home_and_no_runtime_dir(mr, images_dir):
    from tests.e2e.registry import Registry
    reg = Registry(users={"alice": "wonderland"})
    try:
        reg.push(f"{images_dir}/busybox", "private/busybox:latest", creds="alice:wonderland")
        home = os.path.join(mr.rt.scratch, "home")
        os.makedirs(os.path.join(home, ".config", "containers"))
        with open(os.path.join(home, ".config", "containers", "auth.json"), "w") as f:
            json.dump({"auths": {reg.addr: {"auth": base64.b64encode(
                b"alice:wonderland").decode()}}}, f)
        mr.rt.chown(home)
        argv = [a for a in mr.argv("pull", "-q", "--tls-verify=false",
                                   f"{reg.addr}/private/busybox")
                if not a.startswith(("XDG_RUNTIME_DIR=", "HOME=", "REGISTRY_AUTH_FILE="))]
        if mr.rt.rootless:
            argv.insert(argv.index("env") + 1, f"HOME={home}")
        env = {k: v for k, v in mr.env().items() if k not in ("XDG_RUNTIME_DIR",
                                                              "REGISTRY_AUTH_FILE")}
        env["HOME"] = home
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert len(mr.images()) == 1
    finally:
        reg.stop()


# --- 4. names -------------------------------------------------------------------

BAD_NAMES = ["a/b", "a b", "a\nb", "-a", "a" * 300, "é"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_before_anything_is_made(mr, image, name):
    err = one_line(mr("run", "--rm", "--network", "none", "--name", name, "-v", "vol:/v",
                      image, "true"))
    assert "names must" in err and "invalid argument" in err
    err = one_line(mr("create", "--name", name, image, "true"))
    assert "names must" in err
    assert json.loads(mr("ps", "-a", "--format", "json", check=True).stdout) == []
    assert one_line(mr("volume", "create", "--", name))
    assert one_line(mr("network", "create", "--", name))
    assert mr("volume", "ls", "-q", check=True).stdout == ""
    assert name not in mr("network", "ls", "-q", check=True).stdout.split("\n")


def test_a_good_name_reaches_etc_hosts(mr, image):
    r = mr("run", "--rm", "--network", "none", "--name", "Ok_name.1-x", image, "grep",
           "Ok_name.1-x", "/etc/hosts", check=True)
    assert len(r.stdout.splitlines()) == 1


# --- 5. one line instead of a traceback ---------------------------------------------

def test_files_that_are_missing_cut_or_not_text(mr, image, tarball):
    err = one_line(mr("save", "-o", "/nonexistent/dir/x.tar", image))
    assert "/nonexistent/dir/x.tar" in err
    assert "/nonexistent.tar" in one_line(mr("import", "/nonexistent.tar"))
    saved = os.path.join(mr.rt.scratch, "saved.tar")
    mr("save", "-o", saved, image, check=True)
    with open(saved, "rb") as f:
        data = f.read()
    with open(tarball, "rb") as f:
        tgz = gzip.compress(f.read())
    before = listing(mr.store)
    for cut in (0.5, 0.9):
        path = write(mr, f"cut-{cut}.tar", data[:int(len(data) * cut)])
        assert "truncated or corrupt" in one_line(mr("load", "-i", path))
    path = write(mr, "cut.tgz", tgz[:len(tgz) // 2])
    assert "truncated or corrupt" in one_line(mr("import", path))
    assert listing(mr.store) == before
    env = write(mr, "env", b"GOOD=1\nBAD=\xff\xfe\n")
    assert "line 2 is not UTF-8" in one_line(mr("run", "--rm", "--env-file", env, image,
                                                "true"))


# --- 6. a refused import leaves nothing; prune collects what nothing references -----

def _tar(entries) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, kind, target in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, target
                t.addfile(info)
            else:
                info.size = len(target)
                t.addfile(info, io.BytesIO(target))
    return out.getvalue()


BAD_IMPORTS = {
    "garbage": os.urandom(4096),
    "text": b"just some words\n" * 40,
    "dotdot": _tar([("../evil", "file", b"x")]),
    "abslink": _tar([("a", "sym", "/etc"), ("a/passwd", "file", b"x")]),
}


@pytest.mark.parametrize("kind", sorted(BAD_IMPORTS))
def test_a_refused_import_leaves_the_store_as_it_was(mr, image, kind):
    path = write(mr, kind, BAD_IMPORTS[kind])
    before = listing(mr.store)
    one_line(mr("import", path, "bad:1"))
    assert listing(mr.store) == before
    assert [i["Names"] for i in mr.images()] == [[image]]


def test_image_prune_collects_blobs_nothing_references(mr, image):
    blobs = os.path.join(mr.store, "blobs", "sha256")
    kept = sorted(os.listdir(blobs))
    stray = os.path.join(blobs, "ab" * 32)
    lock = os.path.join(mr.store, "layers", "cd" * 32 + ".lock")
    for path in (stray, lock):
        with open(path, "w") as f:
            f.write("left by a failed import")
        mr.rt.chown(path)
    mr("image", "prune", check=True)
    assert sorted(os.listdir(blobs)) == kept and not os.path.exists(lock)
    assert [i["Names"] for i in mr.images()] == [[image]]


# --- 7, 8. ps --format, --memory --------------------------------------------------

def test_ps_format_fields(mr, image):
    mr("create", "--name", "fmt1", image, "true", check=True)
    err = one_line(mr("ps", "-a", "--format", "{{.Bogus}}"))
    assert "can't evaluate field Bogus" in err
    r = mr("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True)
    assert r.stdout == "fmt1 Created\n"


def test_memory_below_the_minimum(mr, image):
    err = one_line(mr("run", "--rm", "--memory", "1", image, "true"))
    assert "minimum memory limit allowed is 6MB" in err
    assert json.loads(mr("ps", "-a", "--format", "json", check=True).stdout) == []
    mr("create", "--name", "mem1", image, "true", check=True)
    err = one_line(mr("update", "--memory", "5m", "mem1"))
    assert "minimum memory limit allowed is 6MB" in err


# --- 9. a full disk -----------------------------------------------------------------

@pytest.fixture
def small_disk(mr):
    """A 20 MiB tmpfs holding the store; unmounted afterwards."""
    d = os.path.join(mr.rt.scratch, "small")
    os.makedirs(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m,mode=0755", "tmpfs", d],
                   check=True)
    mr.rt.chown(d)
    mr.store = os.path.join(d, "store")
    yield d
    mr("rm", "-fa", timeout=60)
    subprocess.run(["umount", "-l", d], check=False)


def fill(disk: str, leave: int = 0) -> None:
    """Fill the filesystem, but for ``leave`` bytes."""
    path = os.path.join(disk, "fill")
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(path, "ab") as f:
        try:
            f.write(b"\0" * max(free - leave, 0))
            f.flush()
        except OSError:
            pass


def test_a_full_disk(mr, small_disk, tarball):
    mr("import", tarball, "x:1", check=True)
    mr("run", "--name", "c1", "--network", "none", "localhost/x:1", "echo", "hi", check=True)
    before = listing(mr.store)
    fill(small_disk)
    for args in (("ps", "-a"), ("images",), ("inspect", "c1"), ("logs", "c1"),
                 ("image", "inspect", "localhost/x:1")):
        r = mr(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert mr("logs", "c1").stdout == "hi\n"
    for args in (("import", tarball, "y:1"), ("tag", "localhost/x:1", "z:1"),
                 ("create", "localhost/x:1", "true"), ("volume", "create", "v1")):
        err = one_line(mr(*args))
        assert f"no space left on tmpfs (mounted at {small_disk})" in err, err
        assert mr.store in err
    os.unlink(os.path.join(small_disk, "fill"))
    assert listing(mr.store) == before


def test_a_pull_onto_a_full_disk(mr, small_disk, registry, tarball):
    mr("import", tarball, "x:1", check=True)
    fill(small_disk, leave=4 << 20)
    db = sqlite3.connect(os.path.join(mr.store, "store.db"))
    layers = db.execute("SELECT diff_id FROM layers").fetchall()
    db.close()
    err = one_line(mr("pull", "-q", f"{registry.addr}/test/big"))
    assert "no space left on tmpfs" in err and mr.store in err
    assert [i["Names"] for i in mr.images()] == [["localhost/x:1"]]
    assert not [n for n in os.listdir(os.path.join(mr.store, "layers")) if
                n.startswith(".tmp-")]
    db = sqlite3.connect(os.path.join(mr.store, "store.db"))
    assert db.execute("SELECT diff_id FROM layers").fetchall() == layers
    db.close()
    os.unlink(os.path.join(small_disk, "fill"))
    mr("image", "prune", check=True)          # what the pull left that nothing references
    blobs = os.listdir(os.path.join(mr.store, "blobs", "sha256"))
    assert len(blobs) == 3, blobs             # x:1's manifest, config and layer
