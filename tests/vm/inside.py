"""The limit tests, run inside the cgroup v2 VM (tests/vm/build.py's /init).

Each check prints one line, ``RESULT NAME PASS|FAIL DETAIL``, which the
host's test (tests/vm/test_cgroup_v2.py) reads from the serial console.
Real enforcement, as on the host's v1 trees: an allocation past --memory is
OOM-killed, half a CPU is half a CPU, the 21st process is refused, and
`update` raises a limit on a running container.  Then the course's level 6
(course/06-cgroups) runs its own checks on its solution with pytest.
"""
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ALLOCATE = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"


def _offline(args: tuple) -> list[str]:
    """The VM has no bridge, nftables or tap helpers: its containers run
    without a network (these checks are about cgroups)."""
    return [args[0], "--network", "none", *args[1:]] if args[0] in ("run", "create") \
        else list(args)


def mr(*args: str, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(["minirun", *_offline(args)], capture_output=True, text=True,
                          input=stdin, timeout=300)


def result(name: str, ok: bool, detail: str = "") -> None:
    detail = " ".join(detail.split())[:300]
    print(f"RESULT {name} {'PASS' if ok else 'FAIL'} {detail}", flush=True)


def check(name: str, fn) -> None:
    try:
        ok, detail = fn()
    except Exception as e:  # noqa: BLE001 (reported, as a failure)
        ok, detail = False, f"{type(e).__name__}: {e}"
    result(name, ok, detail)


def inspect(name: str) -> dict:
    return json.loads(mr("inspect", name).stdout)[0]


def controllers():
    found = open("/sys/fs/cgroup/cgroup.controllers").read().split()
    return {"memory", "cpu", "pids", "io"} <= set(found), " ".join(found)


def oom():
    r = mr("run", "--name", "big", "--memory", "32m", "--memory-swap", "32m", "busybox",
           "sh", "-c", ALLOCATE)
    state = inspect("big")["State"]
    return (r.returncode == 137 and state["OOMKilled"] is True,
            f"exit {r.returncode}, OOMKilled {state['OOMKilled']} {r.stderr}")


def below_the_limit():
    r = mr("run", "--name", "small", "--memory", "256m", "busybox", "sh", "-c", ALLOCATE)
    peak = inspect("small")["Usage"]["MemoryPeakBytes"]
    return (r.returncode == 0 and r.stdout == "survived\n",
            f"exit {r.returncode} {r.stdout} peak {peak} {r.stderr}")


def half_a_cpu():
    r = mr("run", "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c",
           "timeout 4 sh -c 'while :; do :; done'; true")
    used = (inspect("spin")["Usage"]["CPUTimeNs"] or 0) / 1e9
    return r.returncode == 0 and 1.4 < used < 2.6, f"{used:.2f} s of CPU in 4 s {r.stderr}"


def pids():
    r = mr("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c",
           "for i in $(seq 30); do sleep 5 & done; echo all started")
    return (r.returncode == 2 and "can't fork" in r.stderr,
            f"exit {r.returncode} {r.stdout} {r.stderr}")


def update():
    mr("run", "-d", "--name", "grow", "--memory", "32m", "busybox", "sleep", "300")
    before = mr("exec", "grow", "sh", "-c", ALLOCATE)
    up = mr("update", "--memory", "256m", "grow")
    after = mr("exec", "grow", "sh", "-c", ALLOCATE)
    stats = json.loads(mr("stats", "--no-stream", "--format", "json", "grow").stdout)[0]
    return (before.returncode == 137 and up.returncode == 0 and after.returncode == 0 and
            stats["mem_limit_bytes"] == 256 << 20,
            f"before {before.returncode}, update {up.returncode} {up.stderr}, after "
            f"{after.returncode}, stats limit {stats.get('mem_limit_bytes')}")


def device_write_bps():
    """io.max on a loop device: 3 MiB at 1 MiB/s takes about 3 s."""
    subprocess.run("truncate -s 64M /tmp/disk && losetup /dev/loop0 /tmp/disk && "
                   "mke2fs -q /dev/loop0 && mkdir -p /mnt/disk && mount /dev/loop0 /mnt/disk",
                   shell=True, check=True, capture_output=True)
    write = "dd if=/dev/zero of=/data/f bs=64k count=48 oflag=direct 2>/dev/null; echo written"
    times = []
    for extra in ([], ["--device-write-bps", "/dev/loop0:1mb"]):
        started = time.monotonic()
        r = mr("run", "--rm", "-v", "/mnt/disk:/data", *extra, "busybox", "sh", "-c", write)
        times.append(time.monotonic() - started)
        if r.stdout != "written\n":
            return False, f"{extra}: {r.stdout} {r.stderr}"
    free, throttled = times
    return throttled > 2.1 and throttled - free > 1.5, \
        f"free {free:.2f} s, throttled {throttled:.2f} s"


def devices():
    """No devices controller on v2: the eBPF filter denies what is not allowed."""
    script = "mknod /tmp/node b 7 123 && echo made; head -c 1 /tmp/node; echo read $?"
    confined = mr("run", "--rm", "--cap-add", "MKNOD", "busybox", "sh", "-c", script)
    free = mr("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    return ("made" in confined.stdout and "Operation not permitted" in confined.stderr and
            "made" in free.stdout and "Operation not permitted" not in free.stderr,
            f"confined: {confined.stdout} {confined.stderr}; privileged: {free.stdout} "
            f"{free.stderr}")


def clean():
    r = mr("rm", "-fa")
    left = [d for d in os.listdir("/sys/fs/cgroup/minirun")
            if os.path.isdir(os.path.join("/sys/fs/cgroup/minirun", d))] \
        if os.path.isdir("/sys/fs/cgroup/minirun") else []
    return r.returncode == 0 and not left, f"left: {left} {r.stderr}"


# --- rootless, in a cgroup delegated as systemd delegates user@UID.service ---------

SERVICE = "/sys/fs/cgroup/user.slice/user@1000.service"


def delegate() -> None:
    """What systemd does for a user: controllers enabled down to the user's
    service, which (with its files) belongs to the user; the user's
    processes in a leaf of it (init.scope)."""
    os.makedirs(SERVICE + "/init.scope", exist_ok=True)
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/user.slice"):
        with open(d + "/cgroup.subtree_control", "w") as f:
            f.write("+memory +pids +cpu")
    for d in (SERVICE, SERVICE + "/init.scope"):
        os.chown(d, 1000, 1000)
        for name in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
            os.chown(os.path.join(d, name), 1000, 1000)


def user_mr(*args: str) -> subprocess.CompletedProcess:
    """minirun as the user `tester`, started from the user's init.scope."""
    def become_tester():
        with open(SERVICE + "/init.scope/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ["PYTHONPATH"],
           "HOME": "/home/tester", "XDG_RUNTIME_DIR": "/tmp/xdg-tester",
           "MINIRUN_ROOT": "/home/tester/store"}
    return subprocess.run(["minirun", *_offline(args)], capture_output=True, text=True,
                          timeout=300, env=env, preexec_fn=become_tester, cwd="/home/tester")


def user_inspect(name: str) -> dict:
    return json.loads(user_mr("inspect", name).stdout)[0]


def rootless_oom():
    r = user_mr("run", "--name", "big", "--memory", "32m", "--memory-swap", "32m", "busybox",
                "sh", "-c", ALLOCATE)
    if r.returncode not in (0, 137):
        return False, f"run: exit {r.returncode} {r.stdout} {r.stderr}"
    state = user_inspect("big")["State"]
    where = [d for d in os.listdir(SERVICE + "/minirun")] if os.path.isdir(
        SERVICE + "/minirun") else "no minirun group under the user's service"
    return (r.returncode == 137 and state["OOMKilled"] is True,
            f"exit {r.returncode}, OOMKilled {state['OOMKilled']}, groups {where} {r.stderr}")


def rootless_half_a_cpu():
    r = user_mr("run", "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c",
                "timeout 4 sh -c 'while :; do :; done'; true")
    used = (user_inspect("spin")["Usage"]["CPUTimeNs"] or 0) / 1e9
    return r.returncode == 0 and 1.4 < used < 2.6, f"{used:.2f} s of CPU in 4 s {r.stderr}"


def rootless_pids_and_update():
    r = user_mr("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c",
                "for i in $(seq 30); do sleep 5 & done; echo all started")
    user_mr("run", "-d", "--name", "grow", "--memory", "32m", "busybox", "sleep", "300")
    before = user_mr("exec", "grow", "sh", "-c", ALLOCATE)
    up = user_mr("update", "--memory", "256m", "grow")
    after = user_mr("exec", "grow", "sh", "-c", ALLOCATE)
    gone = user_mr("rm", "-fa")
    left = [d for d in os.listdir(SERVICE + "/minirun")
            if os.path.isdir(os.path.join(SERVICE, "minirun", d))]
    return (r.returncode == 2 and "can't fork" in r.stderr and before.returncode == 137
            and up.returncode == 0 and after.returncode == 0 and gone.returncode == 0
            and not left,
            f"pids exit {r.returncode} {r.stderr[-200:]}; update: before {before.returncode} "
            f"{before.stderr[-200:]}, "
            f"update {up.returncode} {up.stderr}, after {after.returncode}; left {left}")


def course(level: str) -> None:
    """One level of the course (/opt/course/LEVEL) checked on its solution
    with pytest, as `make test` does on the host: one RESULT line per check,
    ``course_NN_NAME``, SKIP for a skipped one (with its reason)."""
    report = f"/tmp/course-{level}.xml"
    # no unittest in the VM's standard library (build.py leaves it out); the
    # course's conftest.py is found from its rootdir
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "no:unittest", "--rootdir", "/opt/course",
                        f"--junitxml={report}", f"/opt/course/{level}"], capture_output=True,
                       text=True, timeout=900, env=dict(os.environ, COURSE_USER="tester"))
    if not os.path.exists(report):
        result(f"course_{level[:2]}", False, r.stdout[-300:] + r.stderr[-300:])
        return
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"course_{level[:2]}_{case.get('name').removeprefix('test_')}"
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if problem is None:
            result(name, True)
        else:
            verdict = "SKIP" if problem.tag == "skipped" else "FAIL"
            detail = " ".join(f"{problem.get('message', '')} {problem.text or ''}".split())
            print(f"RESULT {name} {verdict} {detail[:300]}", flush=True)


def main(image: str) -> None:
    started = time.monotonic()
    check("controllers", controllers)
    r = mr("load", "-q", "-i", image)
    result("load", r.returncode == 0, r.stderr)
    for name, fn in (("oom", oom), ("below_the_limit", below_the_limit),
                     ("half_a_cpu", half_a_cpu), ("pids", pids), ("update", update),
                     ("device_write_bps", device_write_bps), ("devices", devices),
                     ("clean", clean)):
        check(name, fn)
    course("06-cgroups")
    delegate()
    os.makedirs("/tmp/xdg-tester", mode=0o700, exist_ok=True)
    os.chown("/tmp/xdg-tester", 1000, 1000)
    r = user_mr("load", "-q", "-i", image)
    result("rootless_load", r.returncode == 0, r.stderr)
    for name, fn in (("rootless_oom", rootless_oom), ("rootless_half_a_cpu", rootless_half_a_cpu),
                     ("rootless_pids_and_update", rootless_pids_and_update)):
        check(name, fn)
    print(f"VM: tests took {time.monotonic() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
