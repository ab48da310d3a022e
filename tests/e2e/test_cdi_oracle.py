"""The oracle: podman 4.3.1 applies CDI specs too.  Each test writes a spec
into /var/run/cdi (podman 4.3 has no --cdi-spec-dir) under a random name,
runs ``podman run --device vendor/class=name`` with a wrapper runtime that
keeps the bundle's config.json and then execs runc, and compares the
CDI-made parts of that config, field by field, with what minirun's apply()
makes of the same spec on podman's config taken without the device.

Device nodes are real character nodes made with mknod (NVIDIA's major 195,
minors 0, 1, 255) in a temporary directory, so this needs root.  podman
4.3's library predates fileMode being filled from the host, so fileMode is
left out of the comparison; everything else must match.
"""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from minirun.engine.cdi import spec as spec_mod
from minirun.engine.cdi.edits import _depth, apply
from minirun.engine.cdi.registry import Registry

ROOTFS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), ".build", "busybox", "rootfs")
SPEC_DIR = "/var/run/cdi"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mknod of the device nodes and podman as root"),
    pytest.mark.skipif(not shutil.which("podman") or not shutil.which("runc"),
                       reason="podman and runc are the oracle"),
]


@pytest.fixture
def lab():
    """A temp dir with nodes, a wrapper runtime, a containers.conf; the spec
    file and the captures are removed afterwards."""
    d = tempfile.mkdtemp(prefix="minirun-test-cdi-")
    for name, minor in (("nvidia0", 0), ("nvidia1", 1), ("nvidiactl", 255)):
        os.mknod(os.path.join(d, name), 0o20666, os.makedev(195, minor))
    os.mknod(os.path.join(d, "null"), 0o20666, os.makedev(1, 3))
    os.mkdir(os.path.join(d, "lib"))
    # a copy: the runtime makes the spec's mount points in the rootfs it is
    # given (/cdi, /etc/v030, ...), and the shared one makes every image
    subprocess.run(["cp", "-a", ROOTFS, os.path.join(d, "rootfs")], check=True)
    wrapper = os.path.join(d, "runtime")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nprev=\nfor a in \"$@\"; do\n"
                f"  [ \"$prev\" = --bundle ] && cp \"$a/config.json\" {d}/captured.json\n"
                "  prev=$a\ndone\nexec runc \"$@\"\n")
    os.chmod(wrapper, 0o755)
    with open(os.path.join(d, "containers.conf"), "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n')
    spec_path = os.path.join(SPEC_DIR, f"minirun-test-{uuid.uuid4().hex[:12]}.json")
    yield d, spec_path
    if os.path.exists(spec_path):
        os.unlink(spec_path)
    shutil.rmtree(d)


def podman_config(d: str, devices: list[str]) -> dict:
    """podman's config.json for a busybox rootfs with ``devices``."""
    captured = os.path.join(d, "captured.json")
    if os.path.exists(captured):
        os.unlink(captured)
    argv = ["podman", "--runtime", os.path.join(d, "runtime"), "run", "--rm",
            "--network", "none"]
    for device in devices:
        argv += ["--device", device]
    argv += ["--rootfs", os.path.join(d, "rootfs"), "true"]
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(d, "containers.conf"))
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert os.path.exists(captured), p.stderr
    with open(captured) as f:
        return json.load(f)


def cdi_parts(config: dict) -> dict:
    """The parts of a config CDI edits, with per-container values and the
    device nodes' fileMode (see the docstring) taken out."""
    linux = config.get("linux", {})
    devices = [{k: v for k, v in dev.items() if k != "fileMode"}
               for dev in linux.get("devices") or []]
    mounts = [m for m in config.get("mounts", []) if "/overlay-containers/" not in m["source"]]
    env = [e for e in config["process"].get("env", []) if not e.startswith("HOSTNAME=")]
    return {"devices": devices, "rules": linux.get("resources", {}).get("devices"),
            "mounts": mounts, "env": env, "hooks": config.get("hooks"),
            "gids": config["process"].get("user", {}).get("additionalGids")}


def assert_same_mounts(got: list, want: list) -> None:
    """The same mounts, each list sorted by depth.  Within one depth the
    order may differ: podman 4.3's vendored library sorted with Go's
    sort.Sort, which is not stable; the reference now sorts stably, as
    minirun does (the original order kept within a depth)."""
    def depth(m):
        return _depth(m["destination"])
    assert [depth(m) for m in got] == sorted(depth(m) for m in got)
    assert [depth(m) for m in want] == sorted(depth(m) for m in want)
    key = lambda m: (depth(m), m["destination"])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


def check_like_podman(d: str, spec_path: str, doc: dict, devices: list[str]) -> dict:
    with open(spec_path, "w") as f:
        json.dump(doc, f)
    theirs = podman_config(d, devices)
    os.unlink(spec_path)
    plain = podman_config(d, [])
    spec = spec_mod.parse(doc, "test")
    ours = json.loads(json.dumps(plain))
    apply(ours, Registry([], specs=[spec]).resolve(devices))
    got, want = cdi_parts(ours), cdi_parts(theirs)
    base = len(cdi_parts(plain)["env"])
    for field in want:
        if field == "mounts":
            assert_same_mounts(got[field], want[field])
        elif field == "env":
            # podman's own variables come in no fixed order (a Go map); what
            # CDI appends comes after them, in order
            assert sorted(got["env"][:base]) == sorted(want["env"][:base]), "env"
            assert got["env"][base:] == want["env"][base:], "env"
        else:
            assert got[field] == want[field], field
    return theirs


def nvidia_like(d: str) -> dict:
    return {
        "cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
        "devices": [
            {"name": str(i), "containerEdits": {"deviceNodes": [
                {"path": f"/dev/nvidia{i}", "hostPath": f"{d}/nvidia{i}"}]}}
            for i in (0, 1)] + [
            {"name": "all", "containerEdits": {"deviceNodes": [
                {"path": f"/dev/nvidia{i}", "hostPath": f"{d}/nvidia{i}"} for i in (0, 1)]}}],
        "containerEdits": {
            "env": ["NVIDIA_VISIBLE_DEVICES=void", "PATH=/cdi/bin"],
            "deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": f"{d}/nvidiactl",
                             "permissions": "rw"},
                            {"path": "/dev/fake-null", "type": "c", "major": 1, "minor": 3}],
            "mounts": [{"hostPath": f"{d}/lib", "containerPath": "/usr/lib/cdi/x",
                        "options": ["ro", "nosuid", "nodev", "bind"]},
                       {"hostPath": f"{d}/lib", "containerPath": "/cdi",
                        "options": ["ro", "rbind"], "type": "bind"},
                       {"hostPath": f"{d}/null", "containerPath": "/etc/hosts",
                        "options": ["ro", "bind"]}],
            "hooks": [{"hookName": "createContainer", "path": "/bin/true",
                       "args": ["true", "create-symlinks"], "env": ["A=1"], "timeout": 5},
                      {"hookName": "poststop", "path": "/bin/true"}]}}


def test_one_gpu_like_podman(lab):
    d, spec_path = lab
    theirs = check_like_podman(d, spec_path, nvidia_like(d), ["nvidia.com/gpu=1"])
    paths = [dev["path"] for dev in theirs["linux"]["devices"]]
    assert "/dev/nvidia1" in paths and "/dev/nvidia0" not in paths


def test_all_and_two_gpus_like_podman(lab):
    d, spec_path = lab
    check_like_podman(d, spec_path, nvidia_like(d), ["nvidia.com/gpu=all"])
    check_like_podman(d, spec_path, nvidia_like(d), ["nvidia.com/gpu=0", "nvidia.com/gpu=1"])


def test_corpus_spec_like_podman(lab):
    """The corpus's 0.3.0 and 0.4.0 specs (podman 4.3 reads up to 0.5.0)."""
    d, spec_path = lab
    for name, device in (("v030.yaml", "vendor.example/dev=null0"),
                         ("v040.json", "vendor.example/dev=zero0")):
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cdi",
                            "valid", name)
        import yaml
        with open(path) as f:
            doc = yaml.safe_load(f)
        check_like_podman(d, spec_path, doc, [device])
