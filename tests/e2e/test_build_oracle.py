"""minirun build against buildah 1.28, the oracle: every case of
tests/e2e/build_corpus built by both, as root and as the test user, and
the images compared path by path and config field by field
(tests/e2e/build_oracle.py says how, and what buildah does that surprised).

Before that, the harness proves itself: it reads made-up archives
(whiteouts, an opaque directory, a hard link across layers, gzip, zstd and
plain layers) as the OCI spec says; busybox saved by minirun and by buildah
gives the same tree; buildah's image of every case holds what the case's
``expect`` says.  buildah's builds are made once per session and mode.

    .venv/bin/python -m pytest -q tests/e2e/test_build_oracle.py [-k CASE]

as root (the rootless half switches to the test user).  With
MINIRUN_ORACLE_KEEP=DIR, both tools' archives of each case are kept there,
for ``python -m tests.e2e.build_oracle show|diff``."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from tests.e2e import build_oracle as oracle
from tests.e2e.conftest import MINIRUN

CASES = oracle.cases()
BUILD_TIMEOUT = 300


class BuildahBuilds:
    """buildah's archive of each case, built once per session and mode
    (buildah's result does not depend on minirun); one store per mode."""

    def __init__(self, registries_conf: str, base: str):
        self.conf, self.base = registries_conf, base
        self.stores: dict[str, oracle.Buildah] = {}
        self.archives: dict[tuple[str, str], str] = {}

    def archive(self, rt, case: oracle.Case) -> str:
        key = (rt.mode, case.name)
        if key not in self.archives:
            if rt.mode not in self.stores:
                self.stores[rt.mode] = oracle.Buildah(rt.rootless, self.conf)
            self.archives[key] = self.stores[rt.mode].build_case(case, self.base)
        return self.archives[key]

    def image(self, rt, case: oracle.Case) -> oracle.Image:
        return oracle.image_of_archive(self.archive(rt, case))

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


@pytest.fixture(scope="session")
def base(registry) -> str:
    return f"{registry.addr}/test/busybox:latest"


@pytest.fixture(scope="session")
def buildah(registries_conf, base):
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed: run scripts/setup-host")
    builds = BuildahBuilds(registries_conf, base)
    yield builds
    builds.close()


@pytest.fixture(scope="session")
def minirun_builds() -> bool:
    return subprocess.run([MINIRUN, "build", "--help"], capture_output=True,
                          timeout=60).returncode == 0


def _case(name: str) -> oracle.Case:
    return next(c for c in CASES if c.name == name)


# --- the harness, on archives made here -----------------------------------------------

def _layer(entries: list, compress: str) -> bytes:
    """A layer's bytes: entries are (name, kind, extra) with kind file
    (extra: content), dir, symlink or link (extra: the target), xattr (an
    empty file; extra: the attribute's name and value)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid = 0o644, 0, 0
            data = None
            if kind == "file":
                data = extra.encode()
                info.size = len(data)
            elif kind == "xattr":      # a file with an extended attribute
                data = b""
                info.pax_headers = {f"SCHILY.xattr.{extra[0]}": extra[1]}
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    if compress == "gzip":
        return gzip.compress(raw)
    if compress == "zstd":
        zstandard = pytest.importorskip("zstandard")
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def _archive(path: str, layers: list[bytes], config: dict) -> None:
    """An oci-archive: index.json -> manifest -> config and layers."""
    blobs = {}

    def add(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    manifest = {"schemaVersion": 2, "config": add(json.dumps(config).encode()),
                "layers": [add(layer) for layer in layers]}
    index = {"schemaVersion": 2, "manifests": [add(json.dumps(manifest).encode())]}
    with tarfile.open(path, "w") as tar:
        for name, data in [("index.json", json.dumps(index).encode()),
                           *((f"blobs/sha256/{d[7:]}", b) for d, b in blobs.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_the_harness_applies_layers_as_the_spec_says():
    lower = [("./", "dir", None), ("a/", "dir", None), ("a/x", "file", "x"),
             ("a/y", "file", "y"), ("d/", "dir", None), ("d/old", "file", "old"),
             ("f", "file", "f"), ("h", "file", "hard"), ("gone/", "dir", None),
             ("gone/deep", "file", "deep")]
    upper = [("a/.wh.x", "file", ""), ("d/", "dir", None), ("d/.wh..wh..opq", "file", ""),
             ("d/new", "file", "new"), ("f/", "dir", None), ("f/inner", "file", "in"),
             ("link", "link", "h"), (".wh.gone", "file", "")]
    top = [("a/y", "symlink", "../h"), ("same/", "dir", None), ("same/t", "file", "t"),
           ("same/t2", "link", "same/t"), ("cap", "xattr", ("user.x", "1"))]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.tar")
        _archive(path, [_layer(lower, "gzip"), _layer(upper, "zstd"), _layer(top, "none")],
                 {"config": {"Cmd": ["sh"]}, "history": [{"created_by": "test"}]})
        image = oracle.image_of_archive(path)
    tree = image.tree
    assert sorted(tree) == ["/a", "/a/y", "/cap", "/d", "/d/new", "/f", "/f/inner", "/h",
                            "/link", "/same", "/same/t", "/same/t2"]
    assert tree["/cap"]["xattrs"] == {"user.x": "1"} and "xattrs" not in tree["/h"]
    assert tree["/a/y"] == {"type": "symlink", "mode": 0o644, "uid": 0, "gid": 0,
                            "linkname": "../h"}
    assert tree["/link"] == tree["/h"] and tree["/link"]["size"] == 4
    assert tree["/same/t2"]["sha256"] == hashlib.sha256(b"t").hexdigest()
    assert tree["/f"]["type"] == "dir"
    assert image.config == {"Cmd": ["sh"]} and image.history == [{"created_by": "test"}]


def test_differences_name_each_field_and_skip_what_is_written_down():
    f = {"type": "file", "mode": 0o644, "uid": 0, "gid": 0, "size": 1, "sha256": "x"}
    a = oracle.Image({"/f": f, "/only-a": f, "/skip/me": f},
                     {"Env": ["A=1"], "Labels": {"io.buildah.version": "1.28.2"},
                      "User": "", "Cmd": ["sh"]}, [])
    b = oracle.Image({"/f": {**f, "mode": 0o600, "uid": 5}}, {"Env": ["A=1"], "Cmd": ["ls"]},
                     [])
    assert oracle.differences(a, b, names=("buildah", "minirun")) == [
        "/f: mode 0644 (buildah) vs 0600 (minirun)",
        "/f: uid 0 (buildah) vs 5 (minirun)",
        "/only-a: only in buildah's (file 0644 0:0 1 bytes)",
        "/skip/me: only in buildah's (file 0644 0:0 1 bytes)",
        "config Cmd: ['sh'] (buildah) vs ['ls'] (minirun)"]
    assert oracle.differences(a, b, {"/skip/*": "why", "/only-a": "why", "/f:uid": "why",
                                     "Cmd": "why"}) == ["/f: mode 0644 (a) vs 0600 (b)"]


# --- the harness, on real archives --------------------------------------------------------

def test_busybox_is_the_same_read_from_minirun_and_from_buildah(rt, mr, img, buildah):
    """minirun's pull saved, and buildah's FROM with nothing else pushed:
    the same tree and config, with nothing ignored (no RUN: buildah's
    /run/.containerenv whiteout does not come in)."""
    archive = os.path.join(rt.scratch, "busybox.tar")
    mr("save", "--format", "oci-archive", "-o", archive, img, check=True)
    ours = oracle.image_of_archive(archive)
    theirs = buildah.image(rt, _case("from-only"))
    assert "/bin/busybox" in ours.tree and len(ours.tree) > 100
    assert oracle.differences(theirs, ours, names=("buildah", "minirun")) == []
    # and it sees a difference when there is one
    other = buildah.image(rt, _case("copy-chown-chmod"))
    found = oracle.differences(ours, other, names=("minirun", "buildah"))
    assert "/both.txt: only in buildah's (file 0600 1000:1000 5 bytes)" in found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_buildah_builds_what_the_case_expects(rt, buildah, case):
    """Proves each case (and the harness reading it): buildah's image holds
    what the Containerfile says, as the case's ``expect`` writes it down."""
    assert case.expect, f"{case.name}: case.json says nothing it expects"
    found = oracle.unmet(buildah.image(rt, case), case.expect)
    assert not found, "buildah's image is not what the case expects:\n  " + "\n  ".join(found)


# --- minirun against buildah --------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_minirun_builds_what_buildah_builds(rt, mr, base, buildah, minirun_builds, case):
    if not minirun_builds:
        pytest.skip("minirun build is not there yet")
    theirs = buildah.image(rt, case)
    context = os.path.join(rt.scratch, "context")
    containerfile = oracle.prepare(case, base, context, rt.user)
    name = f"oracle-{case.name}"
    args = ["build", "--layers", "-t", name, "-f", containerfile]
    for key, value in case.build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if case.target:
        args += ["--target", case.target]
    mr(*args, context, check=True, timeout=BUILD_TIMEOUT)
    archive = os.path.join(rt.scratch, "minirun.tar")
    mr("save", "--format", "oci-archive", "-o", archive, name, check=True)
    keep = os.environ.get("MINIRUN_ORACLE_KEEP")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for tool, path in (("buildah", buildah.archive(rt, case)), ("minirun", archive)):
            shutil.copy(path, os.path.join(keep, f"{case.name}-{rt.mode}-{tool}.tar"))
    ours = oracle.image_of_archive(archive)
    found = oracle.differences(theirs, ours, case.ignore, names=("buildah", "minirun"))
    assert not found, (
        "minirun's image differs from buildah's (where buildah is the one wrong, write "
        f"it down in {case.name}/case.json's buildah_differs):\n  " + "\n  ".join(found))
