"""The OCI lifecycle through minirun-oci's verbs, as root and rootless:
create, start, state, kill, delete, list, exec, hooks, terminals."""
import array
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from tests.conftest import leftovers, terminal_session


def state(rt, cid):
    r = rt.oci("state", cid, check=True)
    return json.loads(r.stdout)


def wait_status(rt, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = state(rt, cid)
        if s["status"] == want:
            return s
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {s}")


def test_create_start_state_kill_delete(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    pid_file = os.path.join(rt.scratch, "pid")
    rt.oci("create", "--bundle", b.path, "--pid-file", pid_file, cid, check=True)
    s = state(rt, cid)
    assert s["status"] == "created" and s["id"] == cid and s["bundle"] == b.path
    assert int(open(pid_file).read()) == s["pid"] > 0
    assert s["ociVersion"].startswith("1.")
    # created: the process is our init, still waiting; start releases it
    rt.oci("start", cid, check=True)
    s = wait_status(rt, cid, "running")
    with open(f"/proc/{s['pid']}/cmdline") as f:
        assert f.read().split("\0")[0] == "sleep"
    r = rt.oci("start", cid)
    assert r.returncode != 0 and "only a created container can be started" in r.stderr
    listed = json.loads(rt.oci("list", "--format", "json", check=True).stdout)
    assert [c["id"] for c in listed] == [cid]
    assert rt.oci("list", "-q", check=True).stdout.split() == [cid]
    r = rt.oci("delete", cid)
    assert r.returncode != 0 and "is running" in r.stderr
    rt.oci("kill", cid, "KILL", check=True)
    wait_status(rt, cid, "stopped")
    r = rt.oci("kill", cid, "TERM")
    assert r.returncode != 0 and "stopped" in r.stderr
    rt.oci("delete", cid, check=True)
    r = rt.oci("state", cid)
    assert r.returncode != 0 and "does not exist" in r.stderr
    assert leftovers(rt, cid, b) == []


def test_delete_force_and_delete_created(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []
    rt.oci("create", "--bundle", b.path, cid + "c", check=True)
    rt.oci("delete", "--force", cid + "c", check=True)   # created: not stopped, so --force
    assert leftovers(rt, cid + "c", b) == []


def test_create_twice_is_refused(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    rt.oci("create", "--bundle", b.path, cid, check=True)
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode != 0 and "exists already" in r.stderr
    assert state(rt, cid)["status"] == "created"


def test_kill_all_and_signal_names(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "trap 'exit 0' USR1; while :; do sleep 0.05; done"])
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    r = rt.oci("kill", cid, "NOPE")
    assert r.returncode != 0 and "unknown signal" in r.stderr
    rt.oci("kill", cid, "SIGUSR1", check=True)
    wait_status(rt, cid, "stopped")


def test_exec_joins_every_namespace(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"], hostname="inside")
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    s = wait_status(rt, cid, "running")
    r = rt.oci("exec", cid, "sh", "-c", "hostname; ps -o pid,comm | grep sleep; exit 5")
    out = r.stdout.split()
    assert r.returncode == 5, r.stderr
    assert out[0] == "inside" and out[1:3] == ["1", "sleep"]
    pid_file = os.path.join(rt.scratch, "sleeper.pid")
    rt.oci("exec", "-d", "--pid-file", pid_file, cid, "sleep", "30", check=True)
    joined = int(open(pid_file).read())
    for ns in ("mnt", "pid", "net", "uts", "ipc", "cgroup") + (("user",) if rt.rootless else ()):
        assert os.readlink(f"/proc/{s['pid']}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
        assert os.readlink(f"/proc/{joined}/ns/{ns}") == os.readlink(f"/proc/{s['pid']}/ns/{ns}")
    assert open(f"/proc/{joined}/cgroup").read() == open(f"/proc/{s['pid']}/cgroup").read()
    # --process, --detach and --pid-file
    proc = dict(b.config["process"], args=["sh", "-c", "echo $X > /dev/shm/x"],
                env=["X=from-process-json", "PATH=/bin"])
    pjson = os.path.join(rt.scratch, "process.json")
    with open(pjson, "w") as f:
        json.dump(proc, f)
    rt.chown(pjson)
    rt.oci("exec", "--process", pjson, "--detach", cid, check=True)
    time.sleep(0.3)
    r = rt.oci("exec", cid, "cat", "/dev/shm/x")
    assert r.stdout.strip() == "from-process-json"
    r = rt.oci("exec", cid, "/nope")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = rt.oci("exec", "-u", "1000:1000", "--cwd", "/tmp", cid, "sh", "-c", "id -u; pwd")
    assert r.stdout.split() == ["1000", "/tmp"]
    rt.oci("delete", "--force", cid, check=True)
    assert leftovers(rt, cid, b) == []


def test_hooks_run_in_order_with_state(rt, busybox_rootfs, cid):
    log = os.path.join(rt.scratch, "hooks.log")
    open(log, "w").close()
    os.chmod(log, 0o666)

    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"read s; echo {name} $s >> {log}"]}
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["hooks"] = {p: [hook(p)] for p in ("prestart", "createRuntime", "createContainer",
                                                "poststart", "poststop")}
    b.config["hooks"]["startContainer"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo started > /dev/shm/started"]}]
    # the process waits for poststart, which tells it through its root: so
    # poststart sees it running, however fast it would have ended
    b.config["hooks"]["poststart"] = [{"path": "/bin/sh", "args": [
        "sh", "-c", f"read s; echo poststart $s >> {log}; "
                    "p=$(echo \"$s\" | sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/'); "
                    "touch /proc/$p/root/dev/shm/go"]}]
    b.config["process"]["args"] = ["sh", "-c", "cat /dev/shm/started; "
                                   "while [ ! -e /dev/shm/go ]; do sleep 0.02; done"]
    b.write()
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "started"
    entries = [ln.split(" ", 1) for ln in open(log).read().splitlines()]
    assert [e[0] for e in entries] == ["prestart", "createRuntime", "createContainer",
                                       "poststart", "poststop"]
    first = json.loads(entries[0][1])
    assert first["id"] == cid and first["pid"] > 0 and first["bundle"] == b.path
    assert json.loads(entries[3][1])["status"] == "running"
    assert json.loads(entries[4][1])["status"] == "stopped"


@pytest.mark.parametrize("hook,message", [
    ({"path": "/bin/false"}, "createRuntime hook: `/bin/false` exited with status 1"),
    ({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}, "did not finish within 1 s"),
    ({"path": "/no/such/hook"}, "createRuntime hook: `/no/such/hook`"),
])
def test_a_failing_hook_aborts_the_create(rt, busybox_rootfs, cid, hook, message):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["hooks"] = {"createRuntime": [hook]}
    b.write()
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert leftovers(rt, cid, b) == []


class ConsoleSocket:
    """The receiving end of --console-socket, as conmon holds it."""

    def __init__(self, rt):
        self.path = os.path.join(rt.scratch, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        rt.chown(self.path)
        self.master = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        conn, _ = self.sock.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:fds.itemsize])
        self.master = fds[0]
        conn.close()

    def read_all(self, timeout=10):
        self.thread.join(timeout)
        assert self.master is not None, "no terminal received"
        out = b""
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        return out.decode()


def test_console_socket_gives_a_terminal(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "tty; stty size; [ -t 0 ] && echo stdin-tty"])
    b.config["process"]["terminal"] = True
    b.config["process"]["consoleSize"] = {"height": 33, "width": 101}
    b.write()
    console = ConsoleSocket(rt)
    r = rt.oci("create", "--bundle", b.path, "--console-socket", console.path, cid)
    assert r.returncode == 0, r.stderr
    rt.oci("start", cid, check=True)
    out = console.read_all().split()
    assert out == ["/dev/pts/0", "33", "101", "stdin-tty"]
    wait_status(rt, cid, "stopped")
    rt.oci("delete", cid, check=True)


def test_create_with_terminal_needs_a_console_socket(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["process"]["terminal"] = True
    b.write()
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode == 125 and "needs --console-socket" in r.stderr
    assert leftovers(rt, cid, b) == []


def test_run_with_a_terminal_of_its_own(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh"])
    b.config["process"]["terminal"] = True
    b.write()
    terminal_session(rt.argv("run", "--bundle", b.path, cid), 40, 120, 7)


def test_explain_narrates_the_syscalls(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    r = rt.oci("--explain", "run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    text = r.stderr
    unshare = " ".join(ln for ln in text.splitlines() if "unshare(" in ln)
    for flag in ("CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID",
                 "CLONE_NEWNET"):
        assert flag in unshare
    for needle in ('pivot_root(".", ".")', "sethostname(\"minirun\")",
                   "mount(\"proc\"", "capset(", "prctl(PR_SET_NO_NEW_PRIVS, 1)",
                   "execve('/usr/bin/true'",
                   "prctl(PR_SET_DUMPABLE, 0)"):
        assert needle in text, needle
    if rt.rootless:
        assert "unshare(CLONE_NEWUSER)" in text and "newuidmap" in text
    positions = [text.index(n) for n in ("unshare(CLONE_NEWNS", "mount(\"proc\"",
                                         'pivot_root(".", ".")', "execve(")]
    assert positions == sorted(positions)


def test_errors_go_to_the_json_log(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["/nope"])
    log = os.path.join(rt.scratch, "oci.log")
    r = rt.oci("--log", log, "--log-format", "json", "create", "--bundle", b.path, cid)
    assert r.returncode == 127
    entry = json.loads(open(log).read().splitlines()[-1])
    assert entry["level"] == "error" and "executable file not found" in entry["msg"]


def test_spec_and_features(rt, busybox_rootfs):
    d = os.path.join(rt.scratch, "specdir")
    os.mkdir(d)
    rt.chown(d)
    args = ["spec", "--bundle", d] + (["--rootless"] if rt.rootless else [])
    rt.oci(*args, check=True)
    config = json.load(open(os.path.join(d, "config.json")))
    assert config["process"]["noNewPrivileges"] is True
    types = [n["type"] for n in config["linux"]["namespaces"]]
    assert ("user" in types) == rt.rootless
    if rt.rootless:
        assert config["linux"]["uidMappings"][0]["hostID"] == rt.user.pw_uid
        assert config["linux"]["uidMappings"][1] == {"containerID": 1, "hostID": 100000,
                                                     "size": 65536}
    r = rt.oci(*args)
    assert r.returncode != 0 and "exists already" in r.stderr
    features = json.loads(rt.oci("features", check=True).stdout)
    assert "user" in features["linux"]["namespaces"]
    assert features["linux"]["seccomp"]["enabled"] is True


def test_systemd_cgroup_is_refused_clearly(rt):
    r = rt.oci("--systemd-cgroup", "list")
    assert r.returncode == 125 and "cgroupfs" in r.stderr


def test_exec_with_a_terminal(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    console = ConsoleSocket(rt)
    r = rt.oci("exec", "-t", "--console-socket", console.path, cid, "sh", "-c",
               "tty; [ -t 0 ] && echo stdin-tty")
    assert r.returncode == 0, r.stderr
    assert console.read_all().split() == ["/dev/pts/0", "stdin-tty"]
    rt.oci("delete", "--force", cid, check=True)


def test_minirun_oci_is_also_minirun_oci_verb(rt, busybox_rootfs, cid):
    import sys
    minirun = os.path.join(os.path.dirname(sys.executable), "minirun")
    b = rt.bundle(busybox_rootfs, ["echo", "via minirun oci"])
    argv = rt.prefix() + [minirun, "oci", "--root", rt.root, "run", "--bundle", b.path, cid]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "via minirun oci"


def test_debug_narrates_into_the_log(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["echo", "clean"])
    log = os.path.join(rt.scratch, "debug.log")
    r = rt.oci("--debug", "--log", log, "run", "--bundle", b.path, cid)
    assert r.returncode == 0 and r.stdout == "clean\n" and r.stderr == ""
    assert 'pivot_root(".", ".")' in open(log).read()


def test_exec_with_a_terminal_of_its_own(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sleep", "100"])
    rt.oci("run", "-d", "--bundle", b.path, cid, check=True)
    wait_status(rt, cid, "running")
    terminal_session(rt.argv("exec", "-t", cid, "sh"), 30, 90, 3)
    rt.oci("delete", "--force", cid, check=True)
