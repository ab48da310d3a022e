"""The order of the launch steps, against a recording kernel seam (no root)."""
import os

import pytest

from minirun.kernel import cgroups, mounts as M
from minirun.runtime import init, spec
from minirun.runtime.defaults import default_config
from tests.unit.recording import Recorder


class FakeChannel:
    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)

    def expect(self, word):
        self.sent.append(f"<{word}>")
        return "{}"


@pytest.fixture
def recorded(tmp_path):
    (tmp_path / "rootfs").mkdir()
    doc = default_config()
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    s = spec.parse(doc, str(tmp_path))
    rec = Recorder()
    plan = init.Plan(spec=s, process=s.process, bundle=str(tmp_path),
                     cgroup_view=cgroups.View(unified=True))
    chan = FakeChannel()
    cwd = os.getcwd()
    try:
        init.prepare_rootfs(rec.seam(), plan, chan, init.Step())
    finally:
        os.chdir(cwd)
    return rec, chan


def test_propagation_is_stopped_before_anything_is_mounted(recorded):
    rec, _ = recorded
    first = rec.mounts()[0]
    assert first == ("/", None, M.MS_SLAVE | M.MS_REC)
    assert rec.mounts()[1][2] == M.MS_BIND | M.MS_REC  # the rootfs onto itself


def test_config_mounts_in_config_order_then_devices(recorded):
    rec, _ = recorded
    targets = [m[0] for m in rec.mounts()]
    order = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert [t for t in targets if t in order] == order
    names = rec.names()
    first_dev = names.index("devices.mknod_in_root")
    last_mount = max(i for i, c in enumerate(rec.calls)
                     if c[0] == "mounts.mount" and (c[2].get("shown") or "") == "/sys/fs/cgroup")
    assert first_dev > last_mount


def test_hooks_run_after_mounts_and_before_pivot(recorded):
    rec, chan = recorded
    # on a cgroup v2 host INIT waits to be placed before it mounts cgroup2
    assert chan.sent == ["<placed>", "hooks", "<hooks-done>"]
    names = rec.names()
    pivot = names.index("mounts.pivot_root")
    assert names.index("devices.symlink_in_root") < pivot
    # pivot_root(".", ".") then a lazy unmount of the old root stacked on top
    assert rec.calls[pivot][1] == (".", ".")
    assert rec.calls[pivot + 1] == ("mounts.umount2", (".", M.MNT_DETACH), {})


def test_after_pivot_sysctl_then_readonly_then_masked_then_hostname(recorded):
    rec, _ = recorded
    names = rec.names()
    pivot = names.index("mounts.pivot_root")
    sysctl = names.index("sysctl.write")
    ro = [i for i, c in enumerate(rec.calls) if c[0] == "mounts.mount"
          and c[1][0] == "/proc/sys"]
    masked = [i for i, c in enumerate(rec.calls) if c[0] == "mounts.mount"
              and c[1][1] in ("/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/acpi")]
    host = names.index("uts.sethostname")
    assert pivot < sysctl < min(ro)
    assert max(ro) < min(masked) < host or not masked
    assert rec.calls[host][1] == ("minirun",)


def test_readonly_root_is_the_last_mount(recorded):
    rec, _ = recorded
    last = rec.mounts()[-1]
    assert last[0] == "/" and last[2] & M.MS_REMOUNT and last[2] & M.MS_RDONLY
