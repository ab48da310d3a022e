"""Leftover checks look only at what their test made (issue 14): with another
minirun's containers on the machine (a created one holding its launch
process, a detached engine container with its monitor, a lazy or network
helper), a test that leaves nothing behind still passes its checks."""
import os
import uuid

import pytest

from tests.conftest import Runtime, leftovers, processes
from tests.e2e.conftest import Minirun
from tests.e2e.test_faults import _leftovers


@pytest.fixture
def foreign(busybox_rootfs, registries_conf, registry):
    """Another user of minirun as root, with a scratch directory, a runtime
    state and a store of its own: a container created and not started
    (its minirun:[2:INIT] waits on the fifo) and a detached engine one."""
    other = Runtime("root")
    cid = "foreign-" + uuid.uuid4().hex[:8]
    b = other.bundle(busybox_rootfs, ["sleep", "600"])
    other.oci("create", "--bundle", b.path, cid, check=True)
    engine = Minirun(other, registries_conf)
    image = f"{registry.addr}/test/busybox:latest"
    engine("pull", "-q", image, check=True)
    engine("run", "-d", "--network", "none", image, "sleep", "600", check=True)
    try:
        yield other
    finally:
        engine("rm", "-fa", timeout=60)
        other.cleanup()


def test_leftover_checks_see_only_their_own(rt, mr, foreign, busybox_rootfs, registry):
    assert processes(foreign.scratch, "minirun:[2:")     # the foreign one is there
    assert processes(foreign.scratch, "minirun:[MON]")
    cid = "t-" + uuid.uuid4().hex[:10]
    b = rt.bundle(busybox_rootfs, ["true"])
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    rt.oci("delete", cid)
    assert leftovers(rt, cid, b) == []
    image = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", image, check=True)
    ecid = mr("run", "-d", "--network", "none", image, "true", check=True).stdout.strip()
    mr("wait", ecid, check=True)
    mr("rm", ecid, check=True)
    assert _leftovers(mr, ecid) == []
    assert processes(rt.scratch, "minirun:[MON]") == []
    assert processes(rt.scratch, "minirun:[2:") == []
    assert os.path.isdir(os.path.join(foreign.root, os.listdir(foreign.root)[0]))
