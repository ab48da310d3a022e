"""Shared fixtures: a busybox rootfs, bundles, and minirun-oci run as root or
as the unprivileged test user (``rootless``), with nothing-left-behind checks.

Tests that need root (all kernel and e2e tests: the rootless ones switch to
the test user from root) are skipped with the reason printed when not root.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
OCI = os.path.join(VENV_BIN, "minirun-oci")
ROOTFS = os.path.join(REPO, ".build", "busybox", "rootfs")
TEST_USER = os.environ.get("MINIRUN_TEST_USER", "minirun-test")

sys.path.insert(0, REPO)


def is_root() -> bool:
    return os.geteuid() == 0


def unprivileged_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        return None


@pytest.fixture(scope="session")
def busybox_rootfs() -> str:
    if not os.path.exists(os.path.join(ROOTFS, "bin", "busybox")):
        subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs"), ROOTFS], check=True)
    return ROOTFS


class Runtime:
    """minirun-oci as one user, with its own --root and scratch space."""

    def __init__(self, mode: str):
        self.mode = mode
        self.user = unprivileged_user() if mode == "rootless" else None
        self.scratch = tempfile.mkdtemp(prefix=f"minirun-test-{mode}-", dir="/tmp")
        os.chmod(self.scratch, 0o755)
        self.root = os.path.join(self.scratch, "state")
        if self.user:
            os.chown(self.scratch, self.user.pw_uid, self.user.pw_gid)

    @property
    def rootless(self) -> bool:
        return self.mode == "rootless"

    def prefix(self) -> list[str]:
        if not self.user:
            return []
        return ["runuser", "-u", self.user.pw_name, "--", "env",
                f"XDG_RUNTIME_DIR={self.scratch}", f"HOME={self.user.pw_dir}",
                f"PATH={os.environ.get('PATH', '')}"]

    def argv(self, *args: str) -> list[str]:
        return self.prefix() + [OCI, "--root", self.root, *args]

    def oci(self, *args: str, check: bool = False, timeout: float = 60, input: str | None = None,
            **kw) -> subprocess.CompletedProcess:
        """Run minirun-oci to its exit.  Output goes through files, not pipes:
        after `create` the container holds the runtime's stdio, as it does
        under conmon, and a pipe would not close until the container ends."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(self.argv(*args), stdout=out, stderr=err, text=True,
                               timeout=timeout, input=input, **kw)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"minirun-oci {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def chown(self, path: str) -> None:
        if self.user:
            subprocess.run(["chown", "-R", f"{self.user.pw_uid}:{self.user.pw_gid}", path],
                           check=True)

    def bundle(self, rootfs: str, args: list[str], **changes) -> "Bundle":
        d = tempfile.mkdtemp(prefix="bundle-", dir=self.scratch)
        os.chmod(d, 0o755)
        subprocess.run(["cp", "-a", rootfs, os.path.join(d, "rootfs")], check=True)
        from minirun.runtime.defaults import default_config
        config = default_config(rootless=False)
        if self.rootless:
            u = self.user
            config["linux"]["namespaces"].append({"type": "user"})
            config["linux"]["uidMappings"] = [
                {"containerID": 0, "hostID": u.pw_uid, "size": 1},
                {"containerID": 1, "hostID": 100000, "size": 65536}]
            config["linux"]["gidMappings"] = [
                {"containerID": 0, "hostID": u.pw_gid, "size": 1},
                {"containerID": 1, "hostID": 100000, "size": 65536}]
        config["process"]["args"] = args
        config["process"]["terminal"] = False
        b = Bundle(d, config)
        for key, value in changes.items():
            b.set(key, value)
        b.write()
        self.chown(d)
        return b

    def cleanup(self) -> None:
        for cid in self.ids():
            self.oci("delete", "--force", cid)
        end_podman_pause(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def ids(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.root) if not n.startswith(".")]
        except FileNotFoundError:
            return []


class Bundle:
    def __init__(self, path: str, config: dict):
        self.path, self.config = path, config

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def set(self, dotted: str, value) -> None:
        """set("process.cwd", "/tmp"), set("linux.sysctl", {...})"""
        obj = self.config
        parts = dotted.split(".")
        for p in parts[:-1]:
            obj = obj.setdefault(p, {})
        obj[parts[-1]] = value

    def write(self) -> None:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)


def _modes():
    return ["root", "rootless"]


@pytest.fixture(params=_modes())
def rt(request):
    """minirun-oci as root, then as the unprivileged test user."""
    if not is_root():
        pytest.skip("kernel tests run as root (the rootless ones switch to the test user): "
                    "run `make test` as root")
    if request.param == "rootless" and unprivileged_user() is None:
        pytest.skip(f"no test user {TEST_USER!r}: run scripts/setup-host as root")
    r = Runtime(request.param)
    yield r
    r.cleanup()


@pytest.fixture
def cid() -> str:
    return "t-" + uuid.uuid4().hex[:10]


def made_for(scratch: str, pid: int | str) -> bool:
    """Was process ``pid`` started for the test whose scratch directory is
    ``scratch``?  Its command line (minirun-oci --root SCRATCH/state) or its
    environment (XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE under SCRATCH: what the
    fixtures give every minirun, inherited by its monitor and helpers) names
    it.  Leftover checks look only at these, so that another minirun on the
    machine cannot fail them."""
    for part in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as f:
                if scratch.encode() in f.read():
                    return True
        except OSError:
            pass
    return False


def processes(scratch: str, comm: str | None = None) -> list[int]:
    """Live processes (not zombies) started for this test (made_for), whose
    name starts with ``comm`` if given (the kernel keeps 15 characters)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, rest = f.read().split("(", 1)[1].rsplit(")", 1)
        except OSError:
            continue
        if rest.split()[0] != "Z" and name.startswith(comm or "") and made_for(scratch, pid):
            found.append(int(pid))
    return found


def end_podman_pause(scratch: str) -> None:
    """A plain user's podman leaves a pause process (catatonit -P) holding
    its user namespace for as long as its XDG_RUNTIME_DIR lives: a test
    that ran podman under ``scratch`` ends it with the directory."""
    for pid in processes(scratch, "catatonit"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def leftovers(rt: Runtime, cid: str, bundle: "Bundle | None" = None) -> list[str]:
    """Everything a container could leave behind on the host: only what this
    test made (its state directory, the cgroups and mounts its id and bundle
    name, processes started for it), never another minirun's."""
    found = []
    if os.path.exists(os.path.join(rt.root, cid)):
        found.append(f"state directory {rt.root}/{cid}")
    with open("/proc/self/cgroup") as f:
        own = {ctrl: path for _, ctrl, path in (ln.rstrip("\n").split(":", 2) for ln in f)}
    for tree in os.listdir("/sys/fs/cgroup"):
        mine = own.get(tree, own.get("" if tree == "unified" else tree, "/"))
        for base in ("/", mine):
            p = os.path.join("/sys/fs/cgroup", tree, base.lstrip("/"), "minirun", cid)
            if os.path.exists(p):
                found.append(f"cgroup {p}")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # dead, waiting for its parent to reap it
            with open(f"/proc/{pid}/comm") as f:   # CHILD or INIT, not a monitor
                if f.read().startswith(("minirun:[1:", "minirun:[2:")) and \
                        made_for(rt.scratch, pid):
                    found.append(f"process {pid} (a minirun launch process)")
            if bundle is not None and os.readlink(f"/proc/{pid}/root").startswith(bundle.path):
                found.append(f"process {pid} (rooted in the bundle)")
        except OSError:
            pass
    if bundle is not None:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if bundle.path in line:
                    found.append(f"mount {line.split()[4]}")
    return found


def terminal_session(argv: list[str], rows: int, cols: int, code: int, env=None) -> None:
    """Drive a shell in a container through a real pseudo-terminal: its size
    and its tty must be the ones we gave, its exit code ours."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(argv[0], argv[1:], env=env, timeout=30, dimensions=(rows, cols))
    child.expect("#")
    # busybox's line editor may ask where the cursor is (ESC [6n) and take
    # what is typed next as the answer: answer it first, as a terminal does
    while child.expect([r"\x1b\[6n", pexpect.TIMEOUT], timeout=0.3) == 0:
        child.send("\x1b[1;1R")
    child.sendline("stty size; tty")
    child.expect(f"{rows} {cols}")
    child.expect("/dev/pts/")
    child.sendline(f"exit {code}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code
