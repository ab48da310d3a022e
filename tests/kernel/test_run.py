"""Black-box: write a config.json, run a probe inside the busybox rootfs and
check from inside.  Every test runs as root and as the unprivileged test user."""
import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import leftovers


def run(rt, bundle, cid, *extra, **kw):
    return rt.oci("run", "--bundle", bundle.path, *extra, cid, **kw)


def lines(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_pid1_hostname_env_cwd_user(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "echo $$; hostname; echo $FOO; pwd; id -u; id -g; "
                                   "id -G; umask"],
                  **{"hostname": "box", "process.cwd": "/tmp/work",
                     "process.user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20],
                                      "umask": 0o27}})
    b.config["process"]["env"].append("FOO=bar baz")
    b.write()
    assert lines(run(rt, b, cid)) == ["1", "box", "bar baz", "/tmp/work", "1000", "1000",
                                      "1000 10 20", "0027"]
    assert leftovers(rt, cid, b) == []


def test_id_maps(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["cat", "/proc/self/uid_map", "/proc/self/gid_map"])
    out = [ln.split() for ln in lines(run(rt, b, cid))]
    if rt.rootless:
        u = rt.user
        assert out == [["0", str(u.pw_uid), "1"], ["1", "100000", "65536"],
                       ["0", str(u.pw_gid), "1"], ["1", "100000", "65536"]]
    else:
        assert out == [["0", "0", "4294967295"]] * 2


@pytest.mark.parametrize("mode", ["root"])
def test_root_with_a_user_namespace(mode, busybox_rootfs, cid):
    from tests.conftest import Runtime
    rt = Runtime("root")
    try:
        b = rt.bundle(busybox_rootfs, ["sh", "-c", "cat /proc/self/uid_map; id -u; ls -ln /bin/sh"])
        b.config["linux"]["namespaces"].append({"type": "user"})
        b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        b.write()
        subprocess.run(["chown", "-R", "300000:300000", b.rootfs], check=True)
        out = lines(run(rt, b, cid))
        assert out[0].split() == ["0", "300000", "65536"]
        assert out[1] == "0"
        assert " 0        0 " in out[2] or out[2].split()[2:4] == ["0", "0"]
    finally:
        rt.cleanup()


def test_capabilities_default_and_ambient(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["grep", "^Cap", "/proc/self/status"])
    caps = dict(ln.split(":\t") for ln in lines(run(rt, b, cid)))
    assert caps == {"CapInh": "0000000000000000", "CapPrm": "0000000020000420",
                    "CapEff": "0000000020000420", "CapBnd": "0000000020000420",
                    "CapAmb": "0000000000000000"}
    b.config["process"]["capabilities"]["inheritable"] = ["CAP_NET_BIND_SERVICE"]
    b.config["process"]["capabilities"]["ambient"] = ["CAP_NET_BIND_SERVICE"]
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.write()
    caps = dict(ln.split(":\t") for ln in lines(run(rt, b, cid + "b")))
    assert caps["CapAmb"] == "0000000000000400"
    assert caps["CapEff"] == "0000000000000400"  # ambient -> effective for a non-root exec


def test_no_new_privs_and_seccomp(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' "
                                   "/proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?"])
    b.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}]}
    b.write()
    out = lines(run(rt, b, cid))
    assert out[0].split() == ["NoNewPrivs:", "1"]
    assert out[1].split() == ["Seccomp:", "2"]
    assert "Operation not permitted" in out[2] and out[3] == "rc=1"


def test_seccomp_without_no_new_privs(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' "
                                   "/proc/self/status"],
                  **{"process.noNewPrivileges": False})
    b.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                    "syscalls": [{"names": ["reboot"],
                                                  "action": "SCMP_ACT_ERRNO"}]}
    b.write()
    out = lines(run(rt, b, cid))
    assert [ln.split() for ln in out] == [["NoNewPrivs:", "0"], ["Seccomp:", "2"]]


def test_masked_and_readonly_paths_and_readonly_root(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c",
                                   "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
                                   "echo x 2>&1 > /proc/sys/kernel/domainname; "
                                   "touch /newfile 2>&1; touch /dev/shm/ok && echo shm-ok"])
    out = lines(run(rt, b, cid))
    assert out[0] == "0" and out[1] == "0"
    assert "Read-only file system" in out[2]
    assert "Read-only file system" in out[3]
    assert out[4] == "shm-ok"


def test_mounts_bind_ro_tmpfs_and_dev(rt, busybox_rootfs, cid):
    data = os.path.join(rt.scratch, "data")
    os.mkdir(data)
    with open(os.path.join(data, "hello"), "w") as f:
        f.write("from the host\n")
    rt.chown(data)
    b = rt.bundle(busybox_rootfs, ["sh", "-c",
                                   "cat /data/hello; touch /data/x 2>&1; "
                                   "grep -E ' /(data|scratch|dev|dev/pts|proc|sys) ' "
                                   "/proc/self/mounts | cut -d' ' -f2-4; ls /dev"])
    b.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "size=1m"]}]
    b.write()
    out = lines(run(rt, b, cid))
    assert out[0] == "from the host"
    assert "Read-only file system" in out[1]
    mounts = {ln.split()[0]: ln.split() for ln in out[2:9] if ln.startswith("/")}
    assert mounts["/data"][2].startswith("ro")
    assert mounts["/scratch"][1] == "tmpfs" and "nosuid" in mounts["/scratch"][2]
    assert mounts["/proc"][1] == "proc" and mounts["/dev/pts"][1] == "devpts"
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
                "fd", "stdin", "stdout", "stderr"):
        assert dev in out, dev
    assert not os.path.exists(os.path.join(data, "x"))


def test_rlimits_and_clamping(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"])
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 900},
                                      {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}]
    b.write()
    assert lines(run(rt, b, cid)) == ["512", "900", "77"]
    # A hard limit above what this host allows is clamped, with a warning.
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10**7, "hard": 10**7}]
    b.write()
    r = run(rt, b, cid + "b")
    assert r.returncode == 0, r.stderr
    assert "RLIMIT_NOFILE hard limit 10000000 is above this host's" in r.stderr
    # Given a --log (as shims give one), the warning goes there in runc's
    # JSON, not to stderr: under a shim that is the container's output.
    log = os.path.join(rt.scratch, "log.json")
    r = rt.oci("--log", log, "--log-format", "json", "run", "--bundle", b.path, cid + "c")
    assert r.returncode == 0 and "RLIMIT_NOFILE" not in r.stderr, r.stderr
    with open(log) as f:
        entry = json.loads(f.readline())
    assert entry["level"] == "warning" and "RLIMIT_NOFILE hard limit" in entry["msg"], entry


def test_signal_dispositions_start_at_their_defaults(rt, busybox_rootfs, cid):
    """Nothing ignored or blocked reaches the container: not Python's
    SIGPIPE and SIGXFSZ, nor a SIGINT ignored by whoever started us (a
    shell's background job)."""
    import signal as sig
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "grep -E '^Sig(Ign|Blk):' /proc/self/status; "
                                   "yes | head -1"])

    def ignore_interrupts():
        sig.signal(sig.SIGINT, sig.SIG_IGN)
        sig.pthread_sigmask(sig.SIG_BLOCK, [sig.SIGUSR1])
    r = subprocess.run(rt.argv("run", "--bundle", b.path, cid), capture_output=True, text=True,
                       timeout=60, preexec_fn=ignore_interrupts)
    assert r.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000",
                                "y"], r.stderr


def test_exit_code_and_signals(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "exit 3"])
    assert run(rt, b, cid).returncode == 3
    # run forwards SIGTERM to the container's process
    b.config["process"]["args"] = ["sh", "-c", "trap 'echo got-term; exit 42' TERM; "
                                   "echo ready; while :; do sleep 0.05; done"]
    b.write()
    p = subprocess.Popen(rt.argv("run", "--bundle", b.path, cid + "b"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM) if not rt.rootless else _signal_tree(p.pid, signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 42 and "got-term" in out
    # killed by a signal: 128 + N
    b.config["process"]["args"] = ["sh", "-c", "echo ready; sleep 100"]
    b.write()
    p = subprocess.Popen(rt.argv("run", "--bundle", b.path, cid + "c"), stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    rt.oci("kill", cid + "c", "KILL", check=True)
    p.communicate(timeout=20)
    assert p.returncode == 137
    assert leftovers(rt, cid + "c", b) == []


def _signal_tree(pid: int, sig: int) -> None:
    """runuser forwards nothing: signal minirun-oci itself, its child."""
    for _ in range(100):
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        if kids.split():
            for k in kids.split():
                os.kill(int(k), sig)
            return
        time.sleep(0.05)
    raise AssertionError("minirun-oci did not start")


def test_no_host_fd_reaches_the_container(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["ls", "/proc/self/fd"])
    leak = os.open("/", os.O_RDONLY)  # a host directory, as in CVE-2024-21626
    try:
        r = run(rt, b, cid, pass_fds=[leak])
    finally:
        os.close(leak)
    assert lines(r) == ["0", "1", "2", "3"]  # 3 is ls's own directory


def test_cwd_through_a_leaked_fd_cannot_escape(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["pwd"])
    leak = os.open("/", os.O_RDONLY)
    try:
        for n in range(3, 12):
            b.set("process.cwd", f"/proc/self/fd/{n}")
            b.write()
            r = run(rt, b, f"{cid}-{n}", pass_fds=[leak])
            assert r.returncode != 0 or r.stdout.strip().startswith("/proc/self/fd/"), r.stdout
            assert leftovers(rt, f"{cid}-{n}", b) == []
    finally:
        os.close(leak)


def test_the_runtime_inside_is_not_reachable_through_proc(rt, busybox_rootfs, cid):
    """A container process (here a startContainer hook) cannot open the
    runtime's own executable through /proc/1/exe (CVE-2019-5736)."""
    b = rt.bundle(busybox_rootfs, ["cat", "/dev/shm/result"])
    b.config["hooks"] = {"startContainer": [{
        "path": "/bin/sh", "args": ["sh", "-c", "{ cat /proc/1/exe >/dev/null 2>&1 && echo read; "
                                    "echo x 2>/dev/null >>/proc/1/exe && echo wrote; "
                                    "echo done; } > /dev/shm/result"]}]}
    b.write()
    assert lines(run(rt, b, cid)) == ["done"]


@pytest.mark.parametrize("args,code,message", [
    (["/no/such/program"], 127, "executable file not found"),
    (["nosuchprogram"], 127, "executable file not found in $PATH"),
    (["/etc/passwd"], 126, "permission denied"),
    (["/bin"], 126, "permission denied"),
])
def test_command_not_found_or_not_executable(rt, busybox_rootfs, cid, args, code, message):
    b = rt.bundle(busybox_rootfs, args)
    r = run(rt, b, cid)
    assert r.returncode == code, r.stderr
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert leftovers(rt, cid, b) == []


def test_rootless_single_id_map_and_fallback(busybox_rootfs, cid):
    """A plain user with no /etc/subuid range (nobody): its own id maps to
    root; a config asking for more falls back to that map and says so."""
    from tests.conftest import Runtime, is_root
    if not is_root():
        pytest.skip("switches to the user nobody: run as root")
    rt = Runtime("rootless")
    import pwd
    rt.user = pwd.getpwnam("nobody")
    os.chown(rt.scratch, rt.user.pw_uid, rt.user.pw_gid)
    try:
        b = rt.bundle(busybox_rootfs, ["sh", "-c", "id -u; cat /proc/self/uid_map; "
                                       "cat /proc/self/setgroups"])
        b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 65534, "size": 1}]
        b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 65534, "size": 1}]
        b.write()
        r = run(rt, b, cid)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["0", "0", "65534", "1", "deny"]
        assert "warning" not in r.stderr
        b.config["linux"]["uidMappings"].append({"containerID": 1, "hostID": 100000,
                                                 "size": 65536})
        b.write()
        r = run(rt, b, cid + "b")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["0", "0", "65534", "1", "deny"]
        assert "mapping only container id 0 to your uid 65534" in r.stderr
    finally:
        rt.cleanup()


def test_sysctl_domainname_oom_score_adj_and_propagation(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; "
                                   "cat /proc/sys/kernel/domainname; cat /proc/self/oom_score_adj; "
                                   "grep -c ' / / .*shared:' /proc/self/mountinfo || true"],
                  **{"domainname": "example.test", "process.oomScoreAdj": 500,
                     "linux.sysctl": {"net.ipv4.ip_forward": "1"},
                     "linux.rootfsPropagation": "rprivate"})
    assert lines(run(rt, b, cid)) == ["1", "example.test", "500", "0"]


def test_a_sysctl_of_the_host_is_refused(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"], **{"linux.sysctl": {"vm.swappiness": "10"}})
    r = run(rt, b, cid)
    assert r.returncode == 125 and "vm.swappiness" in r.stderr and "not namespaced" in r.stderr
    assert leftovers(rt, cid, b) == []


def test_join_namespaces_by_path(rt, busybox_rootfs, cid):
    a = rt.bundle(busybox_rootfs, ["sleep", "100"], hostname="first")
    rt.oci("run", "-d", "--bundle", a.path, cid + "a", check=True)
    import json
    pid = json.loads(rt.oci("state", cid + "a", check=True).stdout)["pid"]
    b = rt.bundle(busybox_rootfs, ["hostname"])
    joined = {"network": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"}
    if rt.rootless:   # A's namespaces belong to A's user namespace: join it too
        joined["user"] = f"/proc/{pid}/ns/user"
        del b.config["linux"]["uidMappings"], b.config["linux"]["gidMappings"]
    b.config["linux"]["namespaces"] = [
        {"type": n["type"], "path": joined[n["type"]]} if n["type"] in joined else n
        for n in b.config["linux"]["namespaces"]]
    b.set("hostname", None)
    b.write()
    assert lines(run(rt, b, cid + "b")) == ["first"]


def test_placed_in_the_cgroup_of_every_tree(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["cat", "/proc/self/cgroup"])
    out = lines(run(rt, b, cid))
    if rt.rootless:   # no delegated cgroup on this host: the caller's own groups
        assert all(ln.endswith(":/") for ln in out), out
        return
    # inside its cgroup namespace the container sees its own group as /
    assert all(ln.endswith(":/") for ln in out if "name=" not in ln), out
    b.config["process"]["args"] = ["sleep", "100"]
    b.write()
    rt.oci("run", "-d", "--bundle", b.path, cid + "d", check=True)
    import json
    pid = json.loads(rt.oci("state", cid + "d", check=True).stdout)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        groups = dict(ln.rstrip("\n").split(":", 2)[1:] for ln in f)
    assert groups[""].endswith(f"/minirun/{cid}d")          # cgroup v2 (unified)
    for controller in ("memory", "pids", "cpu", "cpuset"):  # cgroup v1
        assert groups[controller].endswith(f"/minirun/{cid}d"), controller
