"""Resource limits, enforced for real on this host's cgroups (v1 memory, cpu
and pids on this hybrid machine), root; rootless runs without them and
says so once, as podman does where no cgroup is delegated."""
import json

import pytest


# 100 MB through a shell variable: well past 32 MiB
ALLOCATE = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"


def _inspect(mr, name: str) -> dict:
    return json.loads(mr("inspect", name, check=True).stdout)[0]


def test_past_the_memory_limit_is_oom_killed(mr, img):
    r = mr("run", "--name", "big", "--memory", "32m", "--memory-swap", "32m", img,
           "sh", "-c", ALLOCATE)
    if mr.rt.rootless:
        assert r.returncode == 0 and "survived" in r.stdout
        said = "Resource limits are not supported and ignored on cgroups V1 rootless systems"
        assert r.stderr.count(said) == 1 and "minirun: warning" not in r.stderr, r.stderr
        assert _inspect(mr, "big")["State"]["OOMKilled"] is False
        return
    assert r.returncode == 137, r.stderr
    state = _inspect(mr, "big")["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    r = mr("run", "--name", "small", "--memory", "256m", img, "sh", "-c", ALLOCATE)
    assert (r.returncode, r.stdout) == (0, "survived\n"), r.stderr
    usage = _inspect(mr, "small")
    assert usage["State"]["OOMKilled"] is False
    assert usage["Usage"]["MemoryPeakBytes"] > 100_000_000      # it did hold the 100 MB


def test_the_pids_limit_stops_a_fork_inside(mr, img):
    r = mr("run", "--rm", "--pids-limit", "20", img, "sh", "-c",
           "for i in $(seq 30); do sleep 5 & done; echo all started")
    if mr.rt.rootless:
        assert (r.returncode, r.stdout) == (0, "all started\n"), r.stderr
        return
    # the shell in the container is refused its fork and says so; minirun is fine
    assert r.returncode == 2 and "can't fork: Resource temporarily unavailable" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert mr("ps", "-aq", check=True).stdout == ""


def test_half_a_cpu_is_half_a_cpu(mr, img):
    if mr.rt.rootless:
        pytest.skip("rootless: no cgroup is delegated on this host (cgroup v1), so no CPU "
                    "limit to measure; the memory test checks the warning")
    r = mr("run", "--name", "spin", "--cpus", "0.5", img, "sh", "-c",
           "timeout 3 sh -c 'while :; do :; done'; true")
    assert r.returncode == 0, r.stderr
    used = _inspect(mr, "spin")["Usage"]["CPUTimeNs"] / 1e9
    assert 1.1 < used < 1.9, f"{used:.2f} s of CPU in 3 s at --cpus 0.5"


@pytest.mark.parametrize("args,message", [
    (["--memory", "lots"], "not a size"),
    (["--memory-swap", "64m"], "--memory-swap needs --memory"),
    (["--memory", "64m", "--memory-swap", "32m"], "at least --memory"),
    (["--cpus", "0"], "must be more than 0"),
    (["--pids-limit", "many"], "not a number"),
    (["--blkio-weight", "5"], "must be 10 to 1000"),
    (["--device-write-bps", "/etc/passwd:1mb"], "not a block device"),
    (["--cpuset-cpus", "9999"], "the kernel refused cpuset.cpus"),
])
def test_bad_limits_are_refused_clearly(mr, img, args, message):
    r = mr("run", "--rm", *args, img, "true")
    if mr.rt.rootless and message.startswith("the kernel"):
        assert r.returncode == 0 and "Resource limits are not supported" in r.stderr
        return
    assert r.returncode == 125 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


def test_update_raises_a_limit_on_a_running_container(mr, img):
    mr("run", "-d", "--name", "grow", "--memory", "32m", "--memory-swap", "32m", img,
       "sleep", "60", check=True)
    if mr.rt.rootless:
        r = mr("update", "--memory", "256m", "grow")
        assert r.returncode == 125 and "no cgroup of its own" in r.stderr, r.stderr
        mr("rm", "-f", "grow", check=True)
        return
    r = mr("exec", "grow", "sh", "-c", ALLOCATE)
    assert r.returncode == 137, r.stderr                 # past 32m: killed
    r = mr("update", "--memory", "256m", "--memory-swap", "256m", "grow")
    assert (r.returncode, r.stdout) == (0, "grow\n"), r.stderr
    r = mr("exec", "grow", "sh", "-c", ALLOCATE)
    assert (r.returncode, r.stdout) == (0, "survived\n"), r.stderr
    host = _inspect(mr, "grow")["HostConfig"]
    assert host["Memory"] == 256 << 20 and host["MemorySwap"] == 256 << 20, host
    r = mr("update", "--memory", "lots", "grow")
    assert r.returncode == 125 and "not a size" in r.stderr
    mr("rm", "-f", "grow", check=True)
    r = mr("update", "--memory", "64m", "grow")
    assert r.returncode == 125 and "no container" in r.stderr


def test_stats_from_the_cgroups(mr, img):
    mr("run", "-d", "--name", "busy", "--memory", "64m", img, "sh", "-c",
       "x=$(head -c 20000000 /dev/zero | tr '\\0' a); sleep 100 & while :; do :; done",
       check=True)
    mr("run", "-d", "--name", "idle", img, "sleep", "100", check=True)
    import time
    time.sleep(1.5)
    rows = {r["name"]: r for r in json.loads(
        mr("stats", "--no-stream", "--format", "json", check=True).stdout)}
    assert set(rows) == {"busy", "idle"}
    if mr.rt.rootless:
        assert rows["busy"]["cgroup"] is False              # no figures of someone else's
        row = mr("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}",
                 "busy", check=True).stdout
        assert row == "busy -- --\n", row                # podman's mark for none
    else:
        busy, idle = rows["busy"], rows["idle"]
        assert busy["mem_limit_bytes"] == 64 << 20 and idle["mem_limit_bytes"] is None
        assert busy["mem_bytes"] > 20_000_000              # the 20 MB it holds
        assert busy["pids_current"] == 2 and idle["pids_current"] == 1
        assert float(busy["cpu_percent"].rstrip("%")) > 50   # a spinning loop
        assert float(idle["cpu_percent"].rstrip("%")) < 20
        table = mr("stats", "--no-stream", "idle", check=True).stdout.splitlines()
        assert table[0].split()[:3] == ["ID", "NAME", "CPU"] and "idle" in table[1]
        assert "NET IO" in table[0] and "AVG CPU %" in table[0], table[0]
        assert mr("stats", "--no-stream", "--format", "{{.PIDs}}", "busy",
                  check=True).stdout == "2\n"
    mr("rm", "-f", "busy", "idle", check=True)
    r = mr("stats", "--no-stream", "busy")
    assert r.returncode == 125 and "no container" in r.stderr


@pytest.fixture
def loop_fs(mr):
    """A small ext4 on a loop device, mounted on the host (root only)."""
    import os
    import subprocess
    if mr.rt.rootless:
        yield None
        return
    from tests.conftest import REPO
    work = os.path.join(REPO, ".build", f"loop-{os.getpid()}")
    os.makedirs(work, exist_ok=True)
    backing, mnt = os.path.join(work, "disk.img"), os.path.join(work, "mnt")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["truncate", "-s", "64M", backing], check=True)
    dev = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True)
    if dev.returncode != 0:
        pytest.skip(f"no loop device to throttle: {dev.stderr.strip()}")
    dev = dev.stdout.strip()
    try:
        subprocess.run(["mkfs.ext4", "-q", dev], check=True)
        subprocess.run(["mount", dev, mnt], check=True)
        try:
            yield dev, mnt
        finally:
            subprocess.run(["umount", mnt])
    finally:
        subprocess.run(["losetup", "-d", dev])
        import shutil
        shutil.rmtree(work, ignore_errors=True)


def test_device_write_bps_slows_writes(mr, img, loop_fs):
    import time
    write = "dd if=/dev/zero of=/data/f bs=64k count=48 oflag=direct 2>/dev/null; echo written"
    if loop_fs is None:         # rootless: no cgroup here, so no throttle, and one warning
        r = mr("run", "--rm", "--device-write-bps", "/dev/null:1mb", img, "true")
        assert r.returncode == 125 and "not a block device" in r.stderr
        return
    dev, mnt = loop_fs
    started = time.monotonic()
    r = mr("run", "--rm", "-v", f"{mnt}:/data", img, "sh", "-c", write)
    free = time.monotonic() - started
    assert r.stdout == "written\n", r.stderr
    started = time.monotonic()
    r = mr("run", "--rm", "-v", f"{mnt}:/data", "--device-write-bps", f"{dev}:1mb", img,
           "sh", "-c", write)
    throttled = time.monotonic() - started
    assert r.stdout == "written\n", r.stderr
    r = mr("run", "--name", "writer", "-v", f"{mnt}:/data", img, "sh", "-c", write)
    assert _inspect(mr, "writer")["Usage"]["BlockWriteBytes"] >= 3 << 20   # its cost, after
    print(f"free {free:.2f} s, throttled {throttled:.2f} s")
    # 3 MiB at 1 MiB/s: about 3 s (the first second's burst allowance aside)
    assert free < 1.5 and 2.1 < throttled < 3.9, f"free {free:.2f} s, throttled {throttled:.2f} s"


def test_cgroups_go_after_a_killed_monitor(mr, img):
    import os
    import signal
    from tests.conftest import leftovers
    mr("run", "-d", "--name", "limited", "--memory", "64m", "--pids-limit", "50", img,
       "sleep", "1000", check=True)
    info = _inspect(mr, "limited")
    pid = info["State"]["Pid"]
    monitor = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    os.kill(monitor, signal.SIGKILL)          # the container runs on, unwatched
    r = mr("rm", "-f", "limited")
    assert r.returncode == 0, r.stderr
    try:    # gone, or a zombie that this host's pid 1 has yet to reap
        assert open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        pass
    assert [x for x in leftovers(mr.rt, info["Id"]) if "cgroup" in x] == []


def test_no_device_beyond_the_standard_ones(mr, img):
    """The devices cgroup (v1 here): a node may be made with CAP_MKNOD, but
    not used, unless the container is --privileged."""
    script = "mknod /tmp/loop b 7 0 && echo made; head -c 1 /tmp/loop; echo read $?"
    r = mr("run", "--rm", "--cap-add", "MKNOD", img, "sh", "-c", script)
    if mr.rt.rootless:          # a user namespace may not make device nodes at all
        assert "made" not in r.stdout and "read 1" in r.stdout
        return
    assert r.stdout.split("\n")[:2] == ["made", "read 1"], r.stderr
    assert "Operation not permitted" in r.stderr
    r = mr("run", "--rm", "--privileged", img, "sh", "-c", script)
    assert r.stdout.split("\n")[:2] == ["made", "read 0"], r.stderr
    r = mr("run", "--rm", img, "sh", "-c", "echo x > /dev/null && head -c 1 /dev/zero | wc -c")
    assert r.stdout == "1\n", r.stderr                  # the standard ones work
