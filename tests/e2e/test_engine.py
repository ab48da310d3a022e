"""The podman-like engine on real images, as root and rootless: run,
create/start, ps, logs, stop, rm, wait, inspect, and what a SIGKILL of
the monitor leaves behind (nothing, once the next command has looked)."""
import json
import os
import re
import signal
import subprocess
import time

import pytest


def test_run_output_and_exit_code(mr, img):
    r = mr("run", "--rm", img, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3 and r.stdout == "out\n" and r.stderr == "err\n"
    assert json.loads(mr("ps", "-a", "--format", "json", check=True).stdout) == []


def test_run_flags(mr, img):
    r = mr("run", "--rm", "-e", "GREETING=hi there", "-w", "/tmp", "-u", "daemon",
           "--hostname", "box", img, "sh", "-c",
           'echo "$GREETING"; pwd; id -u; hostname; cat /etc/hostname')
    assert r.stdout.splitlines() == ["hi there", "/tmp", "1", "box", "box"], r.stderr
    r = mr("run", "--rm", "--entrypoint", "echo", img, "from", "entrypoint")
    assert r.stdout == "from entrypoint\n"
    r = mr("run", "--rm", img)      # the image's Cmd: sh, with no input: exits 0
    assert r.returncode == 0


def test_the_default_security_profile(mr, img):
    r = mr("run", "--rm", img, "sh", "-c", "grep -E '^(CapEff|Seccomp|NoNewPrivs):' "
           "/proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.splitlines())
    assert fields["CapEff"] == "00000000800405fb"     # podman's eleven capabilities
    assert fields["Seccomp"] == "2"
    r = mr("run", "--rm", "--security-opt", "seccomp=unconfined", "--cap-drop", "ALL", img,
           "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000000000", "Seccomp:", "0"], r.stderr


def test_a_seccomp_profile_of_ones_own(mr, img):
    profile = os.path.join(mr.rt.scratch, "no-mkdir.json")
    with open(profile, "w") as f:         # moby's format, as podman reads it
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
    mr.rt.chown(profile)
    r = mr("run", "--rm", "--security-opt", f"seccomp={profile}", img, "mkdir", "/made")
    assert r.returncode == 1 and "Operation not permitted" in r.stderr, r.stderr
    assert mr("run", "--rm", img, "mkdir", "/made").returncode == 0
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}, f)
    r = mr("run", "--rm", "--security-opt", f"seccomp={profile}", img, "true")
    assert r.returncode == 125 and "unknown action 'SCMP_ACT_MAYBE'" in r.stderr, r.stderr
    r = mr("run", "--rm", "--security-opt", "seccomp=/no/such.json", img, "true")
    assert r.returncode == 125 and "no such profile" in r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


@pytest.mark.parametrize("cmd,code", [("/no/such", 127), ("/etc/passwd", 126)])
def test_commands_that_cannot_run(mr, img, cmd, code):
    r = mr("run", "--rm", img, cmd)
    assert r.returncode == code, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


def test_detached_ps_logs_stop_rm(mr, img):
    r = mr("run", "-d", "--name", "web", img, "sh", "-c",
           "trap 'echo bye; exit 0' TERM; echo started; while :; do sleep 0.05; done")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    [row] = json.loads(mr("ps", "--format", "json", check=True).stdout)
    assert row["Id"] == cid and row["Names"] == ["web"] and row["State"] == "running"
    deadline = time.monotonic() + 10
    while "started" not in mr("logs", "web").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    r = mr("run", "-d", "--name", "web", img, "true")
    assert r.returncode == 125 and "in use" in r.stderr
    r = mr("rm", "web")
    assert r.returncode == 2 and "is running" in r.stderr      # podman's code
    mr("stop", "web", check=True)
    [info] = json.loads(mr("inspect", "web", check=True).stdout)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert mr("logs", "web", check=True).stdout == "started\nbye\n"
    assert mr("wait", "web", check=True).stdout.strip() == "0"
    mr("rm", "web", check=True)
    assert mr("ps", "-aq", check=True).stdout == ""
    assert not os.path.exists(os.path.join(mr.store, "containers", cid))


def test_create_then_start_and_wait(mr, img):
    cid = mr("create", "--name", "later", img, "sh", "-c", "exit 4", check=True).stdout.strip()
    [row] = json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
    assert row["State"] == "created"
    mr("start", "later", check=True)
    assert mr("wait", cid[:12], check=True).stdout.strip() == "4"
    mr("rm", "later", check=True)


def test_stop_kills_what_ignores_the_signal(mr, img):
    mr("run", "-d", "--name", "stubborn", img, "sleep", "1000", check=True)
    t0 = time.monotonic()
    mr("stop", "-t", "1", "stubborn", check=True)   # pid 1 ignores SIGTERM
    assert time.monotonic() - t0 < 8
    [info] = json.loads(mr("inspect", "stubborn", check=True).stdout)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    mr("rm", "stubborn", check=True)


def test_a_killed_monitor_is_noticed_and_cleaned(mr, img):
    mr("run", "-d", "--name", "orphan", img, "sleep", "1000", check=True)
    [info] = json.loads(mr("inspect", "orphan", check=True).stdout)
    pid = info["State"]["Pid"]
    monitor = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{monitor}/comm") as f:
        assert f.read().strip() == "minirun:[MON]"
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
    assert row["State"] == "exited"
    mr("rm", "orphan", check=True)
    from tests.conftest import leftovers
    assert [x for x in leftovers(mr.rt, info["Id"]) if "cgroup" in x] == []


def test_dry_run_prints_the_bundle_config(mr, img):
    r = mr("run", "--dry-run", img, "echo", "x")
    config = json.loads(r.stdout)
    assert config["process"]["args"] == ["echo", "x"]
    assert "org.minirun.rootfs.overlay" in config["annotations"]
    assert mr("ps", "-aq", check=True).stdout == ""


def test_dry_run_prints_exactly_what_create_writes(mr, img):
    """--dry-run is the builder's output, with nothing made: the config a
    create of the same flags writes is the same, but for the container's id
    (and what is named after it: hostname, paths, anonymous volumes)."""
    flags = ["--network", "none", "-m", "64m", "--pids-limit", "50", "-e", "A=1",
             "--label", "k=v", "--tmpfs", "/scratch", "-v", "dryvol:/data",
             "--mount", "type=volume,target=/anon", "--cap-drop", "net_raw", "-w", "/tmp"]
    dry = mr("run", "--dry-run", *flags, img, "echo", "x", check=True).stdout
    assert mr("volume", "ls", "-q", check=True).stdout == ""      # nothing made
    assert mr("ps", "-aq", check=True).stdout == ""
    cid = mr("create", *flags, img, "echo", "x", check=True).stdout.strip()
    with open(os.path.join(mr.store, "containers", cid, "config.json")) as f:
        written = f.read()
    import hashlib
    def anonymous(c):
        return hashlib.sha256(f"{c}:/anon".encode()).hexdigest()
    expected = dry.replace(anonymous("0" * 64), anonymous(cid)).replace("0" * 64, cid) \
        .replace('"hostname": "' + "0" * 12, '"hostname": "' + cid[:12]) \
        .replace("HOSTNAME=" + "0" * 12, "HOSTNAME=" + cid[:12])
    assert json.loads(written) == json.loads(expected)
    assert mr("volume", "ls", "-q", check=True).stdout.split() == sorted(
        [anonymous(cid), "dryvol"])
    mr("rm", "-v", cid, check=True)


def test_a_container_path_alone_is_an_anonymous_volume(mr, img):
    """`-v /data`, as podman reads it: a volume of the container's own,
    filled from the image, kept by `rm` and removed by `rm -v`."""
    cid = mr("create", "--network", "none", "-v", "/data", "-v", "/etc/skel2", img, "sh", "-c",
             "echo kept > /data/f; ls /data", check=True).stdout.strip()
    names = mr("volume", "ls", "-q", check=True).stdout.split()
    assert len(names) == 2, names
    r = mr("start", "-a", cid)
    assert r.returncode == 0 and r.stdout.split() == ["f"], (r.stdout, r.stderr)
    mr("rm", "-v", cid, check=True)
    assert mr("volume", "ls", "-q", check=True).stdout.split() == []


def test_a_failed_create_leaves_no_volume_it_made(mr, img):
    """The name is in use: the create fails after its volumes were made, and
    takes away those it made (a volume that was there before stays)."""
    mr("volume", "create", "kept", check=True)
    mr("create", "--name", "dup", "--network", "none", img, "true", check=True)
    r = mr("create", "--name", "dup", "--network", "none", "-v", "fresh:/a", "-v", "kept:/b",
           "--mount", "type=volume,target=/anon", img, "true")
    assert r.returncode == 125 and "in use" in r.stderr, r.stderr
    assert mr("volume", "ls", "-q", check=True).stdout.split() == ["kept"]
    assert len(mr("ps", "-aq", check=True).stdout.split()) == 1
    mr("rm", "dup", check=True)
    mr("volume", "rm", "kept", check=True)


def test_run_pulls_a_missing_image(mr, registry):
    r = mr("run", "--rm", f"{registry.addr}/test/multi", "cat", "/etc/motd")
    assert r.returncode == 0 and r.stdout == "second layer\n", r.stderr
    r = mr("run", "--rm", "--pull", "never", f"{registry.addr}/test/never-there", "true")
    assert r.returncode == 125 and "not in the store" in r.stderr


def test_exec_kill_restart(mr, img):
    mr("run", "-d", "--name", "svc", img, "sleep", "1000", check=True)
    r = mr("exec", "svc", "sh", "-c", "echo in exec; ps -o pid,comm | grep -c sleep; exit 6")
    assert r.returncode == 6 and r.stdout.split() == ["in", "exec", "1"], r.stderr
    r = mr("exec", "-u", "daemon", "-w", "/tmp", "-e", "X=1", "svc", "sh", "-c",
           "id -u; pwd; echo $X")
    assert r.stdout.split() == ["1", "/tmp", "1"], r.stderr
    r = mr("exec", "svc", "/no/such")
    assert r.returncode == 127
    mr("restart", "-t", "0", "svc", check=True)
    [info] = json.loads(mr("inspect", "svc", check=True).stdout)
    assert info["State"]["Status"] == "running"
    mr("kill", "svc", check=True)
    assert mr("wait", "svc", check=True).stdout.strip() == "137"
    r = mr("exec", "svc", "true")
    assert r.returncode == 255 and "not running" in r.stderr      # podman's code
    mr("rm", "svc", check=True)


def test_env_file_tmpfs_labels_and_stop_signal(mr, img):
    env_file = os.path.join(mr.rt.scratch, "env")
    with open(env_file, "w") as f:
        f.write("# a comment\nFROM_FILE=yes\n\nOTHER=2\n")
    mr.rt.chown(env_file)
    r = mr("run", "--rm", "--env-file", env_file, "--tmpfs", "/scratch:size=1m",
           "--label", "team=qa", img, "sh", "-c",
           "echo $FROM_FILE $OTHER; grep ' /scratch ' /proc/self/mounts | cut -d' ' -f3")
    assert r.stdout.split() == ["yes", "2", "tmpfs"], r.stderr
    r = mr("run", "--rm", "--label", "nokeyvalue", img, "true")
    assert r.returncode == 125 and "KEY=VALUE" in r.stderr


def test_info_and_container_prune(mr, img):
    facts = json.loads(mr("info", "--format", "json", check=True).stdout)
    assert facts["host"]["rootless"] == mr.rt.rootless
    assert "pids" in facts["host"]["cgroup v1 controllers"]
    mr("run", "--name", "done1", img, "true", check=True)
    mr("run", "-d", "--name", "live", img, "sleep", "100", check=True)
    r = mr("container", "prune", check=True)
    assert len(r.stdout.split()) == 1
    assert [c["Names"] for c in json.loads(mr("ps", "-a", "--format", "json").stdout)] == \
        [["live"]]
    mr("rm", "-f", "live", check=True)


def test_init_privileged_and_top(mr, img):
    r = mr("run", "--rm", "--init", img, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.stdout.startswith("/run/minirun-init -- sh"), r.stderr
    r = mr("run", "--rm", "--privileged", img, "grep", "-E", "^(CapEff|Seccomp):",
           "/proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.splitlines())
    assert fields["Seccomp"] == "0" and int(fields["CapEff"], 16) > 0x800405fb, r.stdout
    mr("run", "-d", "--name", "busy", img, "sh", "-c",
       "sleep 100 & su daemon -s /bin/sh -c 'sleep 200' & wait", check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = mr("top", "busy", "pid", "user", "uid", "args", check=True).stdout.splitlines()
        if len(out) == 4:
            break
        time.sleep(0.05)
    assert out[0].split() == ["PID", "USER", "UID", "COMMAND"], out
    rows = [line.split(None, 3) for line in out[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert rows[2][1:] == ["daemon", "1", "sleep 200"], rows   # daemon, as seen inside
    header = mr("top", "busy", check=True).stdout.splitlines()[0].split()   # podman's default
    assert header == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    r = mr("top", "busy", "nosuch")
    assert r.returncode == 125 and "unknown descriptor" in r.stderr
    mr("rm", "-f", "busy", check=True)


def test_an_interactive_terminal(mr, img):
    from tests.conftest import terminal_session
    terminal_session(mr.argv("run", "--rm", "-it", img, "sh"), 24, 77, 9, env=mr.env())


def _settle(child) -> None:
    """Answer busybox's question, if it asks one.  Its line editor asks the
    terminal where the cursor is (ESC [6n) at a prompt and after a resize,
    and takes what is typed next as the answer: a real terminal answers at
    once, so a test must too, before it types anything."""
    import pexpect
    while child.expect([r"\x1b\[6n", pexpect.TIMEOUT], timeout=0.3) == 0:
        child.send("\x1b[1;1R")


def _line(child, text: str) -> None:
    _settle(child)
    child.sendline(text)


def _sync(child) -> None:
    """Wait until the shell runs what we type (a marker echoed back)."""
    import pexpect
    for _ in range(10):
        _line(child, "echo sync$((1+1))")
        i = child.expect([r"\x1b\[6n", "sync2", pexpect.TIMEOUT], timeout=3)
        if i == 0:
            child.send("\x1b[1;1R")
        elif i == 1:
            child.expect("#")
            return
    raise AssertionError(f"no shell: {child.before!r}")


def test_detach_with_ctrl_p_ctrl_q_and_attach_again(mr, img):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(mr.argv()[0], mr.argv("run", "-it", "--name", "att", img, "sh")[1:],
                          env=mr.env(), timeout=30, dimensions=(30, 100))
    _sync(child)
    _line(child, "stty size; echo $((6*7))")
    child.expect("30 100")
    child.expect("42")
    _line(child, "sleep 100")
    time.sleep(0.5)
    started = time.monotonic()
    child.send("\x03")                          # Ctrl-C: to the container's process
    child.expect(r"\^C")
    _sync(child)                                # the shell is back, long before 100 s
    assert time.monotonic() - started < 30
    child.send("\x10\x11")                    # Ctrl-P Ctrl-Q: leave it running
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _state(mr, "att") == "running"
    child = pexpect.spawn(mr.argv()[0], mr.argv("attach", "att")[1:], env=mr.env(),
                          timeout=30, dimensions=(40, 120))
    _sync(child)
    _line(child, "stty size")                 # the new terminal's size
    child.expect("40 120")
    child.setwinsize(50, 132)                   # and a change of it while attached
    _sync(child)
    _line(child, "stty size")
    child.expect("50 132")
    child.send("\x10x")                         # Ctrl-P then another key: both pass
    _line(child, "")
    _line(child, "exit 5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    assert _state(mr, "att") == "exited"
    assert "42" in mr("logs", "att", check=True).stdout
    mr("rm", "att", check=True)


def test_attach_to_output_and_input_without_a_terminal(mr, img):
    mr("run", "-d", "--name", "talk", img, "sh", "-c",
       "sleep 1; echo out; echo err >&2; exit 3", check=True)
    r = mr("attach", "talk")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    mr("run", "-di", "--name", "cat", img, "sh", "-c", "cat; echo done", check=True)
    r = mr("attach", "cat", input="hello\n")    # our end of input ends theirs
    assert (r.returncode, r.stdout) == (0, "hello\ndone\n"), r.stderr
    mr("create", "--name", "later", img, "echo", "started and attached", check=True)
    r = mr("start", "-a", "later")
    assert (r.returncode, r.stdout) == (0, "started and attached\n"), r.stderr
    r = mr("attach", "later")
    assert r.returncode == 125 and "start it" in r.stderr
    mr("rm", "talk", "cat", "later", check=True)


def test_bad_detach_keys(mr, img):
    mr("run", "-d", "--name", "keys", img, "sleep", "60", check=True)
    r = mr("attach", "--detach-keys", "ctrl-", "keys")
    assert r.returncode == 125 and "not a key" in r.stderr
    mr("rm", "-f", "keys", check=True)


SEEN_FROM_INSIDE = ("id; hostname; cat /etc/hosts; env | sort; "
                    "grep -E 'Cap(Eff|Bnd)|Seccomp:|NoNewPrivs' /proc/self/status; "
                    "awk '{print $5}' /proc/self/mountinfo | grep -v ^/sys/fs/cgroup/ | sort; "
                    "ls /dev; ulimit -n; pwd")


def test_another_runtime_runs_the_same_bundle(mr, img):
    if mr.rt.rootless:
        r = mr("run", "--rm", "--runtime", "runc", img, "true")
        assert r.returncode == 125 and "needs root" in r.stderr, r.stderr
        assert mr("ps", "-aq", check=True).stdout == ""
        return
    import shutil
    if not shutil.which("runc"):
        pytest.skip("runc is not installed (scripts/setup-host installs it)")
    ours = mr("run", "--rm", "--name", "side", "--hostname", "box", img, "sh", "-c",
              SEEN_FROM_INSIDE, check=True).stdout
    theirs = mr("run", "--rm", "--name", "side", "--hostname", "box", "--runtime", "runc",
                img, "sh", "-c", SEEN_FROM_INSIDE, check=True).stdout
    # each run leases an address: another store's container may hold the
    # first one's by the second run
    ours, theirs = (re.sub(r"\b10\.\d+\.\d+\.\d+\b", "<address>", text) for text in (ours, theirs))
    assert ours == theirs
    r = mr("run", "--rm", "--runtime", "runc", img, "sh", "-c", "echo out; exit 4")
    assert (r.returncode, r.stdout) == (4, "out\n")
    r = mr("run", "--rm", "--runtime", "runc", img, "/no/such")
    assert r.returncode == 127 and "runc create" in r.stderr
    mr("run", "-d", "--name", "viarunc", "--runtime", "runc", img, "sh", "-c",
       "echo up; sleep 100", check=True)
    r = mr("exec", "viarunc", "sh", "-c", "echo in; exit 3")
    assert (r.returncode, r.stdout) == (3, "in\n")
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(mr.argv()[0], mr.argv("exec", "-it", "viarunc", "sh")[1:],
                          env=mr.env(), timeout=30, dimensions=(25, 90))
    _sync(child)
    _line(child, "stty size; tty")
    child.expect("25 90")
    child.expect("/dev/pts/")
    _line(child, "exit 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6
    assert "up" in mr("logs", "viarunc", check=True).stdout
    cid = json.loads(mr("inspect", "viarunc", check=True).stdout)[0]["Id"]
    mr("rm", "-f", "viarunc", check=True)
    with open("/proc/self/mountinfo") as f:
        assert mr.store not in f.read()
    r = subprocess.run(["runc", "--root", "/run/minirun/engine-runc", "list", "-q"],
                       capture_output=True, text=True)
    assert cid not in r.stdout


def test_userns_keep_id(mr, img):
    if not mr.rt.rootless:
        r = mr("run", "--rm", "--userns", "keep-id", img, "true")
        assert r.returncode == 125 and "for rootless containers" in r.stderr
        return
    import pwd
    me = pwd.getpwnam("minirun-test")
    out = os.path.join(mr.rt.scratch, "shared")
    os.mkdir(out)
    mr.rt.chown(out)
    r = mr("run", "--rm", "--userns", "keep-id", "-v", f"{out}:/out", img, "sh", "-c",
           "id -u; id -g; whoami; echo $HOME; touch /out/made; ls -ln /bin/busybox /etc/hosts")
    lines = r.stdout.splitlines()
    assert lines[:4] == [str(me.pw_uid), str(me.pw_gid), "minirun-test", me.pw_dir], r.stderr
    assert lines[4].split()[2:4] == ["0", "0"]            # the image's files keep their owners
    made = os.stat(os.path.join(out, "made"))
    assert (made.st_uid, made.st_gid) == (me.pw_uid, me.pw_gid)   # yours, on the host
    # the image as a default container and a keep-id one see it alike
    listing = ("ls -lnR /bin /etc /root /var 2>&1 | "     # less what minirun generates
               "grep -v -e passwd -e group -e hosts -e hostname -e resolv.conf")
    assert mr("run", "--rm", "--userns", "keep-id", img, "sh", "-c", listing).stdout == \
        mr("run", "--rm", img, "sh", "-c", listing).stdout
    mr("rmi", "-f", img, check=True)                     # the copies go with the image
    mapped = os.path.join(mr.store, "layers-mapped")
    assert all(not os.listdir(os.path.join(mapped, m)) for m in os.listdir(mapped))


def test_twenty_containers_from_two_shells_at_once(mr, img):
    script = " ".join(f"{' '.join(mr.argv('run', '-d', '--name', f'{{}}{i}', img, 'sleep', '60'))}"
                      " >/dev/null;" for i in range(10))
    shells = [subprocess.Popen(["sh", "-c", script.replace("{}", prefix)], env=mr.env(),
                               stderr=subprocess.PIPE, text=True) for prefix in ("a", "b")]
    for s in shells:
        _, err = s.communicate(timeout=300)
        assert s.returncode == 0, err
    rows = json.loads(mr("ps", "--format", "json", check=True).stdout)
    names = sorted(r["Names"][0] for r in rows)
    assert names == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)])
    assert all(r["State"] == "running" for r in rows)
    ids = [r["Id"] for r in rows]
    r = mr("rm", "-f", *ids, timeout=300)
    assert r.returncode == 0, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


def test_named_volumes_and_mounts(mr, img):
    r = mr("run", "--rm", "-v", "conf:/etc", img, "sh", "-c",
           "ls -n /etc/passwd | cut -c1-10; echo changed > /etc/motd")
    assert r.returncode == 0 and r.stdout.strip() == "-rw-r--r--", r.stderr   # copied up
    r = mr("run", "--rm", "-v", "conf:/etc:ro", img, "sh", "-c",
           "cat /etc/motd; touch /etc/x 2>&1 | grep -c Read-only")
    assert r.stdout.split() == ["changed", "1"], r.stderr
    [v] = json.loads(mr("volume", "ls", "--format", "json", check=True).stdout)
    assert v["Name"] == "conf"
    mr("create", "--name", "holder", "-v", "conf:/data", img, "true", check=True)
    r = mr("volume", "rm", "conf")
    assert r.returncode == 2 and "used by container(s) holder" in r.stderr     # podman's
    mr("rm", "holder", check=True)
    r = mr("run", "--rm", "--mount", "type=tmpfs,target=/t", "--mount",
           "type=volume,source=bins,target=/bin,ro", img, "sh", "-c",
           "grep ' /t ' /proc/self/mounts | cut -d' ' -f3; ls /bin | wc -l")
    assert r.stdout.split()[0] == "tmpfs" and int(r.stdout.split()[1]) > 100, r.stderr
    assert sorted(mr("volume", "prune", check=True).stdout.split()) == ["bins", "conf"]
    assert mr("volume", "ls", "-q", check=True).stdout == ""


def test_ps_filters_logs_since_and_port(mr, img):
    mr("run", "--name", "lab", "--label", "tier=web", img, "echo", "hello", check=True)
    mr("run", "--name", "other", img, "true", check=True)
    rows = json.loads(mr("ps", "-a", "--filter", "label=tier=web", "--format", "json",
                         check=True).stdout)
    assert [r["Names"] for r in rows] == [["lab"]]
    assert mr("ps", "-a", "-q", "--filter", "name=oth", check=True).stdout.strip() != ""
    assert mr("logs", "--since", "1h", "lab", check=True).stdout == "hello\n"
    assert mr("logs", "--since", "2099-01-01T00:00:00Z", "lab", check=True).stdout == ""
    assert mr("port", "lab", check=True).stdout == ""
    r = mr("ps", "--filter", "color=red")
    assert r.returncode == 125 and "--filter" in r.stderr
    mr("rm", "lab", "other", check=True)


def test_cp_both_ways_without_escaping(mr, img):
    mr("run", "-d", "--name", "files", img, "sh", "-c",
       "ln -s ../../../../../../root /tmp/up; mkdir -p /srv/d; echo in > /srv/d/f; sleep 100",
       check=True)
    time.sleep(0.3)
    out = os.path.join(mr.rt.scratch, "out")
    os.mkdir(out)
    mr.rt.chown(out)
    mr("cp", "files:/etc/passwd", out + "/", check=True)
    assert open(os.path.join(out, "passwd")).read().startswith("root:x:0:0")
    mr("cp", "files:/srv/d", out, check=True)
    assert open(os.path.join(out, "d", "f")).read() == "in\n"
    # a link climbing out resolves inside the container, never to the host's /root
    secret = "/root/.minirun-cp-test"
    with open(secret, "w") as f:
        f.write("host secret")
    try:
        r = mr("cp", f"files:/tmp/up/{os.path.basename(secret)}", out)
        assert r.returncode == 125 and "does not exist in the container" in r.stderr
    finally:
        os.unlink(secret)
    src = os.path.join(mr.rt.scratch, "hello.txt")
    with open(src, "w") as f:
        f.write("hello\n")
    mr.rt.chown(src)
    mr("cp", src, "files:/tmp/", check=True)
    assert mr("exec", "files", "cat", "/tmp/hello.txt", check=True).stdout == "hello\n"
    r = mr("cp", src, "/tmp/x")
    assert r.returncode == 125 and "exactly one side" in r.stderr
    mr("rm", "-f", "files", check=True)


def test_cp_with_containers_that_do_not_run(mr, img):
    mr("create", "--name", "made", img, "cat", "/tmp/hello.txt", check=True)
    src = os.path.join(mr.rt.scratch, "hello.txt")
    with open(src, "w") as f:
        f.write("hello before start\n")
    mr.rt.chown(src)
    mr("cp", src, "made:/tmp/", check=True)             # created, never started
    r = mr("start", "-a", "made")
    assert (r.returncode, r.stdout) == (0, "hello before start\n"), r.stderr
    mr("run", "--name", "ran", img, "sh", "-c",
       "echo result > /result; ln -s /etc/../../../../root /tmp/up", check=True)
    out = os.path.join(mr.rt.scratch, "out")
    os.mkdir(out)
    mr.rt.chown(out)
    mr("cp", "ran:/result", out, check=True)            # exited
    assert open(os.path.join(out, "result")).read() == "result\n"
    r = mr("cp", "ran:/tmp/up/.bashrc", out)
    assert r.returncode == 125 and "does not exist in the container" in r.stderr
    r = mr("cp", "ran:/no/such", out)
    assert r.returncode == 125 and "does not exist in the container" in r.stderr
    with open("/proc/self/mountinfo") as f:
        assert mr.store not in f.read()                 # the mount left with its namespace
    mr("rm", "made", "ran", check=True)


def test_files_of_other_users_are_removed_with_the_container(mr, img):
    r = mr("run", "--name", "owners", img, "sh", "-c",
           "mkdir -p /srv/a/b && touch /srv/a/b/f && chown -R daemon:daemon /srv/a && "
           "chmod 500 /srv/a/b")
    assert r.returncode == 0, r.stderr
    cid = json.loads(mr("inspect", "owners", check=True).stdout)[0]["Id"]
    mr("rm", "owners", check=True)
    assert not os.path.exists(os.path.join(mr.store, "containers", cid))
    r = mr("run", "--rm", img, "sh", "-c", "touch /x && chown daemon /x")
    assert r.returncode == 0 and mr("ps", "-aq", check=True).stdout == ""


def test_the_image_volumes_and_rm_v(mr, images_dir, registry, busybox_rootfs):
    import sys
    from tests.e2e.conftest import BUILD
    layout = os.path.join(mr.rt.scratch, "withvol")
    subprocess.run([sys.executable, BUILD, layout, "--layer", busybox_rootfs, "--volume",
                    "/etc", "--stop-signal", "SIGUSR1", "--tag", "localhost/withvol:latest"],
                   check=True, capture_output=True)
    mr.rt.chown(layout)
    mr("load", "-i", layout, check=True)
    mr("run", "-d", "--name", "v", "localhost/withvol", "sh", "-c",
       "trap 'exit 5' USR1; echo x > /etc/written; while :; do sleep 0.05; done", check=True)
    [vol] = json.loads(mr("volume", "ls", "--format", "json", check=True).stdout)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(vol["Mountpoint"], "written")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert os.path.exists(os.path.join(vol["Mountpoint"], "passwd"))    # filled from the image
    mr("stop", "v", check=True)                                          # the image's StopSignal
    assert mr("wait", "v", check=True).stdout.strip() == "5"
    mr("rm", "-v", "v", check=True)
    assert mr("volume", "ls", "-q", check=True).stdout == ""


@pytest.mark.parametrize("args,message", [
    (["--network", "no/such"], "use none, host, bridge, slirp4netns"),
    (["--mount", "type=bind,target=/x"], "a bind needs an absolute source="),
    (["--mount", "type=tmpfs,target=relative"], "target= must be an absolute path"),
    (["-v", "data:relative"], "the container path absolute"),
    (["-u", "nosuchuser"], "is not in the image's /etc/passwd"),
    (["--security-opt", "label=disable"], "minirun knows no-new-privileges"),
    (["--userns", "auto"], "use host or keep-id"),
    (["--runtime", "/no/such/runtime"], "no such runtime"),
    (["--detach-keys", "ctrl-"], "is not a key"),
])
def test_bad_run_flags_are_refused_clearly(mr, img, args, message):
    r = mr("run", "--rm", *args, img, "true")
    code = 126 if args[0] == "-u" else 125          # podman's for an unknown user
    assert r.returncode == code and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""
    cdir = os.path.join(mr.store, "containers")
    assert not os.path.isdir(cdir) or not os.listdir(cdir)      # nothing half-made


@pytest.mark.parametrize("verb", ["stop", "rm", "logs", "inspect", "wait", "exec", "top"])
def test_unknown_containers(mr, img, verb):
    args = [verb, "no-such-box"] + (["true"] if verb == "exec" else [])
    r = mr(*args)
    code = 1 if verb == "rm" else 125           # podman's codes
    said = "no container or image" if verb == "inspect" else "no container"
    assert r.returncode == code and f"{said} with name or id `no-such-box`" in r.stderr


def _state(mr, name: str) -> str:
    return json.loads(mr("inspect", name, check=True).stdout)[0]["State"]["Status"]
