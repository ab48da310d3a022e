"""CDI edits applied to a config.json dict (engine/cdi/edits.py), with the
reference library's results.  Host nodes are /dev/null and /dev/zero (1:3,
1:5), so no privileges are needed: run as root and as the test user; the
NVIDIA-major nodes made with mknod are in tests/e2e/test_cdi_oracle.py."""
import os

from minirun.engine.cdi import edits as edits_mod
from minirun.engine.cdi.edits import apply, merge
from minirun.engine.cdi.registry import Registry
from minirun.engine.cdi.spec import DeviceNode, Edits, Hook, IntelRdt, Mount, NetDevice

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cdi")


def base() -> dict:
    return {"process": {"env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
                       {"destination": "/etc/hosts", "type": "bind", "source": "/h"}],
            "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]},
                      "devices": [{"path": "/dev/null", "type": "c", "major": 9, "minor": 9}]}}


def test_device_nodes_filled_from_the_host():
    config = base()
    apply(config, Edits(device_nodes=(
        DeviceNode(path="/dev/null"),
        DeviceNode(path="/dev/z", host_path="/dev/zero", permissions="rw"),
        DeviceNode(path="/dev/n2", host_path="/dev/null", permissions="none"))))
    assert config["linux"]["devices"] == [
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
        {"path": "/dev/z", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666},
        {"path": "/dev/n2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    assert config["linux"]["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"},
        {"allow": True, "type": "c", "major": 1, "minor": 3}]


def test_a_described_node_is_kept_as_written_and_takes_the_user():
    config = base()
    config["process"]["user"] = {"uid": 1000, "gid": 100}
    apply(config, Edits(device_nodes=(
        DeviceNode(path="/dev/gone", host_path="/nonexistent/x", type="c", major=195, minor=7),
        DeviceNode(path="/dev/zero", type="c", major=1, minor=5, uid=0))))
    assert config["linux"]["devices"][1:] == [
        {"path": "/dev/gone", "type": "c", "major": 195, "minor": 7, "uid": 1000, "gid": 100},
        {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666,
         "uid": 0, "gid": 100}]


def test_a_missing_optional_node_warns_and_is_skipped():
    config, heard = base(), []
    apply(config, Edits(device_nodes=(DeviceNode(path="/nonexistent/nvidia-uvm-tools"),)),
          warn=heard.append)
    assert config == base()
    assert heard == ["CDI device node /nonexistent/nvidia-uvm-tools does not exist on "
                     "this host: skipped"]


def test_a_node_of_the_wrong_type_is_an_error():
    import pytest
    from minirun.engine.cdi.names import CDIError
    with pytest.raises(CDIError, match="the spec says type 'b'"):
        apply(base(), Edits(device_nodes=(DeviceNode(path="/dev/null", type="b"),)))
    with pytest.raises(CDIError, match="is not a device node"):
        apply(base(), Edits(device_nodes=(DeviceNode(path="/etc/passwd"),)))


def test_mounts_replace_and_sort_by_depth():
    config = base()
    apply(config, Edits(mounts=(
        Mount(host_path="/usr/lib/x", container_path="/usr/lib/x/y/z", options=("ro", "bind")),
        Mount(host_path="/new/hosts", container_path="/etc/hosts", type="bind"),
        Mount(host_path="/opt", container_path="/opt"))))
    assert [(m["destination"], m["source"]) for m in config["mounts"]] == [
        ("/proc", "proc"), ("/opt", "/opt"), ("/dev/shm", "shm"),
        ("/etc/hosts", "/new/hosts"), ("/usr/lib/x/y/z", "/usr/lib/x")]
    assert config["mounts"][1] == {"destination": "/opt", "source": "/opt"}
    assert config["mounts"][3] == {"destination": "/etc/hosts", "source": "/new/hosts",
                                   "type": "bind"}


def test_env_hooks_gids_rdt_netdevices():
    config = base()
    config["hooks"] = {"prestart": [{"path": "/p"}]}
    apply(config, Edits(
        env=("A=1", "PATH=/x"),
        hooks=(Hook(hook_name="prestart", path="/bin/true", args=("true",), timeout=5),
               Hook(hook_name="createContainer", path="/bin/true", env=("K=V",))),
        additional_gids=(44, 0, 44, 107),
        intel_rdt=IntelRdt(clos_id="c", schemata=("L3:0=f",)),
        net_devices=(NetDevice(host_interface_name="eth1", name="net0"),)))
    assert config["process"]["env"] == ["PATH=/bin", "A=1", "PATH=/x"]
    assert config["hooks"] == {
        "prestart": [{"path": "/p"}, {"path": "/bin/true", "args": ["true"], "timeout": 5}],
        "createContainer": [{"path": "/bin/true", "env": ["K=V"]}]}
    assert config["process"]["user"]["additionalGids"] == [44, 107]
    assert config["linux"]["intelRdt"] == {"closID": "c", "schemata": ["L3:0=f"]}
    assert config["linux"]["netDevices"] == {"eth1": {"name": "net0"}}
    apply(config, Edits(additional_gids=(107, 8)))
    assert config["process"]["user"]["additionalGids"] == [44, 107, 8]


def test_merge_keeps_order_and_the_last_rdt():
    a = Edits(env=("A=1",), intel_rdt=IntelRdt(clos_id="a"), additional_gids=(1,))
    b = Edits(env=("B=1",), additional_gids=(2,))
    c = Edits(intel_rdt=IntelRdt(clos_id="c"))
    got = merge([a, b, c])
    assert got.env == ("A=1", "B=1") and got.additional_gids == (1, 2)
    assert got.intel_rdt.clos_id == "c"
    assert merge([]) == Edits()


def test_every_corpus_spec_applies():
    r = Registry([os.path.join(DATA, "valid")])
    for name in r.names():
        config = base()
        apply(config, r.resolve([name]))
        assert config != base(), name


def test_depth_is_the_clean_path():
    assert [edits_mod._depth(p) for p in ("/", "/a", "/a/b/", "//a/./b", "/a/../b/c")] == \
        [1, 1, 2, 2, 2]
