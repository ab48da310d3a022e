"""The cgroup v2 device filter (kernel/bpf.py), loaded into this host's
kernel and attached to a v2 group of our own: what it allows and denies is
what the devices controller would (v1's semantics, runc's default list)."""
import os
import subprocess

import pytest

from minirun.kernel import bpf
from minirun.runtime.resources import DEFAULT_DEVICES
from tests.conftest import REPO, is_root


def test_effective_rules_follow_v1():
    deny_all = {"allow": False, "access": "rwm"}
    loop = {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "rw"}
    assert bpf.effective([deny_all, loop]) == (False, [loop])
    assert bpf.effective([loop, {"allow": True, "access": "rwm"}]) == (True, [])
    assert len(bpf.device_program([deny_all] + DEFAULT_DEVICES)) % 8 == 0


def _v2_dir() -> str | None:
    for line in open("/proc/self/mountinfo"):
        left, _, right = line.partition(" - ")
        if right.startswith("cgroup2 "):
            return left.split()[4]
    return None


@pytest.mark.parametrize("rules,read_ok,mknod_ok", [
    ([{"allow": False, "access": "rwm"}], False, True),                  # only the defaults
    ([{"allow": False, "access": "rwm"},
      {"allow": True, "type": "b", "major": 7, "minor": 123, "access": "r"}], True, True),
    ([{"allow": False, "access": "rwm"},
      {"allow": True, "type": "b", "major": 7, "minor": 123, "access": "r"},
      {"allow": False, "type": "b", "major": 7, "minor": 123, "access": "r"}],
     False, True),                                                         # later rules win
    ([{"allow": True, "access": "rwm"}], True, True),                     # --privileged
])
def test_the_filter_in_the_kernel(rules, read_ok, mknod_ok):
    if not is_root():
        pytest.skip("loading a BPF program needs root (CAP_BPF)")
    top = _v2_dir()
    if top is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    group = os.path.join(top, "minirun", f"device-filter-{os.getpid()}")
    os.makedirs(group)
    node = os.path.join(REPO, ".build", f"node-{os.getpid()}")
    try:
        bpf.attach_device_filter(group, rules + DEFAULT_DEVICES)
        script = (f"echo $$ > {group}/cgroup.procs; mknod {node} b 7 123 && echo mknod-ok; "
                  f"head -c 1 {node} 2>&1; head -c 1 /dev/zero | wc -c")
        r = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
        assert ("mknod-ok" in r.stdout) == mknod_ok, r
        if mknod_ok:      # a node with no device behind it: ENXIO when allowed, else EPERM
            assert ("Operation not permitted" not in r.stdout) == read_ok, r
        assert r.stdout.endswith("1\n")                   # /dev/zero: always allowed
    finally:
        if os.path.exists(node):
            os.unlink(node)
        os.rmdir(group)
