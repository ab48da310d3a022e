"""config.json parsing: every refusal names its JSON path."""
import copy
import json
import os

import pytest

from minirun.errors import ConfigError
from minirun.runtime import spec
from minirun.runtime.defaults import default_config


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def parse(bundle, doc):
    return spec.parse(doc, str(bundle))


def test_default_config_parses(bundle):
    s = parse(bundle, default_config())
    assert s.process.args == ("sh",)
    assert s.root_path == os.path.join(str(bundle), "rootfs")
    assert s.root_readonly
    assert [n.type for n in s.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount",
                                                    "cgroup"]
    assert s.process.capabilities.bounding == ("CAP_AUDIT_WRITE", "CAP_KILL",
                                               "CAP_NET_BIND_SERVICE")
    assert s.process.rlimits[0].type == "RLIMIT_NOFILE"
    assert s.linux.masked_paths[0] == "/proc/acpi"


def test_dataclasses_are_frozen(bundle):
    s = parse(bundle, default_config())
    with pytest.raises(AttributeError):
        s.hostname = "x"


@pytest.mark.parametrize("change,message", [
    (lambda c: c["linux"]["namespaces"].append({"type": "time"}),
     "linux.namespaces[6].type: 'time' is not supported"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}),
     "linux.namespaces[6].type: namespace 'pid' is listed twice"),
    (lambda c: c.update(ociVersion="2.0"), "ociVersion: '2.0' is not a 1.x"),
    (lambda c: c["process"].update(args=[]), "process.args: must name the program"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd: must be an absolute path"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_FLY"),
     "unknown capability 'CAP_FLY'"),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}),
     "process.rlimits[1].type: unknown rlimit 'RLIMIT_NOPE'"),
    (lambda c: c["mounts"].append({"destination": "relative"}),
     "mounts[7].destination: must be an absolute path"),
    (lambda c: c["process"].update(user={"uid": "0"}),
     "process.user.uid: expected an integer, got a string"),
    (lambda c: c["linux"].update(intelRdt={"closID": "x"}), "linux.intelRdt: is not supported"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_NOPE"}),
     "linux.seccomp.defaultAction: unknown action"),
    (lambda c: c["linux"].update(rootfsPropagation="sideways"),
     "linux.rootfsPropagation: unknown propagation"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}),
     "a new user namespace needs uid and gid mappings"),
    (lambda c: c["hooks"] if c.update(hooks={"prestart": [{"path": "rel"}]}) else None,
     "hooks.prestart[0].path: must be an absolute path"),
    (lambda c: c["root"].update(path="nowhere"), "root.path: `"),
])
def test_refusals_name_the_json_path(bundle, change, message):
    doc = copy.deepcopy(default_config())
    change(doc)
    with pytest.raises(ConfigError) as e:
        parse(bundle, doc)
    assert message in str(e.value)


def test_missing_and_malformed_config(tmp_path):
    with pytest.raises(ConfigError, match="config.json` does not exist"):
        spec.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        spec.load(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="expected a JSON object"):
        spec.load(str(tmp_path))


def test_seccomp_and_hooks_parse(bundle):
    doc = default_config()
    doc["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 5}]}]}
    doc["hooks"] = {"poststop": [{"path": "/bin/true", "args": ["true"], "timeout": 3}]}
    s = parse(bundle, doc)
    assert s.linux.seccomp.syscalls[0].args == ((0, "SCMP_CMP_EQ", 5, 0),)
    assert s.hooks.poststop[0].timeout == 3


@pytest.mark.parametrize("version, ok", [
    ("1.0.0", True), ("1.2.0", True), ("1.10.20", True), ("1.0.2-dev", True),
    ("1.1.0-rc.1", True), ("1.0.0+build-7", True), ("1.0.0-rc-1+b.2", True),
    ("2.0.0", False), ("1.0", False), ("1", False), ("", False), ("v1.0.0", False),
    ("1.00.0", False), ("1.0.01", False), ("1.0.0-", False), ("1.0.0+", False),
    ("1.0.0-a_b", False), ("1.0.0+a+b", False), ("1.٣.0", False), ("1.0.0\n", False)])
def test_runtime_spec_versions_are_semver_1(version, ok):
    assert spec.is_version_1(version) is ok
