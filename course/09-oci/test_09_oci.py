"""Level 9's checks: the program as an OCI runtime.  By hand: a bundle
(a copy of the busybox rootfs and a config.json written here), and the
verbs create, start, state, kill and delete, with a small stand-in for
conmon that runs create and reaps the container's process; then by a
real client: podman, with the program as its --runtime.  Each as root
and as the plain user (its bundle maps it to root in a user namespace;
podman runs rootless).
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

USER = os.environ.get("COURSE_USER", "minirun-test")

# What conmon does for the checks by hand: become a subreaper (the
# container's process, orphaned when create returns, is ours to reap), run
# create, and report on a file: "created CODE", then "exited CODE".
CONMON = """
import ctypes, os, subprocess, sys
report = open(sys.argv[1], "a", buffering=1)
ctypes.CDLL(None).prctl(36, 1)                   # PR_SET_CHILD_SUBREAPER
created = subprocess.run(sys.argv[2:]).returncode
report.write(f"created {created}\\n")
if created == 0:
    _, status = os.wait()
    report.write(f"exited {os.waitstatus_to_exitcode(status)}\\n")
"""


def plain_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER!r} here (COURSE_USER names another)")


def config(args: list[str], user: pwd.struct_passwd | None) -> dict:
    """A config.json: busybox's rootfs, new namespaces, a few mounts; for a
    plain user, a user namespace that maps it to root."""
    namespaces = [{"type": t} for t in ("pid", "mount", "uts", "ipc", "network")]
    spec = {
        "ociVersion": "1.0.2", "root": {"path": "rootfs"}, "hostname": "course-box",
        "process": {"args": args, "cwd": "/tmp",
                    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
                    "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"]}},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc",
                    "options": ["nosuid", "noexec", "nodev"]},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "mode=755"]},
                   {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=1m"]}],
        "linux": {"namespaces": namespaces, "maskedPaths": ["/proc/kcore", "/etc/secret"],
                  "readonlyPaths": ["/proc/sys"]}}
    if user:
        namespaces.append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.pw_uid, "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.pw_gid, "size": 1}]
    return spec


class Bundle:
    """A bundle, a state directory (--root) and the program, for root or
    the plain user; ``oci(...)`` runs a verb, ``create(...)`` runs create
    under the stand-in conmon."""

    def __init__(self, top: str, program: str, user: pwd.struct_passwd | None):
        self.top, self.program, self.user = top, program, user
        self.dir, self.state = os.path.join(top, "bundle"), os.path.join(top, "state")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.report, self.output = os.path.join(top, "report"), os.path.join(top, "output")
        self.pid_file = os.path.join(top, "pid")

    def write(self, args: list[str], **changes) -> None:
        spec = config(args, self.user)
        spec["process"].update(changes)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(spec, f)

    def argv(self, *args: str) -> list[str]:
        argv = [sys.executable, self.program, "--root", self.state, *args]
        if self.user:
            argv = ["runuser", "-u", self.user.pw_name, "--", "env", f"HOME={self.top}", *argv]
        return argv

    def oci(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=30)

    def create(self, cid: str) -> subprocess.Popen:
        """create under the stand-in conmon; returns once create has."""
        argv = self.argv("create", "--bundle", self.dir, "--pid-file", self.pid_file, cid)
        prefix = argv[:argv.index(sys.executable)]
        with open(self.output, "w") as out:
            conmon = subprocess.Popen([*prefix, sys.executable, "-c", CONMON, self.report,
                                       *argv[len(prefix):]], stdout=out, stderr=out,
                                      stdin=subprocess.DEVNULL)
        self.conmon = conmon
        code = self.wait_for("created")
        assert code == 0, f"create failed ({code}): {self.read(self.output)}"
        return conmon

    def wait_for(self, word: str, timeout: float = 10) -> int:
        """The code conmon reported after ``word``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.read(self.report).splitlines():
                if line.startswith(word + " "):
                    return int(line.split()[1])
            time.sleep(0.01)
        raise AssertionError(f"no '{word}' from conmon in {timeout} s: {self.read(self.output)}")

    def status(self, cid: str) -> dict:
        r = self.oci("state", cid)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    @staticmethod
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""


@pytest.fixture(params=["root", "plain user"])
def bundle(request, program, root_only, busybox):
    """A Bundle for root, then for the plain user; what it made is removed
    (a container left running is killed)."""
    user = None
    if request.param == "plain user":
        user = plain_user()
    top = tempfile.mkdtemp(prefix="course-oci-")
    os.chmod(top, 0o755)
    b = Bundle(top, program, user)
    os.makedirs(b.dir)
    shutil.copytree(busybox, b.rootfs, symlinks=True)
    if user:
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", top], check=True)
    try:
        yield b
    finally:
        kill_leftovers(b.state)
        if getattr(b, "conmon", None):
            try:
                b.conmon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                b.conmon.kill()
                b.conmon.wait()
        shutil.rmtree(top, ignore_errors=True)


def kill_leftovers(state: str) -> None:
    """SIGKILL the process of every container whose state is still there
    (a check that failed half-way, or a program whose delete does not
    work yet), by the pid its state.json names, if it started then."""
    for name in os.listdir(state) if os.path.isdir(state) else []:
        try:
            with open(os.path.join(state, name, "state.json")) as f:
                saved = json.load(f)
            with open(f"/proc/{saved['pid']}/stat") as f:
                started = int(f.read().rpartition(")")[2].split()[19])
            if started == saved.get("start_time", started):
                os.kill(saved["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError, IndexError):
            pass


def test_create_waits_and_start_runs(bundle):
    """create makes the container up to the exec of its program, which
    waits on exec.fifo; start lets it run; the state follows.
    Look at: wait_for_start() (init's last step), oci_start() and status()."""
    bundle.write(["sh", "-c", "echo ran > /ran"])
    bundle.create("c1")
    state = bundle.status("c1")
    assert state["status"] == "created", state
    with open(bundle.pid_file) as f:
        assert int(f.read()) == state["pid"] > 0, "the pid file and the state differ"
    assert not os.path.exists(os.path.join(bundle.rootfs, "ran")), "it ran before start"
    r = bundle.oci("start", "c1")
    assert r.returncode == 0, r.stderr
    assert bundle.wait_for("exited") == 0, bundle.read(bundle.output)
    assert bundle.read(os.path.join(bundle.rootfs, "ran")) == "ran\n"
    assert bundle.status("c1")["status"] == "stopped"
    r = bundle.oci("delete", "c1")
    assert r.returncode == 0, r.stderr
    assert os.listdir(bundle.state) == [], "delete left its state behind"


def test_state_has_the_runtime_specs_fields(bundle):
    """ociVersion, id, status, pid and bundle, as the runtime-spec's state.
    Look at: status(): the start time in /proc/PID/stat, and exec.fifo."""
    bundle.write(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"])
    bundle.create("c2")
    assert bundle.oci("start", "c2").returncode == 0
    state = bundle.status("c2")
    assert state == {"ociVersion": state["ociVersion"], "id": "c2", "status": "running",
                     "pid": state["pid"], "bundle": bundle.dir}, state
    assert state["ociVersion"].startswith("1.") and state["pid"] > 0, state


def test_kill_then_delete(bundle):
    """A running container is not deleted but with --force; kill signals
    its pid 1, which here has a handler for TERM.
    Look at: oci_kill() and oci_delete()."""
    bundle.write(["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"])
    bundle.create("c3")
    assert bundle.oci("start", "c3").returncode == 0
    refused = bundle.oci("delete", "c3")
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert "running" in refused.stderr, refused.stderr
    r = bundle.oci("kill", "c3", "TERM")
    assert r.returncode == 0, r.stderr
    assert bundle.wait_for("exited") == 3
    assert bundle.status("c3")["status"] == "stopped"
    assert bundle.oci("delete", "c3").returncode == 0
    assert os.listdir(bundle.state) == []


def test_delete_force_kills_a_created_container(bundle):
    """Look at: oci_delete(): SIGKILL, and wait until it is gone."""
    bundle.write(["true"])
    bundle.create("c4")
    r = bundle.oci("delete", "--force", "c4")
    assert r.returncode == 0, r.stderr
    assert bundle.wait_for("exited") == -signal.SIGKILL
    assert os.listdir(bundle.state) == []


def test_the_config_is_what_runs(bundle):
    """process.args, env, cwd and capabilities, hostname, namespaces,
    mounts, maskedPaths and readonlyPaths, as config.json says.
    Look at: mount_one() (flags, data, a bind's remount); load_spec() reads the rest."""
    bundle.write(["sh", "-c",
                  "echo $GREETING; pwd; hostname; grep -c ' /scratch tmpfs' /proc/mounts; "
                  "wc -c < /etc/secret; echo x > /proc/sys/kernel/hostname; "
                  "grep CapBnd /proc/self/status; readlink /proc/self/ns/net"])
    with open(os.path.join(bundle.rootfs, "etc", "secret"), "w") as f:
        f.write("masked by /dev/null")
    bundle.create("c5")
    assert bundle.oci("start", "c5").returncode == 0
    assert bundle.wait_for("exited") == 0, bundle.read(bundle.output)
    out = bundle.read(bundle.output).splitlines()
    assert out[:5] == ["hello", "/tmp", "course-box", "1", "0"], out
    assert "Read-only file system" in "\n".join(out), "/proc/sys is not read-only"
    bounding = (1 << 5) | (1 << 0)          # CAP_KILL, CAP_CHOWN
    assert int(out[-2].split()[1], 16) == bounding, out
    assert out[-1] != os.readlink("/proc/self/ns/net"), "the host's network namespace"


def test_namespaces_given_by_path_are_joined(bundle):
    """A namespace with a path in config.json is joined, not made (podman's
    network namespace, set up before create); for the plain user, a user
    namespace too, first: it owns the other.  The holder here: unshare(1).
    Look at: join_namespaces(): setns(2), a user namespace first."""
    user = bundle.user
    holder = subprocess.Popen(
        ["unshare", "--net", *(["--user", "--map-root-user"] if user else []), "sleep", "30"],
        user=user.pw_uid if user else None, group=user.pw_gid if user else None)
    try:
        net = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 5     # until unshare has made it and execs sleep
        while os.readlink(net) == os.readlink("/proc/self/ns/net") or \
                "sleep" not in bundle.read(f"/proc/{holder.pid}/comm"):
            assert time.monotonic() < deadline, "unshare(1) made no namespace"
            time.sleep(0.01)
        bundle.write(["readlink", "/proc/self/ns/net"])
        spec_path = os.path.join(bundle.dir, "config.json")
        with open(spec_path) as f:
            spec = json.load(f)
        namespaces = [n for n in spec["linux"]["namespaces"] if n["type"] not in
                      ("network", "user")] + [{"type": "network", "path": net}]
        if user:                            # the holder's user namespace, and no maps
            namespaces.append({"type": "user", "path": f"/proc/{holder.pid}/ns/user"})
            del spec["linux"]["uidMappings"], spec["linux"]["gidMappings"]
        spec["linux"]["namespaces"] = namespaces
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        bundle.create("c7")
        assert bundle.oci("start", "c7").returncode == 0
        assert bundle.wait_for("exited") == 0, bundle.read(bundle.output)
        assert bundle.read(bundle.output).strip() == os.readlink(net)
    finally:
        holder.kill()
        holder.wait()


def test_errors_are_one_line(bundle):
    """A field this level does not do is refused, naming it; a verb on a
    container that does not exist says so; nothing is left behind.
    Look at: the verbs (oci_start(), oci_kill(), oci_delete()): read_state() first."""
    bundle.write(["true"], terminal=True)
    r = bundle.oci("create", "--bundle", bundle.dir, "c6")
    assert r.returncode != 0, "a terminal was accepted"
    assert len(r.stderr.splitlines()) == 1 and "process.terminal" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(bundle.state, "c6")), "create left its state"
    for verb in ("start", "state", "kill", "delete"):
        r = bundle.oci(verb, "c6")
        assert r.returncode != 0 and len(r.stderr.splitlines()) == 1, (verb, r.stderr)
        assert "does not exist" in r.stderr, (verb, r.stderr)
    r = bundle.oci("delete", "../../etc")
    assert r.returncode != 0 and "not a container id" in r.stderr, r.stderr


# --- podman, with the program as its runtime --------------------------------------------

PODMAN_CONF = """[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class Podman:
    """podman with a private --root and --runroot, a copy of the busybox
    rootfs, and the program as --runtime (a shell script that runs it
    with our state directory); rootless for the plain user."""

    def __init__(self, program: str, user: pwd.struct_passwd | None, busybox: str):
        self.user = user
        self.dir = tempfile.mkdtemp(prefix="course-oci-podman-")
        os.chmod(self.dir, 0o755)
        self.rootfs, self.state = os.path.join(self.dir, "rootfs"), os.path.join(self.dir, "state")
        shutil.copytree(busybox, self.rootfs, symlinks=True)
        os.makedirs(os.path.join(self.dir, "xdg"), mode=0o700)
        with open(os.path.join(self.dir, "containers.conf"), "w") as f:
            f.write(PODMAN_CONF)
        self.runtime = os.path.join(self.dir, "runtime")
        with open(self.runtime, "w") as f:
            f.write(f'#!/bin/sh\nexec {sys.executable} {program} --root {self.state} "$@"\n')
        os.chmod(self.runtime, 0o755)
        if user:
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", self.dir],
                           check=True)

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        env = [f"CONTAINERS_CONF={self.dir}/containers.conf", f"HOME={self.dir}",
               f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}"]
        prefix = ["env", *env]
        if self.user:
            prefix = ["runuser", "-u", self.user.pw_name, "--", "env", *env,
                      f"XDG_RUNTIME_DIR={self.dir}/xdg"]
        argv = [*prefix, "podman", "--root", f"{self.dir}/storage", "--runroot",
                f"{self.dir}/run", "--runtime", self.runtime, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def cleanup(self) -> None:
        kill_leftovers(self.state)
        self("rm", "--all", "--force", "--time", "0")
        pause = os.path.join(self.dir, "xdg", "libpod", "tmp", "pause.pid")
        if os.path.exists(pause):           # rootless podman's keeper of its user namespace
            try:
                with open(pause) as f:
                    os.kill(int(f.read()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if f" {self.dir}/" in line]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["root", "plain user"])
def podman(request, program, root_only, busybox):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup-host installs it)")
    user = None
    if request.param == "plain user":
        user = plain_user()
    p = Podman(program, user, busybox)
    try:
        yield p
    finally:
        p.cleanup()


def test_podman_run_echo(podman):
    """podman calls create (with --bundle and --pid-file), start, and
    delete --force, through conmon.
    Look at: oci_start(), oci_delete() and status(); podman's flags: main_oci()."""
    r = podman("run", "--rm", "--network", "none", "--rootfs", podman.rootfs, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = podman("run", "--rm", "--network", "none", "--rootfs", podman.rootfs,
               "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr
    assert os.listdir(podman.state) == [], "delete left a state behind"


def test_podman_run_detached_then_stop(podman):
    """podman stop is kill 15 (then 9 if it lingers), and delete once it has exited.
    Look at: oci_kill(), status() and oci_delete()."""
    r = podman("run", "-d", "--network", "none", "--rootfs", podman.rootfs,
               "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    r = podman("inspect", "--format", "{{.State.Status}}", cid)
    assert r.stdout.strip() == "running", r.stdout + r.stderr
    r = podman("stop", "--time", "5", cid)
    assert r.returncode == 0, r.stderr
    r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid)
    assert r.stdout.split() == ["exited", "0"], r.stdout + r.stderr
    assert podman("rm", cid).returncode == 0
    assert podman("ps", "--all", "--quiet").stdout.strip() == ""
    assert os.listdir(podman.state) == [], "nothing may be left in the state directory"
