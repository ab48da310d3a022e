"""Level 12's checks: CDI specs are read and checked, a device name is
resolved, its edits land in config.json as the CDI specification says, and
a real runtime given the edited bundle makes a container that sees the GPU.

The GPU is fake: a driver root in a temporary directory, with real device
nodes made by mknod (NVIDIA's numbers: 195:0 and 195:1 for two GPUs,
195:255 for nvidiactl) and a stand-in libnvidia-ml.so.1.  No driver answers
at those numbers, so opening a node the container may use fails with ENXIO,
and one it may not with EPERM: the device cgroup said no first.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

STUDENT_FILE = "gpu.py"
LIB = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
NODES = {"nvidia0": 0, "nvidia1": 1, "nvidiactl": 255}     # name -> minor, major 195


@pytest.fixture
def scratch():
    d = tempfile.mkdtemp(prefix="course-12-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def nvidia_spec(root: str, hook_saw: str) -> dict:
    """A spec as nvidia-ctk writes one, for the driver under ``root``."""
    def node(name):
        return {"path": f"/dev/{name}", "hostPath": f"{root}/dev/{name}"}
    return {
        "cdiVersion": "0.5.0",
        "kind": "nvidia.com/gpu",
        "containerEdits": {
            "env": ["NVIDIA_VISIBLE_DEVICES=void"],
            "deviceNodes": [node("nvidiactl")],
            "mounts": [{"hostPath": root + LIB, "containerPath": LIB,
                        "options": ["ro", "nosuid", "nodev", "bind"]}],
            "hooks": [{"hookName": "createRuntime", "path": "/bin/sh",
                       "args": ["sh", "-c", f"cat > {hook_saw}"]}],
        },
        "devices": [
            {"name": "0", "containerEdits": {"deviceNodes": [node("nvidia0")],
                                             "env": ["FAKE_GPU=0"]}},
            {"name": "1", "containerEdits": {"deviceNodes": [node("nvidia1")]}},
            {"name": "all", "containerEdits": {"deviceNodes": [node("nvidia0"),
                                                               node("nvidia1")]}},
        ],
    }


def write_json(path: str, value) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
    return path


@pytest.fixture
def specs(scratch) -> str:
    """A spec directory naming the driver root ``scratch/driver`` (whose
    nodes only the ``driver`` fixture makes)."""
    d = os.path.join(scratch, "cdi")
    write_json(os.path.join(d, "nvidia.json"),
               nvidia_spec(os.path.join(scratch, "driver"), os.path.join(scratch, "hook-saw")))
    return d


@pytest.fixture
def driver(scratch, specs) -> str:
    """The fake driver root: real nodes (mknod needs root) and a library."""
    if os.geteuid() != 0:
        pytest.skip("the fake driver root's device nodes are made with mknod: "
                    "run as root (sudo make check LEVEL=12)")
    root = os.path.join(scratch, "driver")
    os.makedirs(os.path.join(root, "dev"))
    for name, minor in NODES.items():
        path = os.path.join(root, "dev", name)
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(195, minor))
        os.chmod(path, 0o666)               # as NVIDIA makes them, whatever the umask
    os.makedirs(os.path.dirname(root + LIB))
    with open(root + LIB, "w") as f:
        f.write("fake NVML\n")
    return root


@pytest.fixture
def config(scratch) -> str:
    """A small config.json with a variable a spec's env must replace."""
    return write_json(os.path.join(scratch, "config.json"), {
        "ociVersion": "1.0.2",
        "process": {"args": ["sh"], "cwd": "/",
                    "env": ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all"]},
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]}}})


def edit(run, specs: str, config: str, *devices: str):
    flags = [arg for name in devices for arg in ("--device", name)]
    return run("edit", "--spec-dir", specs, *flags, config)


def edited(run, specs: str, config: str, *devices: str) -> dict:
    r = edit(run, specs, config, *devices)
    assert r.returncode == 0, f"gpu.py edit failed: {last_line(r.stderr)}"
    with open(config) as f:
        return json.load(f)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def one_line_error(r, *words: str) -> None:
    assert "Traceback" not in r.stderr, f"a traceback, not one line: {last_line(r.stderr)}"
    assert r.returncode == 1, f"exit status {r.returncode}, not 1: {r.stderr!r}"
    assert len(r.stderr.strip().splitlines()) == 1, f"not one line: {r.stderr!r}"
    for word in words:
        assert word in r.stderr, f"{word!r} not in {r.stderr.strip()!r}"


# --- config.json, edited -----------------------------------------------------------

def test_a_gpu_node_gets_the_numbers_of_the_hosts_node(run, driver, specs, config):
    """linux.devices gets each node with the type, major:minor and mode of
    the host's node, which the spec leaves out.
    Look at: device_entry(): os.lstat(hostPath), os.major(), os.minor(), stat.S_IMODE()."""
    c = edited(run, specs, config, "nvidia.com/gpu=0")
    devices = {d["path"]: d for d in c["linux"]["devices"]}
    assert set(devices) == {"/dev/nvidia0", "/dev/nvidiactl"}, devices
    for path, minor in (("/dev/nvidia0", 0), ("/dev/nvidiactl", 255)):
        got = devices[path]
        assert (got["type"], got["major"], got["minor"]) == ("c", 195, minor), got
        assert got.get("fileMode") == 0o666, got
        assert "hostPath" not in got, "linux.devices has no hostPath: the runtime makes the node"


def test_the_device_cgroup_allows_each_node_after_the_default_deny(run, driver, specs, config):
    """Each node gets an allow rule after the config's deny-all, access rwm.
    Look at: apply(): a rule per c or b node, appended to linux.resources.devices."""
    rules = edited(run, specs, config, "nvidia.com/gpu=0")["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}, rules
    allowed = sorted((r["type"], r["major"], r["minor"], r["access"]) for r in rules[1:])
    assert allowed == [("c", 195, 0, "rwm"), ("c", 195, 255, "rwm")], rules


def test_a_specs_own_edits_come_once_and_before_its_devices(run, driver, specs, config):
    """Two devices of one spec: its own edits (nvidiactl, the library, the
    hook) come once, first; a device asked for twice counts once.
    Look at: apply(): a node replaces one at its path (edit() gives spec edits once)."""
    c = edited(run, specs, config, "nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=0")
    paths = [d["path"] for d in c["linux"]["devices"]]
    assert paths == ["/dev/nvidiactl", "/dev/nvidia0", "/dev/nvidia1"], paths
    assert len(c["linux"]["resources"]["devices"]) == 4, c["linux"]["resources"]
    assert len(c["hooks"]["createRuntime"]) == 1, c["hooks"]
    assert [m["destination"] for m in c["mounts"]].count(LIB) == 1, c["mounts"]


def test_all_is_a_device_the_spec_defines(run, driver, specs, config):
    """`all` is no keyword: the spec (as nvidia-ctk writes one) defines a
    device of that name with every GPU's node.
    Look at: find_device(): `all` is looked up like any other name."""
    c = edited(run, specs, config, "nvidia.com/gpu=all")
    paths = [d["path"] for d in c["linux"]["devices"]]
    assert sorted(paths) == ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"], paths


def test_env_mounts_and_hooks_are_added(run, driver, specs, config):
    """env replaces a variable of the same name, a mount is {destination,
    source, options}, a hook goes to hooks[hookName].
    Look at: apply(): the env, mounts and hooks parts."""
    c = edited(run, specs, config, "nvidia.com/gpu=0")
    env = c["process"]["env"]
    assert "PATH=/bin" in env and "FAKE_GPU=0" in env, env
    assert [v for v in env if v.startswith("NVIDIA_VISIBLE_DEVICES=")] == \
        ["NVIDIA_VISIBLE_DEVICES=void"], "one variable of a name: getenv() reads the first"
    mount = next((m for m in c["mounts"] if m["destination"] == LIB), None)
    assert mount == {"destination": LIB, "source": driver + LIB,
                     "options": ["ro", "nosuid", "nodev", "bind"]}, c["mounts"]
    assert c["mounts"][0]["destination"] == "/proc", "the config's own mounts stay, in order"
    saw = os.path.join(os.path.dirname(specs), "hook-saw")
    hook = c["hooks"]["createRuntime"]
    assert hook == [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {saw}"]}], hook


# --- one line for what cannot be done, and config.json untouched ----------------------

@pytest.mark.parametrize("name, words", [
    ("nvidia.com/gpu=7", ["nvidia.com/gpu=7", "0, 1, all"]),
    ("amd.com/gpu=0", ["amd.com/gpu=0", "no CDI spec defines the kind amd.com/gpu"]),
    ("nvidia.com/gpu", ["'nvidia.com/gpu'", "vendor/class=name"]),
    ("gpu=0", ["'gpu=0'", "vendor/class=name"]),
])
def test_an_unknown_device_is_one_line(run, specs, config, name, words):
    """A name that is not vendor/class=name, or that no spec defines, is one
    line (listing the kind's devices), and config.json is not touched.
    Look at: parse_name() and find_device(): the CDIError messages."""
    before = open(config).read()
    one_line_error(edit(run, specs, config, name), *words)
    assert open(config).read() == before, "config.json changed by a failed edit"


BROKEN = {
    "not JSON": ("{cdiVersion: 0.5.0", "not valid JSON"),
    "a version": ({"cdiVersion": "9.9.9", "kind": "x.com/y", "devices": []}, "'9.9.9'"),
    "no kind": ({"cdiVersion": "0.5.0", "devices": []}, "kind None"),
    "no devices": ({"cdiVersion": "0.5.0", "kind": "x.com/y"}, "devices"),
    "no edits": ({"cdiVersion": "0.5.0", "kind": "x.com/y", "devices": [{"name": "a"}]},
                 "devices[0].containerEdits"),
    "an edit not applied": ({"cdiVersion": "0.7.0", "kind": "x.com/y", "devices": [
        {"name": "a", "containerEdits": {"additionalGids": [44]}}]}, "additionalGids"),
    "a mount with no host path": ({"cdiVersion": "0.5.0", "kind": "x.com/y", "devices": [
        {"name": "a", "containerEdits": {"mounts": [{"containerPath": "/x"}]}}]},
        "mounts[0].hostPath"),
}


@pytest.mark.parametrize("what", list(BROKEN))
def test_a_malformed_spec_is_one_line_naming_the_file(run, specs, config, what):
    """A broken spec is one line naming the file and what is wrong.
    Look at: load_spec(): json.load, then cdiVersion, kind, devices, _check_edits()."""
    body, word = BROKEN[what]
    path = os.path.join(specs, "broken.json")
    with open(path, "w") as f:
        f.write(body if isinstance(body, str) else json.dumps(body))
    before = open(config).read()
    one_line_error(edit(run, specs, config, "nvidia.com/gpu=0"), path, word)
    assert open(config).read() == before, "config.json changed by a failed edit"


def test_a_device_node_missing_on_the_host_is_one_line(run, specs, config):
    """A node missing on the host (the GPU is not there, or its driver not
    loaded) is one line naming it.
    Look at: device_entry(): FileNotFoundError from os.lstat() becomes a CDIError."""
    before = open(config).read()
    one_line_error(edit(run, specs, config, "nvidia.com/gpu=0"), "/dev/nvidia", "does not exist")
    assert open(config).read() == before, "config.json changed by a failed edit"


# --- a real runtime runs the edited bundle -----------------------------------------------

def runtime() -> str:
    """minirun-oci beside this Python (the project's venv), else runc."""
    oci = os.path.join(os.path.dirname(sys.executable), "minirun-oci")
    found = oci if os.access(oci, os.X_OK) else shutil.which("runc")
    if not found:
        pytest.skip("no OCI runtime here: neither .venv/bin/minirun-oci nor runc")
    return found


def static_busybox() -> str:
    path = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(path):
        pytest.skip("the container's root is a busybox: apt-get install busybox-static")
    with open(path, "rb") as f:
        if b"/ld-linux" in f.read(4096):
            pytest.skip(f"{path} is linked dynamically: apt-get install busybox-static")
    return path


@pytest.fixture
def bundle(scratch, driver):
    """A bundle (busybox root, the runtime's default config plus CAP_MKNOD)
    and a function that edits it with the program and runs a script in it."""
    oci = runtime()
    path = os.path.join(scratch, "bundle")
    os.makedirs(os.path.join(path, "rootfs", "bin"))
    for d in ("proc", "sys", "dev", "tmp"):
        os.mkdir(os.path.join(path, "rootfs", d))
    shutil.copy(static_busybox(), os.path.join(path, "rootfs", "bin", "busybox"))
    for applet in ("sh", "ls", "cat", "env", "mknod"):
        os.symlink("busybox", os.path.join(path, "rootfs", "bin", applet))
    subprocess.run([oci, "spec", "--bundle", path], check=True, capture_output=True)
    state = os.path.join(scratch, "state")
    ids = []

    def run_in(run, script: str, *devices: str):
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)
        config["process"].update(args=["sh", "-c", script], terminal=False)
        for kind in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][kind].append("CAP_MKNOD")
        write_json(os.path.join(path, "config.json"), config)
        r = edit(run, os.path.join(scratch, "cdi"), os.path.join(path, "config.json"), *devices)
        assert r.returncode == 0, f"gpu.py edit failed: {last_line(r.stderr)}"
        ids.append(f"course-12-{os.getpid()}-{len(ids)}")
        return subprocess.run([oci, "--root", state, "run", "--bundle", path, ids[-1]],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    yield run_in
    for cid in ids:
        subprocess.run([oci, "--root", state, "delete", "--force", cid], capture_output=True)


def test_the_container_sees_the_gpu_its_library_and_its_variable(run, bundle, scratch):
    """minirun-oci (or runc) runs the edited bundle: inside, /dev/nvidia0 is
    195:0, the library is the fake one, the variables are set, the hook ran.
    Look at: apply(), once the checks of the edited config.json above pass."""
    r = bundle(run, f"ls -ln /dev/nvidia0 /dev/nvidiactl; cat {LIB}; env", "nvidia.com/gpu=0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("c") and "195,   0" in lines[0], r.stdout
    assert lines[1].startswith("c") and "195, 255" in lines[1], r.stdout
    assert lines[2] == "fake NVML", r.stdout
    assert "NVIDIA_VISIBLE_DEVICES=void" in lines and "FAKE_GPU=0" in lines, r.stdout
    with open(os.path.join(scratch, "hook-saw")) as f:
        assert json.load(f)["status"] == "creating", "the createRuntime hook reads the state"


def test_the_device_cgroup_opens_gpu_0_and_refuses_gpu_1(run, bundle):
    """Opening /dev/nvidia0 reaches the (absent) driver: ENXIO; a node made
    inside for GPU 1 is refused by the device cgroup before any driver: EPERM.
    Look at: apply(): an allow rule for 195:0 and 195:255 only."""
    r = bundle(run, "cat /dev/nvidia0; mknod /dev/nvidia1 c 195 1 && cat /dev/nvidia1; true",
               "nvidia.com/gpu=0")
    assert r.returncode == 0, r.stderr
    errors = r.stderr.splitlines()
    assert "/dev/nvidia0" in errors[0] and "No such device or address" in errors[0], r.stderr
    assert "/dev/nvidia1" in errors[1] and "Operation not permitted" in errors[1], r.stderr
