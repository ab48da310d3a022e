"""CDI specs read and checked (engine/cdi/spec.py, versions.py, names.py):
the corpus in tests/data/cdi, one valid spec per cdiVersion 0.3.0-1.1.0
(YAML and JSON), and malformed ones each refused with one CDIError that
names the file and the field.  No privileges needed: run as root and as the
test user."""
import json
import os

import pytest

from minirun.engine.cdi import names, spec, versions
from minirun.engine.cdi.names import CDIError

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cdi")
VALID = {"0.3.0": "v030.yaml", "0.4.0": "v040.json", "0.5.0": "v050.yaml",
         "0.6.0": "v060.json", "0.7.0": "v070.yaml", "0.8.0": "v080.json",
         "1.0.0": "v100.yaml", "1.1.0": "v110.json"}


def corpus(*parts: str) -> str:
    return os.path.join(DATA, *parts)


def write(tmp_path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def small(**top) -> dict:
    doc = {"cdiVersion": "0.3.0", "kind": "vendor.example/dev",
           "devices": [{"name": "a", "containerEdits": {"env": ["A=1"]}}]}
    doc.update(top)
    return doc


@pytest.mark.parametrize("version", VALID)
def test_every_version_loads(version):
    s = spec.load(corpus("valid", VALID[version]))
    assert s.version == version
    assert s.source.endswith(VALID[version])
    # each corpus file uses what its version added, so it needs exactly it
    needed, _ = versions.needed(s)
    assert needed == version or version in ("0.3.0", "0.8.0", "1.0.0")


def test_yaml_and_json_give_the_same_spec(tmp_path):
    doc = small(devices=[{"name": "0", "containerEdits": {
        "deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null", "fileMode": 438}],
        "mounts": [{"hostPath": "/a", "containerPath": "/b", "options": ["ro"]}]}}],
        cdiVersion="0.5.0")
    import yaml
    a = spec.load(write(tmp_path, "a.json", doc))
    b = spec.load(write(tmp_path, "b.yaml", yaml.safe_dump(doc)))
    assert a._replace(source="") == b._replace(source="")
    node = a.devices[0].edits.device_nodes[0]
    assert (node.path, node.host_path, node.file_mode, node.major) == \
        ("/dev/x", "/dev/null", 438, 0)


@pytest.mark.parametrize("name, words", [
    ("unknown-field.yaml", ["devices[0].containerEdits.mounts[0].readOnly", "unknown field"]),
    ("newer-feature.json", ["deviceNodes[0].hostPath", "needs cdiVersion 0.5.0", "declares 0.4.0"]),
    ("clash.yaml", ["devices[1].name", "'twin' is defined twice"]),
    ("old-version.yaml", ["cdiVersion", "'0.2.0'", "0.3.0 to 1.1.0"]),
    ("bad-kind.json", ["kind", "'-gpu' should start with a letter"]),
    ("not-yaml.yaml", ["not valid YAML", "line 3"]),
])
def test_malformed_refused_naming_file_and_field(name, words):
    with pytest.raises(CDIError) as e:
        spec.load(corpus("malformed", name))
    message = str(e.value)
    assert "\n" not in message
    assert f"`{corpus('malformed', name)}`" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("top, where, what", [
    ({"extra": 1}, "extra", "unknown field"),
    ({"kind": "nvidia.com"}, "kind", "vendor/class"),
    ({"cdiVersion": "v0.3.0"}, None, None),
    ({"cdiVersion": 0.3}, "cdiVersion", "should be a string"),
    ({"devices": []}, "devices", "at least one device"),
    ({"devices": [{"name": "a"}]}, "devices[0].containerEdits", "no edits"),
    ({"devices": [{"name": "-a", "containerEdits": {"env": ["A=1"]}}]}, "devices[0].name",
     "should start with a letter or digit"),
    ({"containerEdits": {"env": ["NOVALUE"]}}, "containerEdits.env[0]", "KEY=VALUE"),
    ({"containerEdits": {"hooks": [{"hookName": "prestop", "path": "/bin/true"}]}},
     "containerEdits.hooks[0].hookName", "not one of"),
    ({"containerEdits": {"hooks": [{"hookName": "poststop"}]}},
     "containerEdits.hooks[0].path", "is required"),
    ({"containerEdits": {"deviceNodes": [{"path": "/dev/x", "type": "z"}]}},
     "deviceNodes[0].type", "not one of b, c, u, p"),
    ({"containerEdits": {"deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}},
     "deviceNodes[0].permissions", "'rwx'"),
    ({"containerEdits": {"deviceNodes": [{"path": "/dev/x", "major": "195"}]}},
     "deviceNodes[0].major", "should be an integer"),
    ({"containerEdits": {"mounts": [{"hostPath": "/a"}]}},
     "mounts[0].containerPath", "is required"),
    ({"containerEdits": {"additionalGids": [5]}}, "containerEdits.additionalGids",
     "needs cdiVersion 0.7.0"),
    ({"annotations": {"a": "b"}}, "annotations", "needs cdiVersion 0.6.0"),
    ({"kind": "vendor.example/dev.x"}, "kind", "needs cdiVersion 0.6.0"),
    ({"containerEdits": {"mounts": [{"hostPath": "/a", "containerPath": "/b", "type": "bind"}]}},
     "mounts[0].type", "needs cdiVersion 0.4.0"),
    ({"cdiVersion": "1.0.0", "containerEdits": {"netDevices": [
        {"hostInterfaceName": "a", "name": "b"}]}}, "containerEdits.netDevices",
     "needs cdiVersion 1.1.0"),
    ({"cdiVersion": "1.0.0", "containerEdits": {"intelRdt": {"enableMonitoring": True}}},
     "intelRdt.enableMonitoring", "needs cdiVersion 1.1.0"),
])
def test_rules(tmp_path, top, where, what):
    path = write(tmp_path, "s.json", small(**top))
    if where is None:
        spec.load(path)
        return
    with pytest.raises(CDIError) as e:
        spec.load(path)
    assert str(e.value).startswith(f"CDI spec `{path}`: ")
    assert where in str(e.value) and what in str(e.value)


def test_unreadable_file_is_one_error(tmp_path):
    with pytest.raises(CDIError, match="cannot read it: No such file"):
        spec.load(str(tmp_path / "gone.yaml"))


def test_in_memory_spec_names_its_source():
    with pytest.raises(CDIError, match=r"^CDI spec `generated for this host`: kind"):
        spec.parse(small(kind="x"), "generated for this host")
    assert spec.parse(small(), "generated").source == "generated"


@pytest.mark.parametrize("name, parts", [
    ("nvidia.com/gpu=0", ("nvidia.com", "gpu", "0")),
    ("nvidia.com/gpu=all", ("nvidia.com", "gpu", "all")),
    ("nvidia.com/gpu=GPU-4b1e0c1a-1234", ("nvidia.com", "gpu", "GPU-4b1e0c1a-1234")),
    ("vendor.example/mig.x=0:1", ("vendor.example", "mig.x", "0:1")),
])
def test_qualified_names(name, parts):
    assert names.is_qualified(name)
    assert names.parse_qualified(name) == parts
    assert names.qualified(*parts) == name


@pytest.mark.parametrize("name", ["nvidia.com/gpu", "nvidia.com/gpu=", "gpu=0", "/dev/gpu=0",
                                  "1vendor/gpu=0", "nvidia.com/gpu-=0", "nvidia.com/gpu=a/b",
                                  "nvidia.com/gpu=0-", "nvidia.com/g pu=0"])
def test_bad_qualified_names(name):
    with pytest.raises(CDIError) as e:
        names.parse_qualified(name)
    assert repr(name) in str(e.value) and "vendor/class=name" in str(e.value)


def test_paths_are_not_qualified():
    assert not names.is_qualified("/dev/nvidia0")
    assert not names.is_qualified("/dev/x=y/z")
