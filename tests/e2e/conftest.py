"""Fixtures for the image tests: a registry with images pushed by skopeo,
a registries.conf that marks it insecure (read by minirun, podman and
skopeo alike), and `minirun` run as root or as the test user."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO, is_root
from tests.e2e.registry import Registry

MINIRUN = os.path.join(os.path.dirname(sys.executable), "minirun")
BUILD = os.path.join(REPO, "rootfs-tools", "build-image")
PROBES = os.path.join(os.path.dirname(__file__), "probes")


def fetch(url: str, tries: int = 100) -> str:
    """What a server in a container answers at ``url``, asked again every
    0.1 s while it starts (``tries`` times)."""
    import time
    import urllib.request
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


@pytest.fixture(scope="session")
def probes():
    """Small programs of ours that busybox lacks, each built from
    probes/NAME.c the first time it is asked for, static (busybox has no
    libc to link against): ``probes("udpecho")`` is the directory holding
    it, for ``-v DIR:/probe:ro``.  Skipped, saying why, without gcc."""
    d = tempfile.mkdtemp(prefix="minirun-probes-", dir="/tmp")
    os.chmod(d, 0o755)

    def build(name: str) -> str:
        if not os.path.exists(os.path.join(d, name)):
            if shutil.which("gcc") is None:
                pytest.skip(f"gcc is needed to build the probe {name} (scripts/setup-host "
                            "installs it)")
            subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(d, name),
                            os.path.join(PROBES, f"{name}.c")], check=True, capture_output=True)
        return d
    yield build
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def images_dir(busybox_rootfs):
    """OCI layouts built here: busybox, a two-layer image with whiteouts, a big one."""
    if not is_root():
        pytest.skip("the image tests run as root (the rootless ones switch to the test user)")
    d = tempfile.mkdtemp(prefix="minirun-images-", dir="/tmp")
    os.chmod(d, 0o755)
    py = sys.executable
    subprocess.run([py, BUILD, f"{d}/busybox", "--layer", busybox_rootfs], check=True,
                   capture_output=True)
    upper = f"{d}/upper"
    os.makedirs(f"{upper}/etc")
    os.makedirs(f"{upper}/home/new")
    os.mknod(f"{upper}/etc/hosts", 0o020000, os.makedev(0, 0))        # a whiteout
    os.setxattr(f"{upper}/home", "trusted.overlay.opaque", b"y")          # an opaque dir
    with open(f"{upper}/etc/motd", "w") as f:
        f.write("second layer\n")
    subprocess.run([py, BUILD, f"{d}/multi", "--layer", busybox_rootfs, "--layer", upper,
                    "--compression", "zstd"], check=True, capture_output=True)
    subprocess.run([py, BUILD, f"{d}/indexed", "--layer", busybox_rootfs, "--index"],
                   check=True, capture_output=True)
    big = f"{d}/bigroot"
    os.makedirs(big)
    with open(f"{big}/random.bin", "wb") as f:
        f.write(os.urandom(48 << 20))
    subprocess.run([py, BUILD, f"{d}/big", "--layer", big], check=True, capture_output=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(images_dir):
    try:
        r = Registry()
    except RuntimeError as e:
        pytest.skip(str(e))
    for name in ("busybox", "multi", "big"):
        r.push(f"{images_dir}/{name}", f"test/{name}:latest")
    r.push(f"{images_dir}/busybox", "busybox:latest")
    r.push(f"{images_dir}/indexed", "test/indexed:latest", all_platforms=True)
    r.push(f"{images_dir}/busybox", "test/docker:latest", fmt="v2s2")
    yield r
    r.stop()


@pytest.fixture(scope="session")
def registries_conf(registry):
    d = tempfile.mkdtemp(prefix="minirun-regconf-", dir="/tmp")
    os.chmod(d, 0o755)
    path = os.path.join(d, "registries.conf")
    with open(path, "w") as f:
        f.write(f'unqualified-search-registries = ["{registry.addr}"]\n'
                f'[[registry]]\nlocation = "{registry.addr}"\ninsecure = true\n')
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(d, ignore_errors=True)


class Minirun:
    """`minirun` with a store of its own, as root or as the test user."""

    def __init__(self, rt, conf: str):
        self.rt, self.conf = rt, conf
        self.store = os.path.join(rt.scratch, "store")
        self.settings: dict[str, str] = {}      # MINIRUN_* variables, for both modes

    def env(self) -> dict:
        env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=self.conf,
                   REGISTRY_AUTH_FILE=os.path.join(self.rt.scratch, "auth.json"),
                   **self.settings)
        return env

    def argv(self, *args: str) -> list[str]:
        pre = self.rt.prefix()
        if pre:
            pre = pre[:-1] + [f"CONTAINERS_REGISTRIES_CONF={self.conf}",
                              f"REGISTRY_AUTH_FILE={self.rt.scratch}/auth.json",
                              *(f"{k}={v}" for k, v in self.settings.items()), pre[-1]]
        return pre + [MINIRUN, "--root", self.store, *args]

    def __call__(self, *args: str, check: bool = False, timeout: float = 120, **kw):
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           env=self.env(), **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"minirun {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def images(self) -> list[dict]:
        return json.loads(self("images", "--format", "json", check=True).stdout)

    def layer_dirs(self) -> list[str]:
        d = os.path.join(self.store, "layers")
        return sorted(n for n in os.listdir(d) if not n.endswith(".lock")) \
            if os.path.isdir(d) else []


@pytest.fixture
def mr(rt, registries_conf):
    m = Minirun(rt, registries_conf)
    yield m
    if os.path.isdir(m.store):     # a failed test leaves nothing running behind
        m("rm", "-fa", timeout=60)


@pytest.fixture
def small_store(mr):
    """The store on a 16 MiB tmpfs (the test user's, rootless), unmounted after."""
    if not is_root():
        pytest.skip("mounting the tmpfs needs root (the rootless test switches user)")
    os.makedirs(mr.store, exist_ok=True)
    owner = f",uid={mr.rt.user.pw_uid},gid={mr.rt.user.pw_gid}" if mr.rt.user else ""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700" + owner, "tmpfs",
                    mr.store], check=True)
    try:
        yield mr.store
    finally:
        mr("rm", "-fa", timeout=60)
        subprocess.run(["umount", "-l", mr.store], check=True)


@pytest.fixture
def img(mr, registry):
    """test/busybox from the registry, pulled into `mr`'s store: its name."""
    name = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", name, check=True)
    return name
