"""The CDI registry (engine/cdi/registry.py): directories by priority,
conflicts in one directory, broken files kept aside until a container asks
for their devices, in-memory specs, and resolving names to merged edits with
the host checks.  No privileges needed: run as root and as the test user."""
import json
import os

import pytest

from minirun.engine.cdi import registry, spec
from minirun.engine.cdi.names import CDIError
from minirun.engine.cdi.registry import Registry

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cdi")


def put(directory, name: str, devices: dict, top=None, kind="vendor.example/dev") -> str:
    """A spec file: devices maps each name to its env list."""
    os.makedirs(directory, exist_ok=True)
    doc = {"cdiVersion": "0.5.0", "kind": kind,
           "devices": [{"name": n, "containerEdits": {"env": env}} for n, env in devices.items()]}
    if top:
        doc["containerEdits"] = top
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def test_the_corpus_lists_every_device():
    r = Registry([os.path.join(DATA, "valid")])
    assert r.errors == {}
    assert r.names() == ["vendor.example/dev.v6=a", "vendor.example/dev=0",
                         "vendor.example/dev=all", "vendor.example/dev=gid8",
                         "vendor.example/dev=gids", "vendor.example/dev=null0",
                         "vendor.example/dev=zero0", "vendor.example/net=eth"]


def test_higher_directory_overrides(tmp_path):
    low, high = tmp_path / "etc", tmp_path / "run"
    put(low, "a.json", {"x": ["FROM=low"], "y": ["Y=low"]})
    put(high, "b.json", {"x": ["FROM=high"]})
    r = Registry([str(low), str(high)])
    assert r.resolve(["vendor.example/dev=x"]).env == ("FROM=high",)
    assert r.resolve(["vendor.example/dev=y"]).env == ("Y=low",)


def test_same_directory_is_a_conflict(tmp_path):
    a = put(tmp_path, "a.json", {"x": ["A=1"], "ok": ["B=1"]})
    b = put(tmp_path, "b.json", {"x": ["A=2"]})
    r = Registry([str(tmp_path)])
    with pytest.raises(CDIError) as e:
        r.resolve(["vendor.example/dev=x"])
    assert f"`{a}` and `{b}`" in str(e.value) and "same priority" in str(e.value)
    assert r.resolve(["vendor.example/dev=ok"]).env == ("B=1",)


def test_a_higher_directory_settles_a_conflict(tmp_path):
    put(tmp_path / "low", "a.json", {"x": ["A=1"]})
    put(tmp_path / "low", "b.json", {"x": ["A=2"]})
    put(tmp_path / "high", "c.json", {"x": ["A=3"]})
    r = Registry([str(tmp_path / "low"), str(tmp_path / "high")])
    assert r.resolve(["vendor.example/dev=x"]).env == ("A=3",)


def test_broken_file_stops_only_its_devices(tmp_path):
    put(tmp_path, "good.json", {"ok": ["A=1"]})
    bad = os.path.join(tmp_path, "nvidia.yaml")
    with open(bad, "w") as f:
        f.write("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: '0'\n"
                "  containerEdits: {env: [A=1], bogus: 1}\n")
    r = Registry([str(tmp_path)])
    assert list(r.errors) == [bad] and "bogus: unknown field" in r.errors[bad]
    assert r.resolve(["vendor.example/dev=ok"]).env == ("A=1",)
    for name in ("nvidia.com/gpu=0", "nvidia.com/gpu=1"):
        with pytest.raises(CDIError) as e:
            r.resolve([name])
        assert f"`{bad}`" in str(e.value) and "bogus" in str(e.value)


def test_a_broken_override_is_not_bypassed(tmp_path):
    put(tmp_path / "low", "a.json", {"x": ["A=1"]})
    put(tmp_path / "high", "a.json", {"x": ["NOEQUALS"]})
    r = Registry([str(tmp_path / "low"), str(tmp_path / "high")])
    with pytest.raises(CDIError, match="KEY=VALUE"):
        r.resolve(["vendor.example/dev=x"])


def test_unknown_devices(tmp_path):
    put(tmp_path, "a.json", {"x": ["A=1"]})
    r = Registry([str(tmp_path), str(tmp_path / "none")])
    known = r"dev=y: the vendor.example/dev devices are vendor.example/dev=x$"
    with pytest.raises(CDIError, match=known):
        r.resolve(["vendor.example/dev=y"])
    with pytest.raises(CDIError, match="no CDI spec in .* defines the kind nvidia.com/gpu"):
        r.resolve(["nvidia.com/gpu=all"])
    with pytest.raises(CDIError, match="vendor/class=name"):
        r.resolve(["nvidia.com/gpu"])


def test_in_memory_specs_come_lowest(tmp_path):
    made = spec.parse({"cdiVersion": "0.5.0", "kind": "vendor.example/dev",
                       "devices": [{"name": "x", "containerEdits": {"env": ["M=1"]}},
                                   {"name": "m", "containerEdits": {"env": ["M=2"]}}]},
                      "generated")
    put(tmp_path, "a.json", {"x": ["F=1"]})
    r = Registry([str(tmp_path)], specs=[made])
    assert r.resolve(["vendor.example/dev=x"]).env == ("F=1",)
    assert r.resolve(["vendor.example/dev=m"]).env == ("M=2",)
    assert Registry([], specs=[made]).names() == ["vendor.example/dev=m", "vendor.example/dev=x"]


def test_resolve_merges_spec_edits_once(tmp_path):
    put(tmp_path, "a.json", {"x": ["X=1"], "y": ["Y=1"]}, top={"env": ["TOP=1"]})
    put(tmp_path, "b.json", {"z": ["Z=1"]}, top={"env": ["OTHER=1"]}, kind="vendor.example/o")
    r = Registry([str(tmp_path)])
    got = r.resolve(["vendor.example/dev=x", "vendor.example/o=z", "vendor.example/dev=y",
                     "vendor.example/dev=x"])
    assert got.env == ("TOP=1", "X=1", "OTHER=1", "Z=1", "Y=1")


def test_missing_mount_source_and_hook_refused():
    r = Registry([os.path.join(DATA, "malformed")])
    with pytest.raises(CDIError) as e:
        r.resolve(["vendor.example/badmount=0"])
    assert "missing-mount-source.yaml" in str(e.value)
    assert "mount source /nonexistent/minirun-test/libcuda.so.1" in str(e.value)
    with pytest.raises(CDIError) as e:
        r.resolve(["vendor.example/badhook=0"])
    assert "missing-hook.json" in str(e.value) and "createContainer hook" in str(e.value)
    got = r.resolve(["vendor.example/badhook=0"], native_hooks=("nvidia-ctk",))
    assert got.hooks[0].path == "/nonexistent/minirun-test/nvidia-ctk"


def test_a_requested_device_without_its_nodes_is_an_error(tmp_path):
    doc = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [
        {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/null"}]}},
        {"name": "1", "containerEdits": {"deviceNodes": [
            {"path": "/dev/nvidia1", "hostPath": str(tmp_path / "nvidia1")},
            {"path": "/dev/dri/renderD129", "hostPath": str(tmp_path / "renderD129")}]}}],
        "containerEdits": {"deviceNodes": [{"path": str(tmp_path / "nvidia-uvm-tools")}]}}
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "n.json").write_text(json.dumps(doc))
    r = Registry([str(tmp_path / "specs")])
    assert len(r.resolve(["nvidia.com/gpu=0"]).device_nodes) == 2  # the optional one kept for apply
    with pytest.raises(CDIError) as e:
        r.resolve(["nvidia.com/gpu=1"])
    assert "CDI device nvidia.com/gpu=1" in str(e.value) and "nvidia1" in str(e.value)
    assert "does not exist on this host" in str(e.value)


def test_default_dirs(monkeypatch):
    monkeypatch.delenv("MINIRUN_CDI_DIRS", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert registry.default_dirs() == ["/etc/cdi", "/var/run/cdi"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/u/cfg")
    assert registry.default_dirs() == ["/etc/cdi", "/var/run/cdi", "/home/u/cfg/cdi"]
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert registry.default_dirs()[-1] == "/home/u/.config/cdi"
    monkeypatch.setenv("MINIRUN_CDI_DIRS", "/a::/b")
    assert registry.default_dirs() == ["/a", "/b"]
    assert Registry().dirs == ["/a", "/b"]
