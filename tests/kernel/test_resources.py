"""linux.resources through minirun-oci, root and rootless: a malformed entry
is refused when config.json is read, naming its JSON path, before anything
is made; `update` changes a running container's limits in its cgroup (this
host's v1 hierarchies), and refuses malformed ones the same way."""
import json
import os

import pytest

from tests.conftest import leftovers
from tests.kernel.test_lifecycle import wait_status


@pytest.mark.parametrize("resources, message", [
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 10}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].minor: missing"),
    ({"devices": [{"allow": True, "type": "x", "major": 1, "minor": 3}]},
     "linux.resources.devices[0].type: 'x' is not a type a device rule names"),
    ({"memory": {"limit": "64m"}},
     "linux.resources.memory.limit: expected an integer, got a string"),
    ({"hugepageLimits": [{"pageSize": "2MB/../x", "limit": 1}]},
     "linux.resources.hugepageLimits[0].pageSize: '2MB/../x' is not a page size"),
])
def test_malformed_resources_are_refused_at_load(rt, busybox_rootfs, cid, resources, message):
    # Rootless without a delegated cgroup the limits are not applied (with a
    # warning), but a malformed config is still one: refused the same way.
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("linux.resources", resources)
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 125, r
    line, = r.stderr.strip().splitlines()            # one line, no traceback
    assert line.startswith(f"minirun-oci: {message}"), r.stderr
    assert leftovers(rt, cid, b) == []


def _pids_max(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        path = next(ln.rstrip("\n").split(":", 2)[2] for ln in f if ln.split(":")[1] == "pids")
    with open(os.path.join("/sys/fs/cgroup/pids", path.lstrip("/"), "pids.max")) as f:
        return f.read().strip()


def _update(rt, cid: str, resources) -> "object":
    path = os.path.join(rt.scratch, "resources.json")
    with open(path, "w") as f:
        json.dump(resources, f)
    rt.chown(path)
    return rt.oci("update", "--resources", path, cid)


def test_update_changes_a_running_containers_limits(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    b.set("linux.resources", {"pids": {"limit": 20}})
    b.write()
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    pid = wait_status(rt, cid, "running")["pid"]
    # malformed: refused naming the path, before the container is looked at
    r = _update(rt, cid, {"pids": {"limit": "30"}})
    assert r.returncode == 125 and r.stderr.strip().splitlines() == [
        "minirun-oci: linux.resources.pids.limit: expected an integer, got a string"], r
    r = _update(rt, cid, [])
    assert r.returncode == 125 and "expected a JSON object" in r.stderr, r
    r = _update(rt, cid, {"pids": {"limit": 30}})
    if rt.rootless:          # no writable cgroup for a plain user on this host
        assert r.returncode == 125 and "has no cgroup of its own" in r.stderr, r
    else:
        assert r.returncode == 0, r
        assert _pids_max(pid) == "30"
        r = _update(rt, cid, {"memory": {"limit": 96 << 20}})     # the rest stay
        assert r.returncode == 0 and _pids_max(pid) == "30", r
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []


def test_update_raises_memory_and_swap_together(rt, busybox_rootfs, cid):
    """v1 refuses memory above memory+swap at any moment: raising both, the
    runtime writes the larger memory+swap first."""
    if rt.rootless:
        pytest.skip("cgroup limits need root on this host (cgroup v1, nothing delegated)")
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        pytest.skip("this kernel does not account swap (no memory.memsw files)")
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    b.set("linux.resources", {"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    b.write()
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    r = _update(rt, cid, {"memory": {"limit": 256 << 20, "swap": 256 << 20}})
    assert r.returncode == 0, r
    r = _update(rt, cid, {"memory": {"limit": 32 << 20, "swap": 32 << 20}})   # and down
    assert r.returncode == 0, r
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []
