"""The course machine: the top-level Vagrantfile and course/provision.sh.

No box can boot here (no internet for Vagrant Cloud, no hardware
virtualisation), so this tests what can be tested:

- ``vagrant validate`` of the Vagrantfile: the common settings, then each
  provider block against that provider's own configuration class (libvirt
  through the vagrant-libvirt plugin, VirtualBox with a stand-in VBoxManage
  that only reports a version, since VirtualBox is not installed), and a
  misspelt copy that must fail, so the validation is known to look;
- the provisioning script run for real, as root, in a fresh Debian 12
  container made by minirun itself from the image ``make images`` builds
  (debootstrap; cached under .build), with the host's network so apt and
  pip reach their mirrors; then the level-1 checks as the ``vagrant`` user
  there, and a second run of the script (it must be idempotent).

The container is not privileged: apt, useradd and chown need only the
default capabilities of a root container.  It has no systemd and no user
namespaces of its own for the plain user, so the script skips what needs
them (and says so); the test checks that it does.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest

from tests.conftest import REPO, is_root

MINIRUN = os.path.join(os.path.dirname(sys.executable), "minirun")
DEBIAN_IMAGE = os.path.join(REPO, ".build", "images", "debian")
IN_BOX = "/home/vagrant/minirun"      # where the Vagrantfile puts the repository
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
# what a copy of the working tree leaves out: built here, for this host
NOT_COPIED = {".git", ".venv", ".build", "build", ".vagrant", ".pytest_cache", "__pycache__"}


def need_vagrant():
    if shutil.which("vagrant") is None:
        pytest.skip("no vagrant here (scripts/setup-host installs it)")


def vagrant(*args: str, cwd: str, home: str, provider: str | None = None,
            path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VAGRANT_CWD=cwd, VAGRANT_HOME=home,
               VAGRANT_DOTFILE_PATH=os.path.join(home, "dotfile"),
               VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_NO_COLOR="1")
    env.pop("VAGRANT_DEFAULT_PROVIDER", None)
    if provider:
        env["VAGRANT_DEFAULT_PROVIDER"] = provider
    if path:
        env["PATH"] = path + os.pathsep + env.get("PATH", "")
    return subprocess.run(["vagrant", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def vagrant_home():
    d = tempfile.mkdtemp(prefix="minirun-vagrant-")
    # VirtualBox is not installed: this stands in for VBoxManage just enough
    # for Vagrant to count the provider usable (it asks for the version).
    os.makedirs(f"{d}/bin")
    with open(f"{d}/bin/VBoxManage", "w") as f:
        f.write("#!/bin/sh\necho 7.0.14r161095\n")
    os.chmod(f"{d}/bin/VBoxManage", 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_the_vagrantfile_validates_for_both_providers(vagrant_home):
    need_vagrant()
    plugins = vagrant("plugin", "list", cwd=REPO, home=vagrant_home)
    if "vagrant-libvirt" not in plugins.stdout:
        pytest.skip("no vagrant-libvirt plugin here (scripts/setup-host installs it)")
    vbox = f"{vagrant_home}/bin"
    runs = {"common settings": vagrant("validate", "--ignore-provider", cwd=REPO,
                                       home=vagrant_home),
            "libvirt": vagrant("validate", cwd=REPO, home=vagrant_home, provider="libvirt"),
            "virtualbox": vagrant("validate", cwd=REPO, home=vagrant_home,
                                  provider="virtualbox", path=vbox)}
    for what, r in runs.items():
        assert r.returncode == 0 and "validated successfully" in r.stdout, \
            f"{what}: {r.stdout}{r.stderr}"
    assert not os.path.exists(os.path.join(REPO, ".vagrant"))

    # The validation looks: a misspelt setting in either provider block fails it.
    with open(os.path.join(REPO, "Vagrantfile")) as f:
        text = f.read()
    for provider, var in (("libvirt", "lv"), ("virtualbox", "vb")):
        d = tempfile.mkdtemp(prefix="minirun-vagrantfile-", dir=vagrant_home)
        os.makedirs(f"{d}/course")
        shutil.copy(os.path.join(REPO, "course", "provision.sh"), f"{d}/course/")
        assert f"{var}.memory" in text
        with open(f"{d}/Vagrantfile", "w") as f:
            f.write(text.replace(f"{var}.memory", f"{var}.memmory"))
        r = vagrant("validate", cwd=d, home=vagrant_home, provider=provider, path=vbox)
        assert r.returncode != 0 and "memmory" in r.stdout + r.stderr, (provider, r.stdout)

    # and the provisioning script it names must exist
    d = tempfile.mkdtemp(prefix="minirun-vagrantfile-", dir=vagrant_home)
    shutil.copy(os.path.join(REPO, "Vagrantfile"), d)
    r = vagrant("validate", "--ignore-provider", cwd=d, home=vagrant_home)
    assert r.returncode != 0 and "provision.sh" in r.stdout + r.stderr, r.stdout


# --- the provisioning script, for real, in a Debian container made by minirun -----------

def apt_mirror() -> str:
    """The mirror the host's apt uses (and so the image's: debian-rootfs)."""
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            m = re.search(r"^URIs:\s*(\S+)", f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def proxy_env() -> list[str]:
    """The host's proxy, if it has one, for apt and pip in the container."""
    out = []
    for name in ("http_proxy", "https_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if os.environ.get(name):
            out += ["-e", f"{name}={os.environ[name]}"]
    r = subprocess.run(["apt-config", "shell", "P", "Acquire::http::Proxy"],
                       capture_output=True, text=True)
    m = re.search(r"P='([^']+)'", r.stdout)
    if m and not os.environ.get("http_proxy"):
        out += ["-e", f"http_proxy={m.group(1)}"]
    return out


def copy_of_the_tree(dest: str) -> None:
    def ignore(d, names):
        return [n for n in names if n in NOT_COPIED or n.endswith((".egg-info", ".so"))
                or n in ("_native.c", "_native.o")]
    shutil.copytree(REPO, dest, symlinks=True, ignore=ignore)


class Store:
    """minirun as root with a store and runtime state of its own."""

    def __init__(self, base: str):
        self.prefix = [MINIRUN, "--root", f"{base}/store", "--runroot", f"{base}/run"]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def debian_image():
    if not is_root():
        pytest.skip("the course machine's test runs the container as root")
    mirror = apt_mirror()
    try:
        urllib.request.urlopen(f"{mirror}/dists/bookworm/Release", timeout=15).close()
    except OSError as e:
        pytest.skip(f"apt's mirror {mirror} cannot be reached from here ({e}): "
                    "the provisioning script installs packages")
    if not os.path.exists(f"{DEBIAN_IMAGE}/index.json"):
        # cached under .build once made (debootstrap: minutes the first time)
        r = subprocess.run(["make", "-C", REPO, ".build/images/debian/index.json"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"no Debian image (make images): {r.stdout[-500:]}{r.stderr[-500:]}")
    return DEBIAN_IMAGE


def test_provisioning_in_a_fresh_debian_container_then_level_1(debian_image):
    t0 = time.monotonic()
    times = {}
    base = tempfile.mkdtemp(prefix="minirun-course-machine-")
    m = Store(base)
    name = f"course-{uuid.uuid4().hex[:8]}"
    try:
        repo = f"{base}/minirun"
        copy_of_the_tree(repo)
        r = m("load", "-i", debian_image)
        assert r.returncode == 0, r.stderr
        image = r.stdout.strip().rsplit("Loaded image: ", 1)[-1]
        times["copy and load"] = time.monotonic() - t0

        run = ["run", "-d", "--name", name, "--network", "host",
               "--device", "/dev/fuse", "--device", "/dev/net/tun",
               "-v", f"{repo}:{IN_BOX}", *proxy_env()]
        if os.path.exists(HOST_CA):
            # HTTPS from here goes through a proxy whose CA only the host trusts
            run += ["-v", f"{HOST_CA}:/etc/minirun-host-ca.crt:ro",
                    "-e", "PIP_CERT=/etc/minirun-host-ca.crt"]
        r = m(*run, image, "sleep", "infinity")
        assert r.returncode == 0, r.stderr

        t = time.monotonic()
        first = m("exec", name, f"{IN_BOX}/course/provision.sh", IN_BOX, timeout=400)
        times["provision"] = time.monotonic() - t
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-4000:]
        # what it could do in a container, and what it said it skipped
        for said in ("created the user vagrant", "in /etc/subuid", "in /etc/subgid",
                     "wrote /etc/systemd/system/user@.service.d/delegate.conf",
                     "/dev/fuse is mode 666", "/dev/net/tun is mode 666",
                     "skipped: systemctl daemon-reload: systemd is not PID 1",
                     "make setup as vagrant"):
            assert said in out, f"{said!r} not in:\n{out[-4000:]}"

        facts = m("exec", name, "sh", "-c",
                  "grep ^vagrant: /etc/subuid /etc/subgid; "
                  "cat /etc/systemd/system/user@.service.d/delegate.conf; "
                  f"stat -c '%a %n' /dev/fuse /dev/net/tun; stat -c '%U %n' {IN_BOX}; "
                  f"runuser -u vagrant -- {IN_BOX}/.venv/bin/minirun --version")
        assert facts.returncode == 0, facts.stdout + facts.stderr
        f = facts.stdout
        assert re.search(r"^/etc/subuid:vagrant:\d+:65536$", f, re.M), f
        assert re.search(r"^/etc/subgid:vagrant:\d+:65536$", f, re.M), f
        assert "[Service]\nDelegate=cpu cpuset io memory pids\n" in f, f
        assert "666 /dev/fuse" in f and "666 /dev/net/tun" in f, f
        assert f"vagrant {IN_BOX}" in f, f

        # The course, as the student: the level-1 checks on the reference
        # solution pass, and `make check LEVEL=1` (the post-up message's
        # first step) runs the same checks on the student's skeleton.
        as_vagrant = ["runuser", "-u", "vagrant", "--", "env", "HOME=/home/vagrant"]
        t = time.monotonic()
        r = m("exec", "-w", IN_BOX, name, *as_vagrant,
              ".venv/bin/python", "course/check.py", "1", "--solution")
        times["level 1 (solution)"] = time.monotonic() - t
        assert r.returncode == 0, r.stdout + r.stderr
        assert " passed" in r.stdout and "FAIL" not in r.stdout, r.stdout
        r = m("exec", "-w", IN_BOX, name, *as_vagrant, "make", "check", "LEVEL=1")
        assert "check by check" in r.stdout, r.stdout + r.stderr

        # Idempotent: a second run changes nothing and says so.
        t = time.monotonic()
        again = m("exec", name, f"{IN_BOX}/course/provision.sh", IN_BOX, timeout=300)
        times["provision again"] = time.monotonic() - t
        out = again.stdout + again.stderr
        assert again.returncode == 0, out[-4000:]
        assert "created the user" not in out and "setup-host: installing" not in out, out
        assert "vagrant already has" in out and "already delegates" in out, out
        facts2 = m("exec", name, "sh", "-c", "grep -c ^vagrant: /etc/subuid /etc/subgid")
        assert facts2.stdout.split() == ["/etc/subuid:1", "/etc/subgid:1"], facts2.stdout
    finally:
        m("rm", "-f", name)
        shutil.rmtree(base, ignore_errors=True)
        times["total"] = time.monotonic() - t0
        print("course machine test:", ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
