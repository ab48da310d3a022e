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

    def fds(self) -> set[int]:
        return set()


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


def _finalized(no_new_privs: bool, bundle) -> list[str]:
    """INIT's last steps for a config that drops root, against the seam."""
    doc = default_config()
    doc["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 0o22}
    doc["process"]["noNewPrivileges"] = no_new_privs
    doc["process"]["args"] = ["sh"]
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    (bundle / "rootfs").mkdir()
    s = spec.parse(doc, str(bundle))
    rec = Recorder()
    plan = init.Plan(spec=s, process=s.process, seccomp=b"")
    init.finalize(rec.seam(), plan, FakeChannel(), init.Step())
    return rec.names()


@pytest.mark.parametrize("no_new_privs", [True, False])
def test_the_credential_switch_in_runc_and_cruns_order(no_new_privs, tmp_path):
    """bounding set trimmed while CAP_SETPCAP is still there; KEEPCAPS on;
    groups and gid before the uid (CAP_SETGID goes with uid 0); the other
    capability sets exactly as configured after it; the host's descriptors
    closed before the working directory is entered (CVE-2024-21626);
    no_new_privs, then seccomp, as late as possible; execve last."""
    names = _finalized(no_new_privs, tmp_path)
    order = ["rlimits.setrlimit", "capabilities.bounding_drop_except",
             "capabilities.set_keepcaps", "credentials.setgroups", "credentials.setresgid",
             "credentials.setresuid", "capabilities.capset", "capabilities.ambient_set",
             "process.umask", "process.close_range", "process.chdir"]
    at = [names.index(n) for n in order]
    assert at == sorted(at), names
    assert names[-2:] == ["process.default_signals", "process.execve"]
    seccomp = names.index("seccomp.install")
    if no_new_privs:    # after the switch, behind no_new_privs
        assert names.index("process.set_no_new_privs") < seccomp
        assert seccomp > names.index("process.chdir")
    else:               # loading it needs CAP_SYS_ADMIN: before the uid changes
        assert "process.set_no_new_privs" not in names
        assert seccomp < names.index("credentials.setresuid")
