"""minirun-oci against the runtime-spec, black-box, as a conformance suite
would check it (runtime.md, config.md, config-linux.md), and against the
configs its clients really write: podman's own network namespace with its
sysctl, `runc spec`'s bundle, a config without a mount namespace.  Root
and rootless."""
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import REPO, VENV_BIN, leftovers
from tests.kernel.test_lifecycle import state, wait_status


# --- namespaces the config does not list are the runtime's (inherited) -----

@pytest.fixture
def netns_holder(rt):
    """A process in a network namespace of its own, as podman makes one
    before it calls the runtime (as a plain user, in a user namespace of
    that user's, which the container then joins too)."""
    pid_file = os.path.join(rt.scratch, "holder.pid")
    unshare = "unshare -Ur --net" if rt.rootless else "unshare --net"
    p = subprocess.Popen(rt.prefix() + ["sh", "-c", f"echo $$ > {pid_file}; "
                                        f"exec {unshare} sleep 60"])
    deadline = time.monotonic() + 5
    while True:
        assert time.monotonic() < deadline, "the holder never made its namespace"
        try:
            pid = int(open(pid_file).read())
            if os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    yield pid
    os.kill(pid, 9)
    p.wait()


def test_net_sysctl_in_a_network_namespace_joined_by_path(rt, busybox_rootfs, cid, netns_holder):
    b = rt.bundle(busybox_rootfs, ["cat", "/proc/sys/net/ipv4/ping_group_range"])
    namespaces = [n for n in b.config["linux"]["namespaces"] if n["type"] != "network"]
    namespaces.append({"type": "network", "path": f"/proc/{netns_holder}/ns/net"})
    if rt.rootless:     # the namespace is the holder's user namespace's: join that too
        namespaces = [n for n in namespaces if n["type"] != "user"]
        namespaces.append({"type": "user", "path": f"/proc/{netns_holder}/ns/user"})
        b.config["linux"].pop("uidMappings")
        b.config["linux"].pop("gidMappings")
    b.set("linux.namespaces", namespaces)
    b.set("linux.sysctl", {"net.ipv4.ping_group_range": "0 0"})
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0"]
    assert leftovers(rt, cid, b) == []


def test_net_sysctl_in_the_runtimes_own_network_namespace_is_refused(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    namespaces = [n for n in b.config["linux"]["namespaces"] if n["type"] != "network"]
    if not rt.rootless:     # joined by a path that names the runtime's own
        namespaces.append({"type": "network", "path": "/proc/self/ns/net"})
    b.set("linux.namespaces", namespaces)
    b.set("linux.sysctl", {"net.ipv4.ping_group_range": "0 0"})
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode != 0
    assert "net.ipv4.ping_group_range` needs a network namespace that is not the " \
           "runtime's own" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert leftovers(rt, cid, b) == []


def test_hostname_without_a_uts_namespace_is_refused(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("linux.namespaces", [n for n in b.config["linux"]["namespaces"] if n["type"] != "uts"])
    b.set("hostname", "changed")
    b.write()
    before = os.uname().nodename
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode != 0 and "hostname: setting it needs a uts namespace" in r.stderr
    assert os.uname().nodename == before


def _without_mount_namespace(b):
    b.set("linux.namespaces", [n for n in b.config["linux"]["namespaces"]
                               if n["type"] != "mount"])
    b.set("linux.maskedPaths", [])
    b.set("linux.readonlyPaths", [])
    b.set("root.readonly", False)
    b.write()


def test_no_mount_namespace_shares_the_runtimes(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "readlink /proc/self/ns/mnt; ls /bin/busybox; "
                                   "echo $$; sleep 30"])
    _without_mount_namespace(b)
    if rt.rootless:
        r = rt.oci("create", "--bundle", b.path, cid)
        assert r.returncode != 0, r.stdout
        assert "a container in a user namespace needs a mount namespace of its own" in r.stderr
        assert "Traceback" not in r.stderr
        assert leftovers(rt, cid, b) == []
        return
    log = os.path.join(rt.scratch, "out")
    with open(log, "w") as out:     # files, not pipes: the container holds them
        r = subprocess.run(rt.argv("create", "--bundle", b.path, cid), stdout=out,
                           stderr=out, timeout=30)
    assert r.returncode == 0, open(log).read()
    rt.oci("start", cid, check=True)
    deadline = time.monotonic() + 10
    while open(log).read().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    mnt, busybox, pid = open(log).read().split()[:3]
    assert mnt == os.readlink("/proc/self/ns/mnt")          # the runtime's, inherited
    assert busybox == "/bin/busybox" and pid == "1"         # chrooted into its rootfs
    # its /proc is mounted in the shared namespace, below its rootfs only
    points = [ln.split()[4] for ln in open("/proc/self/mountinfo")]
    assert os.path.join(b.rootfs, "proc") in points
    with open(os.path.join(b.rootfs, "marker"), "w") as f:
        f.write(cid)
    r = rt.oci("exec", cid, "cat", "/marker")                # exec lands in its root too
    assert r.returncode == 0, r.stderr
    assert r.stdout == cid
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []                      # its mounts went with it


@pytest.mark.parametrize("field, value, message", [
    ("linux.maskedPaths", ["/proc/kcore"], "linux.maskedPaths: masked and read-only paths "
                                           "need a mount namespace"),
    ("root.readonly", True, "root.readonly: a read-only root needs a mount namespace"),
    ("linux.rootfsPropagation", "private", "linux.rootfsPropagation: needs a mount namespace"),
])
def test_no_mount_namespace_refuses_what_would_change_the_runtimes(rt, busybox_rootfs, cid,
                                                                 field, value, message):
    b = rt.bundle(busybox_rootfs, ["true"])
    _without_mount_namespace(b)
    b.set(field, value)
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    if rt.rootless:     # a plain user's container always needs one, and says why first
        message = "a container in a user namespace needs a mount namespace of its own"
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert leftovers(rt, cid, b) == []


# --- configs that clients write --------------------------------------------------

def test_memory_oom_killer_disabled_on_this_host(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("linux.resources", {"memory": {"limit": 64 << 20, "disableOOMKiller": True}})
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert "cgroup v2 has no way" not in r.stderr
    assert leftovers(rt, cid, b) == []


def test_a_bundle_made_by_runc_spec_runs(rt, busybox_rootfs, cid):
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed: run scripts/setup-host as root")
    b = rt.bundle(busybox_rootfs, ["true"])
    os.unlink(os.path.join(b.path, "config.json"))
    subprocess.run(rt.prefix() + ["runc", "spec", "--bundle", b.path] +
                   (["--rootless"] if rt.rootless else []), check=True)
    with open(os.path.join(b.path, "config.json")) as f:
        b.config = json.load(f)
    caps = b.config["process"]["capabilities"]
    assert caps.get("ambient") and not caps.get("inheritable")   # what made it fail
    b.set("process.terminal", False)
    b.set("process.args", ["sh", "-c", "grep CapAmb /proc/self/status; echo ran"])
    b.write()
    rt.chown(b.path)
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert "ran" in r.stdout
    assert "ambient: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE not raised" in r.stderr
    assert leftovers(rt, cid, b) == []


def test_ambient_capabilities_that_the_kernel_allows_are_raised(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "grep CapAmb /proc/self/status"])
    kill = "CAP_KILL"
    b.set("process.user", {"uid": 1000, "gid": 1000})
    b.set("process.capabilities", {k: [kill] for k in (
        "bounding", "effective", "permitted", "inheritable", "ambient")})
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["CapAmb:", f"{1 << 5:016x}"]   # CAP_KILL is bit 5
    assert "not raised" not in r.stderr


# --- the lifecycle's MUSTs (runtime.md) --------------------------------------------

def test_delete_of_a_created_container_needs_force(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    rt.oci("create", "--bundle", b.path, cid, check=True)
    r = rt.oci("delete", cid)
    assert r.returncode != 0 and "is created, not stopped" in r.stderr, r.stderr
    assert state(rt, cid)["status"] == "created"              # and it had no effect
    rt.oci("kill", cid, "KILL", check=True)
    wait_status(rt, cid, "stopped")
    rt.oci("delete", cid, check=True)
    assert leftovers(rt, cid, b) == []


def test_delete_of_a_running_container_needs_force(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "30"])
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    r = rt.oci("delete", cid)
    assert r.returncode != 0 and "is running, not stopped" in r.stderr
    assert state(rt, cid)["status"] == "running"
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []


def test_kill_of_a_stopped_container_is_an_error(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    rt.oci("create", "--bundle", b.path, cid, check=True)
    rt.oci("start", cid, check=True)
    wait_status(rt, cid, "stopped")
    r = rt.oci("kill", cid, "TERM")
    assert r.returncode != 0 and "is stopped" in r.stderr
    assert state(rt, cid)["status"] == "stopped"
    rt.oci("delete", cid, check=True)


def test_create_pid_file_names_the_container_process(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    pid_file = os.path.join(rt.scratch, "pid")
    rt.oci("create", "--pid-file", pid_file, "--bundle", b.path, cid, check=True)
    with open(pid_file) as f:
        assert int(f.read()) == state(rt, cid)["pid"]
    rt.oci("delete", "--force", cid, check=True)


def test_every_hook_gets_the_state_with_the_fields_the_schema_names(rt, busybox_rootfs, cid):
    log = os.path.join(rt.scratch, "hooks.log")
    open(log, "w").close()
    os.chmod(log, 0o666)
    b = rt.bundle(busybox_rootfs, ["true"])
    phases = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    b.config["hooks"] = {p: [{"path": "/bin/sh", "args": [
        "sh", "-c", f"printf '{p} ' >> {log}; cat >> {log}; echo >> {log}"]}] for p in phases}
    b.config["hooks"]["startContainer"] = [{"path": "/bin/sh", "args": [
        "sh", "-c", "cat > /dev/shm/state"]}]
    b.config["process"]["args"] = ["cat", "/dev/shm/state"]
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    got = {ln.split(" ", 1)[0]: json.loads(ln.split(" ", 1)[1])
           for ln in open(log).read().splitlines()}
    got["startContainer"] = json.loads(r.stdout)
    want = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
            "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    for phase, status in want.items():
        s = got[phase]
        assert s["ociVersion"].startswith("1.") and s["id"] == cid, (phase, s)
        assert s["status"] == status and s["bundle"] == b.path, (phase, s)
        assert isinstance(s.get("annotations", {}), dict)
        if status in ("created", "running", "creating"):
            assert s["pid"] > 0, (phase, s)     # REQUIRED while the process exists


@pytest.mark.parametrize("version, ok", [
    ("1.0.0", True), ("1.2.0", True), ("1.0.2-dev", True), ("1.1.0-rc.1", True),
    ("2.0.0", False), ("1.0", False), ("1", False), ("", False), ("v1.0.0", False)])
def test_oci_version_values(rt, busybox_rootfs, cid, version, ok):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("ociVersion", version)
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
        assert f"ociVersion: {version!r} is not a 1.x runtime-spec version" in r.stderr


@pytest.mark.parametrize("field, value, message", [
    ("process.capabilities", {"bounding": ["CAP_KILL", "CAP_FLY"]},
     "process.capabilities.bounding[1]: unknown capability 'CAP_FLY'"),
    ("process.capabilities", {"ambient": ["kill"]},
     "process.capabilities.ambient[0]: unknown capability 'kill'"),
    ("process.rlimits", [{"type": "RLIMIT_SPEED", "soft": 1, "hard": 1}],
     "process.rlimits[0].type: unknown rlimit 'RLIMIT_SPEED'"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                         {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}],
     "process.rlimits[1].type: RLIMIT_NOFILE is listed twice"),
])
def test_what_does_not_exist_is_refused_naming_its_json_path(rt, busybox_rootfs, cid,
                                                             field, value, message):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set(field, value)
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert leftovers(rt, cid, b) == []


def test_delete_force_after_a_create_killed_before_its_state_was_saved(rt, busybox_rootfs,
                                                                        cid):
    """SIGKILL of `create` while its hooks run: the cgroups and INIT exist,
    state.json does not.  `delete --force ID` removes what the id names."""
    b = rt.bundle(busybox_rootfs, ["true"])
    hook_pid = os.path.join(rt.scratch, "hook.pid")
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
        "sh", "-c", f"echo $$ > {hook_pid}; exec sleep 30"]}]}
    b.write()
    with open(os.path.join(rt.scratch, "create.out"), "w") as out:
        p = subprocess.Popen(rt.argv("create", "--bundle", b.path, cid), stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while not os.path.exists(hook_pid) or not open(hook_pid).read().strip():
        assert time.monotonic() < deadline and p.poll() is None, "the hook never ran"
        time.sleep(0.01)
    assert not os.path.exists(os.path.join(rt.root, cid, "state.json"))
    subprocess.run(["pkill", "-KILL", "-f", f"minirun-oci --root {rt.root} create"])
    p.wait()
    os.kill(int(open(hook_pid).read()), 9)
    r = rt.oci("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert leftovers(rt, cid, b) == []


def test_warming_the_cgroup_lock_moves_nothing(rt):
    """runtime start: the runtime moves itself into the group it is in (to
    pay the kernel's first-move wait early); that must change no cgroup."""
    code = ("import os, time; from minirun.kernel import cgroups; "
            "before = open('/proc/self/cgroup').read(); cgroups.warm_migration(); "
            "time.sleep(0.2); print(before == open('/proc/self/cgroup').read())")
    r = subprocess.run(rt.prefix() + [os.path.join(VENV_BIN, "python"), "-c", code],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_no_mount_namespace_and_no_mounts_at_all(rt, busybox_rootfs, cid):
    """Without /proc in the container, INIT still closes the host's
    descriptors (close_range, not /proc/self/fd) and runs its process."""
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "echo ran; ls /proc | wc -l"])
    _without_mount_namespace(b)
    b.set("mounts", [])
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    if rt.rootless:
        assert r.returncode != 0 and "needs a mount namespace of its own" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["ran", "0"]
    assert leftovers(rt, cid, b) == []
