"""NVIDIA discovery, the generated CDI spec and `minirun cdi` against the
fake driver root (tests/gpu/fakedriver.py), as root and as the test user;
the ld.so.cache reader against this host's real cache; a host with no
driver (this machine's own root)."""
import json
import os
import shutil
import tempfile
import subprocess
import sys

import pytest

from minirun.engine.cdi import discover, generate, ldcache
from tests.gpu import fakedriver
from tests.conftest import Runtime, is_root, unprivileged_user

MINIRUN = os.path.join(os.path.dirname(sys.executable), "minirun")


def test_ldcache_reads_the_hosts_cache_as_ldconfig_prints_it():
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    printed = []
    for line in out.splitlines()[1:]:
        if " => " in line:
            left, path = line.strip().split(" => ")
            soname, _, flags = left.partition(" (")
            printed.append((soname, flags.split(")")[0], path))
    mine = [(e.soname, ldcache.describe(e.flags), e.path) for e in ldcache.read("/etc/ld.so.cache")]
    assert len(mine) > 10 and mine == printed


def test_ldcache_refuses_what_is_not_a_cache(tmp_path):
    bad = tmp_path / "ld.so.cache"
    bad.write_bytes(b"not a cache at all")
    with pytest.raises(ldcache.LdCacheError, match="not an ld.so.cache"):
        ldcache.read(str(bad))
    bad.write_bytes(ldcache.NEW_MAGIC + b"\x05\0\0\0")
    with pytest.raises(ldcache.LdCacheError, match="truncated in its header"):
        ldcache.read(str(bad))
    assert ldcache.read(str(tmp_path / "missing")) == []


def test_the_old_format_is_read_too():
    strings = b"libx.so.1\0/lib/libx.so.1\0"
    data = ldcache.OLD_MAGIC + b"\0" + (1).to_bytes(4, "little") + \
        (0x0303).to_bytes(4, "little") + (0).to_bytes(4, "little") + \
        (10).to_bytes(4, "little") + strings
    assert ldcache.parse(data) == [ldcache.Entry("libx.so.1", "/lib/libx.so.1", 0x0303)]


def test_discovery_finds_the_fake_driver(fake_driver):
    d = discover.discover(fake_driver.root)
    assert d.found and d.version == fake_driver.version == "550.54.15"
    assert [(g.index, g.minor, g.uuid, g.pci) for g in d.gpus] == \
        [(g.index, g.minor, g.uuid, g.pci) for g in fake_driver.gpus]
    assert [g.node for g in d.gpus] == ["/dev/nvidia0", "/dev/nvidia1"]
    assert d.nodes == ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                       "/dev/nvidia-modeset")
    assert d.cap_nodes == ("/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2")
    assert sorted(lib.path for lib in d.libraries) == sorted(fake_driver.libraries)
    assert ("/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", "libcuda.so.1") in \
        [(lib.path, lib.soname) for lib in d.libraries]
    assert all(fake_driver.decoy != lib.path for lib in d.libraries)    # 535: not this module's
    assert d.binaries == ("/usr/bin/nvidia-smi",)
    assert d.sockets == ("/run/nvidia-persistenced/socket",)
    assert d.firmware == tuple(f"/lib/firmware/nvidia/550.54.15/{n}"
                               for n in ("gsp_ga10x.bin", "gsp_tu10x.bin"))


def test_tools_are_found_on_path_as_a_cloud_image_lays_them_out(fake_driver, monkeypatch):
    """nvidia-smi in /usr/local/nvidia/bin (as on the lent H200 machines and
    GKE's nodes), a directory that is on $PATH but no standard one."""
    # (a short directory: pytest's tmp_path under xdist is too long for the
    # driver's AF_UNIX socket, 108 bytes at most)
    d = tempfile.mkdtemp(prefix="minirun-fake-nvidia-", dir="/tmp")
    try:
        _tools_on_path(fakedriver.build(os.path.join(d, "root"), gpus=1).root, monkeypatch)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _tools_on_path(root: str, monkeypatch) -> None:
    os.makedirs(f"{root}/usr/local/nvidia/bin")
    os.rename(f"{root}/usr/bin/nvidia-smi", f"{root}/usr/local/nvidia/bin/nvidia-smi")
    monkeypatch.setenv("PATH", "/usr/local/nvidia/bin:/usr/bin:relative/bin")
    assert discover.discover(root).binaries == ("/usr/local/nvidia/bin/nvidia-smi",)
    monkeypatch.setenv("PATH", "/usr/bin")
    assert discover.discover(root).binaries == ()


def test_the_environment_names_the_driver_root(fake_driver, monkeypatch):
    monkeypatch.setenv(discover.DRIVER_ROOT_ENV, fake_driver.root)
    assert discover.discover().version == "550.54.15"


def test_the_version_falls_back_to_proc(tmp_path):
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 07:09:35 UTC 2025\n")
    assert discover.module_version(str(tmp_path)) == "580.65.06"


def test_no_driver_is_an_empty_result_not_an_error(tmp_path):
    d = discover.discover(str(tmp_path))
    assert not d.found and d.gpus == () and d.libraries == ()
    with pytest.raises(generate.NoDriver, match="no NVIDIA driver found under"):
        generate.spec(d)


def test_the_spec_names_each_gpu_by_index_and_uuid(fake_driver):
    spec = generate.spec(discover.discover(fake_driver.root))
    assert spec["kind"] == "nvidia.com/gpu" and spec["cdiVersion"] == "0.5.0"
    by_name = {d["name"]: d["containerEdits"]["deviceNodes"] for d in spec["devices"]}
    g0, g1 = fake_driver.gpus
    node0 = {"path": "/dev/nvidia0", "hostPath": f"{fake_driver.root}/dev/nvidia0"}
    node1 = {"path": "/dev/nvidia1", "hostPath": f"{fake_driver.root}/dev/nvidia1"}
    assert by_name == {"0": [node0], g0.uuid: [node0], "1": [node1], g1.uuid: [node1],
                       "all": [node0, node1]}


def test_the_common_edits_mount_the_driver_and_write_nvidias_hooks(fake_driver):
    edits = generate.spec(discover.discover(fake_driver.root))["containerEdits"]
    assert [n["path"] for n in edits["deviceNodes"]] == [
        "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]
    mounts = {m["containerPath"]: m for m in edits["mounts"]}
    cuda = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"
    assert mounts[cuda] == {"hostPath": fake_driver.root + cuda, "containerPath": cuda,
                            "options": ["ro", "nosuid", "nodev", "bind"]}
    assert {"/usr/bin/nvidia-smi", "/run/nvidia-persistenced/socket"} <= set(mounts)
    assert not any("535" in p for p in mounts)
    links, ldcache_hook = edits["hooks"]
    assert links["path"] == ldcache_hook["path"] == "/usr/bin/nvidia-cdi-hook"
    assert links["hookName"] == "createContainer"
    assert links["args"][:2] == ["nvidia-cdi-hook", "create-symlinks"]
    pairs = links["args"][2:]
    assert pairs[::2] == ["--link"] * (len(pairs) // 2)
    lib = "/usr/lib/x86_64-linux-gnu"
    assert f"libcuda.so.550.54.15::{lib}/libcuda.so.1" in pairs
    assert f"libcuda.so.1::{lib}/libcuda.so" in pairs
    assert f"libnvidia-ml.so.550.54.15::{lib}/libnvidia-ml.so.1" in pairs
    assert ldcache_hook["args"] == ["nvidia-cdi-hook", "update-ldcache", "--folder", lib]


def test_the_spec_reads_back_through_the_rooms_parser(fake_driver):
    from minirun.engine.cdi import spec as cdi_spec
    text = generate.dump(generate.spec(discover.discover(fake_driver.root)))
    parsed = cdi_spec.parse(cdi_spec.decode(text, "nvidia.yaml"), "nvidia.yaml")
    assert [d.name for d in parsed.devices][:2] == ["0", fake_driver.gpus[0].uuid]


# -- the CLI, as root and as the test user -----------------------------------

@pytest.fixture(params=["root", "rootless"])
def user(request):
    if not is_root():
        pytest.skip("the CLI tests run as root (the rootless one switches to the test user)")
    if request.param == "rootless" and unprivileged_user() is None:
        pytest.skip("no test user: run scripts/setup-host as root")
    r = Runtime(request.param)
    yield r
    r.cleanup()


def minirun(user: Runtime, *args: str, **env: str) -> subprocess.CompletedProcess:
    pre = user.prefix()
    settings = [f"{k}={v}" for k, v in env.items()]
    argv = (pre[:-1] + settings + pre[-1:] if pre else ["env", *settings]) + [MINIRUN, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_cdi_generate_and_list_through_the_cli(user, fake_driver):
    out = os.path.join(user.scratch, "specs", "nvidia.json")
    os.makedirs(os.path.dirname(out))
    user.chown(user.scratch)
    r = minirun(user, "cdi", "generate", "--output", out, MINIRUN_DRIVER_ROOT=fake_driver.root)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        spec = json.load(f)                 # the .json extension chose the format
    assert spec["cdiVersion"] == "0.5.0" and len(spec["devices"]) == 5
    r = minirun(user, "cdi", "list", MINIRUN_CDI_DIRS=os.path.dirname(out))
    assert r.returncode == 0, r.stderr
    g0, g1 = fake_driver.gpus
    assert r.stdout.split() == ["nvidia.com/gpu=0", "nvidia.com/gpu=1",
                                f"nvidia.com/gpu={g0.uuid}", f"nvidia.com/gpu={g1.uuid}",
                                "nvidia.com/gpu=all"]
    r = minirun(user, "cdi", "generate", MINIRUN_DRIVER_ROOT=fake_driver.root)
    assert r.returncode == 0 and r.stdout.startswith("---\ncdiVersion: 0.5.0\n")


def test_cdi_generate_without_a_driver_says_so(user):
    """This machine has no NVIDIA driver: one line, exit 125, nothing written."""
    if os.path.exists("/sys/module/nvidia/version"):
        pytest.skip("this host has an NVIDIA driver")
    out = os.path.join(user.scratch, "nvidia.yaml")
    r = minirun(user, "cdi", "generate", "--output", out)
    assert r.returncode == 125
    assert r.stderr.startswith("Error: no NVIDIA driver found under /") and \
        len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert not [n for n in os.listdir(user.scratch) if n.startswith(".cdi-") or n == "nvidia.yaml"]


def test_cdi_generate_into_a_missing_directory_leaves_nothing(user, fake_driver):
    out = os.path.join(user.scratch, "no-such-dir", "nvidia.yaml")
    r = minirun(user, "cdi", "generate", "-o", out, MINIRUN_DRIVER_ROOT=fake_driver.root)
    assert r.returncode == 125 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "is not a directory" in r.stderr and "mkdir -p" in r.stderr
    assert not os.path.exists(os.path.dirname(out))


def test_info_shows_the_gpus_and_cdi_devices(user, fake_driver):
    d = os.path.join(user.scratch, "specs")
    os.makedirs(d)
    with open(os.path.join(d, "nvidia.yaml"), "w") as f:
        f.write(generate.dump(generate.spec(discover.discover(fake_driver.root))))
    user.chown(user.scratch)
    r = minirun(user, "--root", os.path.join(user.scratch, "store"), "info", "--format", "json",
                MINIRUN_DRIVER_ROOT=fake_driver.root, MINIRUN_CDI_DIRS=d)
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    assert facts["gpus"]["driver"] == "NVIDIA 550.54.15"
    assert fake_driver.gpus[1].uuid in facts["gpus"]["gpu 1"]
    assert "nvidia.com/gpu=all" in facts["cdiDevices"]["devices"]


def test_the_spec_in_memory_serves_a_registry(fake_driver, tmp_path):
    from minirun.engine.cdi import registry
    found = registry.Registry(dirs=[str(tmp_path)], specs=[generate.in_memory(fake_driver.root)])
    assert "nvidia.com/gpu=all" in found.names()
    edits = found.resolve(["nvidia.com/gpu=1"], native_hooks=("nvidia-cdi-hook",))
    assert "/dev/nvidia1" in [n.path for n in edits.device_nodes]
    assert generate.in_memory(str(tmp_path)) is None
