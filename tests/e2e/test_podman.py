"""podman, from Debian, as a real client of minirun-oci (`podman --runtime`),
as root and as the unprivileged test user.  podman calls create, start,
state, kill and delete through conmon exactly as it calls runc."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.conftest import OCI, end_podman_pause, is_root, unprivileged_user

pytestmark = pytest.mark.podman

CONF = """[containers]
default_ulimits = ["nofile=1024:1024"]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class Podman:
    def __init__(self, mode: str, rootfs: str):
        self.user = unprivileged_user() if mode == "rootless" else None
        self.dir = tempfile.mkdtemp(prefix=f"minirun-podman-{mode}-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.dir, "containers.conf"), "w") as f:
            f.write(CONF)
        self.rootfs = os.path.join(self.dir, "rootfs")
        subprocess.run(["cp", "-a", rootfs, self.rootfs], check=True)
        os.makedirs(os.path.join(self.dir, "xdg"), mode=0o700)
        if self.user:
            subprocess.run(["chown", "-R", f"{self.user.pw_uid}:{self.user.pw_gid}", self.dir],
                           check=True)

    def argv(self, *args: str) -> list[str]:
        env = [f"CONTAINERS_CONF={self.dir}/containers.conf",
               f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}"]
        prefix = ["env"] + env
        if self.user:
            prefix = ["runuser", "-u", self.user.pw_name, "--", "env", *env,
                      f"XDG_RUNTIME_DIR={self.dir}/xdg", f"HOME={self.user.pw_dir}"]
        return prefix + ["podman", "--root", f"{self.dir}/storage", "--runroot",
                         f"{self.dir}/run", "--runtime", OCI, *args]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def run_args(self, *cmd: str, tty: bool = False) -> list[str]:
        return ["run", "--rm", "--network", "none"] + (["-t"] if tty else []) + [
            "--rootfs", self.rootfs, *cmd]

    def cleanup(self) -> None:
        self("rm", "-af", "-t", "0")
        # podman (as root) leaves its storage's overlay mount behind: unmount
        # everything under our directory, deepest first.
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if f" {self.dir}/" in line]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        end_podman_pause(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["root", "rootless"])
def podman(request, busybox_rootfs):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run scripts/setup-host as root")
    if not is_root():
        pytest.skip("the podman tests run as root (the rootless ones switch to the test user)")
    if request.param == "rootless" and unprivileged_user() is None:
        pytest.skip("no test user: run scripts/setup-host as root")
    p = Podman(request.param, busybox_rootfs)
    yield p
    p.cleanup()


def test_output_and_exit_code(podman):
    r = podman(*podman.run_args("sh", "-c", "echo hello from minirun; cat /proc/self/uid_map; "
                                "exit 7"))
    assert r.returncode == 7, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hello from minirun"
    if podman.user:
        assert lines[1].split() == ["0", str(podman.user.pw_uid), "1"]


def test_podmans_default_network(podman):
    """podman's own network, not --network none: as root it makes the network
    namespace itself (CNI's bridge here), passes it by path and asks for the
    sysctl net.ipv4.ping_group_range in it (Debian's containers.conf default,
    repeated in CONF); a plain user's goes through slirp4netns.  The
    container must get an address and see the sysctl."""
    r = podman("run", "--rm", "--rootfs", podman.rootfs, "sh", "-c",
               "ip -4 -o addr show; cat /proc/sys/net/ipv4/ping_group_range")
    assert r.returncode == 0, r.stderr
    addresses = [ln.split()[3] for ln in r.stdout.splitlines() if " inet " in ln]
    assert [a for a in addresses if not a.startswith("127.")], r.stdout
    assert r.stdout.splitlines()[-1].split() == ["0", "0"], r.stdout
    r = podman("run", "-d", "--rootfs", podman.rootfs, "sleep", "30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    r = podman("exec", cid, "sh", "-c", "ip -4 -o addr show | grep -v ' lo '")
    assert r.returncode == 0 and " inet " in r.stdout, r.stderr
    assert podman("rm", "-f", "-t", "0", cid).returncode == 0


@pytest.mark.parametrize("cmd,code", [("/no/such/program", 127), ("/etc/passwd", 126)])
def test_exit_codes_for_commands_that_cannot_run(podman, cmd, code):
    r = podman(*podman.run_args(cmd))
    assert r.returncode == code, r.stderr


def test_tty(podman):
    argv = podman.argv(*podman.run_args("sh", "-c", "tty; [ -t 1 ] && echo is-a-tty",
                                                 tty=True))
    # run -t needs a terminal on our side too: script(1) gives it one.
    r = subprocess.run(["script", "-qec", " ".join(f"'{a}'" for a in argv), "/dev/null"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "/dev/pts/0" in r.stdout and "is-a-tty" in r.stdout


def test_detach_stop_rm(podman):
    r = podman("run", "-d", "--network", "none", "--rootfs", podman.rootfs,
               "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    r = podman("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", cid)
    status, pid = r.stdout.split()
    assert status == "running" and int(pid) > 0
    r = podman("exec", cid, "sh", "-c", "echo from-exec")
    assert r.returncode == 0 and r.stdout.strip() == "from-exec", r.stderr
    r = podman("stop", "-t", "10", cid)
    assert r.returncode == 0, r.stderr
    r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid)
    assert r.stdout.split() == ["exited", "0"]
    r = podman("rm", cid)
    assert r.returncode == 0, r.stderr
    assert podman("ps", "-aq").stdout.strip() == ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


def test_pause_and_unpause(podman):
    """podman pause/unpause through minirun-oci pause/resume: the container's
    processes stop counting while paused, and go on after.  Rootless podman
    on this cgroup v1 host refuses by itself, before it calls the runtime
    (minirun's own refusal, rootless: tests/e2e/test_everyday.py)."""
    r = podman("run", "-d", "--network", "none", "--rootfs", podman.rootfs, "sh", "-c",
               "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    r = podman("pause", cid)
    if podman.user:
        assert r.returncode != 0 and "does not have a cgroup" in r.stderr, r
        return
    assert r.returncode == 0, r.stderr
    assert podman("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "paused"
    before = _count(cid)
    time.sleep(0.3)
    assert _count(cid) == before, "the counter moved while paused"
    r = podman("unpause", cid)
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    assert _count(cid) > before
    assert podman("rm", "-f", cid).returncode == 0


def _count(cid: str) -> int:
    """The counter, read through the container's pid 1's root (a paused
    container cannot be exec'd into)."""
    pid = subprocess.run(["pgrep", "-f", "i=0; while"], capture_output=True,
                         text=True).stdout.split()[0]
    with open(f"/proc/{pid}/root/tmp/n") as f:
        return int(f.read() or 0)
