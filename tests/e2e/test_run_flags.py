"""podman's run/create flags beyond the basics, seen from inside the
container (or through stop, port and logs), as root and rootless: --ulimit,
--sysctl, --shm-size, --add-host, --group-add, --read-only with its tmpfs,
--stop-signal, --stop-timeout, --expose, --platform, --cidfile, --replace,
--log-driver; and each one's bad input as one error line, nothing made."""
import json
import os
import time

import pytest

NONE = ["--network", "none"]


def test_the_process_and_kernel_settings_inside(mr, img):
    r = mr("run", "--rm", *NONE, "--ulimit", "nofile=100:200", "--sysctl", "kernel.msgmax=9999",
           "--shm-size", "1m", "--add-host", "db:10.1.2.3", "--group-add", "tty",
           "--group-add", "4242", img, "sh", "-c",
           "ulimit -n; ulimit -Hn; cat /proc/sys/kernel/msgmax; "
           "df -k /dev/shm | tail -1 | awk '{print $2}'; grep db /etc/hosts; id -G")
    assert r.returncode == 0, r.stderr
    soft, hard, msgmax, shm, hosts, groups = r.stdout.splitlines()
    assert (soft, hard, msgmax, shm) == ("100", "200", "9999", "1024"), r.stdout
    assert hosts.split() == ["10.1.2.3", "db"], r.stdout
    assert {"5", "4242"} <= set(groups.split()), r.stdout


def test_read_only_keeps_tmpfs_where_programs_write(mr, img):
    r = mr("run", "--rm", *NONE, "--read-only", img, "sh", "-c",
           "touch /tmp/a /var/tmp/b /run/c && echo written; touch /etc/x")
    assert r.stdout == "written\n" and "Read-only file system" in r.stderr, r
    r = mr("run", "--rm", *NONE, "--read-only", "--read-only-tmpfs=false", img,
           "touch", "/tmp/a")
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r


def test_stop_signal_and_timeout(mr, img):
    mr("run", "-d", "--name", "sig", *NONE, "--stop-signal", "INT", img, "sh", "-c",
       "trap 'echo got INT; exit 3' INT; echo up; while true; do sleep 0.1; done", check=True)
    mr("run", "-d", "--name", "deaf", *NONE, "--stop-timeout", "1", img, "sh", "-c",
       "trap '' TERM; echo up; while true; do sleep 0.1; done", check=True)
    for name in ("sig", "deaf"):
        _wait_log(mr, name, "up")
    mr("stop", "sig", check=True)
    started = time.monotonic()
    mr("stop", "deaf", check=True)
    took = time.monotonic() - started          # its own 1 s, not stop's 10
    [sig] = json.loads(mr("inspect", "sig", check=True).stdout)
    [deaf] = json.loads(mr("inspect", "deaf", check=True).stdout)
    assert sig["State"]["ExitCode"] == 3 and sig["Config"]["StopSignal"] == 2, sig["State"]
    assert "got INT" in mr("logs", "sig").stdout
    assert deaf["State"]["ExitCode"] == 137 and deaf["Config"]["StopTimeout"] == 1
    assert took < 8, took


def test_expose_publishes_with_p(mr, img):
    mr("run", "-d", "--name", "exposed", "--expose", "7777", "-P", img, "sleep", "60",
       check=True)
    r = mr("port", "exposed", check=True)
    assert r.stdout.startswith("7777/tcp -> "), r.stdout


def test_cidfile_and_replace(mr, img):
    cidfile = os.path.join(mr.rt.scratch, "cid")
    cid = mr("create", "--cidfile", cidfile, "--name", "one", img, "true",
             check=True).stdout.strip()
    with open(cidfile) as f:
        assert f.read() == cid
    r = mr("create", "--cidfile", cidfile, "--name", "two", img, "true")
    assert r.returncode == 125 and "the file exists" in r.stderr, r
    listed = json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
    assert [c["Id"] for c in listed] == [cid], listed          # no "two" was made
    r = mr("create", "--name", "one", img, "true")
    assert r.returncode == 125 and "in use" in r.stderr
    said = mr("create", "--replace", "--name", "one", img, "true", check=True).stdout.split()
    assert said[0] == "one", said              # as podman: the replaced one's name, then
    new = said[1]                              # the new id
    ids = [c["Id"] for c in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)]
    assert new != cid and ids == [new], ids


def test_log_drivers(mr, img):
    r = mr("run", "--rm", *NONE, "--log-driver", "passthrough", img, "sh", "-c",
           "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n"), r
    mr("run", "--name", "quiet", *NONE, "--log-driver", "none", img, "echo", "shown",
       check=True)
    r = mr("logs", "quiet")
    assert r.returncode == 125 and "`none` log driver" in r.stderr, r
    r = mr("run", "-d", "--log-driver", "passthrough", img, "true")
    assert r.returncode == 125 and "foreground" in r.stderr, r


def test_platform(mr, img):
    import platform
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert mr("run", "--rm", *NONE, "--platform", f"linux/{arch}", img, "true").returncode == 0
    other = "linux/s390x" if arch != "s390x" else "linux/amd64"
    r = mr("run", "--rm", *NONE, "--platform", other, img, "true")
    assert r.returncode == 125 and "only this host's platform" in r.stderr, r


@pytest.mark.parametrize("flag, says", [
    (["--ulimit", "nofile=x"], "--ulimit nofile=x: TYPE=SOFT[:HARD]"),
    (["--ulimit", "nofile=10:5"], "soft limit is above the hard one"),
    (["--sysctl", "vm.swappiness=1"], "not a namespaced kernel parameter"),
    (["--add-host", "nohost"], "--add-host nohost: HOST:IP"),
    (["--stop-signal", "SIGFOO"], "not a signal"),
    (["--stop-timeout", "-3"], "a whole number of seconds"),
    (["--expose", "99999"], "--expose 99999: PORT"),
    (["--shm-size", "lots"], "--shm-size lots: not a size"),
    (["--group-add", "nosuchgroup"], "no such group in the image's /etc/group"),
    (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "the host's network"),
])
def test_bad_values_are_one_line_and_make_nothing(mr, img, flag, says):
    r = mr("run", "--rm", "--name", "bad", *flag, img, "true")
    assert r.returncode == 125 and says in r.stderr, r
    assert r.stderr.count("\n") == 1, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


def _wait_log(mr, name: str, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in mr("logs", name).stdout:
        assert time.monotonic() < deadline, f"{name} never said {text!r}"
        time.sleep(0.05)


def test_podmans_exit_codes_for_a_user_and_a_stopped_container(mr, img):
    """An unknown user: 126 (podman's); exec into a stopped container: 255."""
    r = mr("run", "--rm", *NONE, "-u", "nosuchuser", img, "true")
    assert r.returncode == 126 and "nosuchuser" in r.stderr, r
    mr("run", "--name", "ended", *NONE, img, "true", check=True)
    r = mr("exec", "ended", "true")
    assert r.returncode == 255 and "not running" in r.stderr, r


def test_privileged_and_tmpfs_mounts(mr, img):
    """--privileged gives the host's device nodes (a plain user: those it
    may open, bound in) and a writable /sys; --mount type=tmpfs honours
    tmpfs-size and tmpfs-mode; -v /path is an anonymous volume."""
    plain = mr("run", "--rm", *NONE, img, "sh", "-c",
               "ls /dev | wc -l; grep ' /sys ' /proc/mounts", check=True).stdout.split("\n")
    priv = mr("run", "--rm", *NONE, "--privileged", img, "sh", "-c",
              "ls /dev | wc -l; grep ' /sys ' /proc/mounts", check=True).stdout.split("\n")
    assert int(priv[0]) > int(plain[0]), (plain, priv)
    assert priv[1].split()[3].startswith("rw") and plain[1].split()[3].startswith("ro")
    r = mr("run", "--rm", *NONE, "--mount", "type=tmpfs,target=/scratch,tmpfs-size=2m,"
           "tmpfs-mode=700", img, "sh", "-c",
           "df -k /scratch | tail -1 | awk '{print $2}'; stat -c %a /scratch", check=True)
    assert r.stdout.split() == ["2048", "700"], r.stdout
    r = mr("run", "--rm", *NONE, "-v", "/anon", img, "sh", "-c", "touch /anon/x && echo ok")
    assert r.stdout == "ok\n", r
    r = mr("run", "--rm", *NONE, "--mount", "type=tmpfs,target=/s,tmpfs-size=lots", img, "true")
    assert r.returncode == 125 and "not a size" in r.stderr, r


def test_a_uid_the_image_does_not_name(mr, img):
    """-u UID[:GID] that the image's passwd and group lack: entries are
    added for them, as podman adds them, so that id finds names."""
    r = mr("run", "--rm", *NONE, "-u", "1234:5678", img, "id", check=True)
    assert r.stdout.split() == ["uid=1234(1234)", "gid=5678(5678)", "groups=5678(5678)"], r
    r = mr("run", "--rm", *NONE, "-u", "daemon", img, "id", "-un", check=True)
    assert r.stdout == "daemon\n"
