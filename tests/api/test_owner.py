"""Nothing is left behind when the API's caller dies (issue 17), as root and
rootless: a Python process starts a container through the API (on its
mode's default network: the bridge as root, pasta or slirp4netns rootless)
and creates a second one, then is killed with SIGKILL.  Its monitor ends
and removes the first; the next command (ps -a) sweeps the second.  With
the monitor killed too, the next command sweeps both.  Leftovers are looked
for only among what the test made: its ids, its paths, its processes."""
import json
import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.api.conftest import Api
from tests.conftest import leftovers, processes
from tests.e2e.conftest import BUILD

OWNER = """
    import os, signal
    running = minirun.Container(IMAGE, ["sleep", "300"], root=STORE).start()
    created = minirun.Container(IMAGE, ["sleep", "300"], root=STORE).create()
    records = {r["id"]: r for r in minirun.containers(root=STORE)}
    print(json.dumps({"owner": os.getpid(), "running": records[running.id],
                      "created": records[created.id]}), flush=True)
    signal.pause()
"""


@pytest.fixture
def volumed(api, busybox_rootfs) -> Api:
    """The API with busybox declaring VOLUME /data: each container gets an
    anonymous volume, which `rm -v` (and the owner's death) removes."""
    layout = os.path.join(api.mr.rt.scratch, "withvol")
    subprocess.run([sys.executable, BUILD, layout, "--layer", busybox_rootfs, "--volume",
                    "/data", "--tag", "localhost/withvol:latest"], check=True,
                   capture_output=True)
    api.mr.rt.chown(layout)
    api.mr("load", "-i", layout, check=True)
    return Api(api.mr, "localhost/withvol:latest")


def _start_owner(api: Api) -> tuple[subprocess.Popen, dict]:
    """The owner, running: its pid and the records of its two containers."""
    prelude = f"import json, minirun\nSTORE = {api.mr.store!r}\nIMAGE = {api.image!r}\n"
    argv = api.mr.rt.prefix() + [sys.executable, "-c", prelude + textwrap.dedent(OWNER)]
    if api.mr.rt.prefix():
        argv = argv[:-3] + [f"CONTAINERS_REGISTRIES_CONF={api.mr.conf}"] + argv[-3:]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=api.mr.env(), cwd="/tmp")
    line = p.stdout.readline()
    if not line:
        p.wait(10)
        raise AssertionError(f"the owner failed: {p.stderr.read()}")
    return p, json.loads(line)


def _pidfds(*pids: int) -> list[int]:
    """pidfds of the processes still alive (opened before they are killed,
    so that a pid given to another process later cannot be mistaken)."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            pass
    return fds


def _wait_exited(fds: list[int], timeout: float = 20.0) -> None:
    """Until every process behind ``fds`` has exited (a pidfd turns
    readable then): the event, not a guess of how long it takes."""
    import time
    deadline = time.monotonic() + timeout
    waiting = list(fds)
    while waiting:
        left = deadline - time.monotonic()
        assert left > 0, f"{len(waiting)} processes still alive after {timeout} s"
        ready, _, _ = select.select(waiting, [], [], left)
        waiting = [fd for fd in waiting if fd not in ready]
    for fd in fds:
        os.close(fd)


def _keeper(monitor: int) -> int:
    """The monitor's parent, the keeper (minirun:[EXIT])."""
    with open(f"/proc/{monitor}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[2])


def _left(api: Api, rec: dict) -> list[str]:
    """What is left of container ``rec``: processes, mounts, cgroups, its
    network namespace, runtime state, record, directory, anonymous volumes."""
    rt, cid = api.mr.rt, rec["id"]
    found = [x for x in leftovers(rt, cid) if not x.startswith("state directory")]
    for pid in filter(None, (rec["pid"], int((rec["monitor"] or "0").split(":")[0]))):
        if os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
            found.append(f"process {pid}")
    directory = os.path.join(api.mr.store, "containers", cid)
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {ln.split()[4]}" for ln in f if directory in ln]
    runtime = os.path.join(f"{rt.scratch}/minirun" if rt.rootless else "/run/minirun",
                           "engine", cid)
    for path in (directory, runtime, f"/run/netns/minirun-{cid}",
                 *(os.path.join(api.mr.store, "volumes", v)
                   for v in rec["options"]["anonymous_volumes"].values())):
        if os.path.exists(path):
            found.append(path)
    listed = json.loads(api.mr("ps", "-a", "--format", "json", check=True).stdout)
    found += [f"record {c['Id']}" for c in listed if c["Id"] == cid]
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def test_the_owners_death_ends_and_removes_its_containers(volumed):
    api = volumed
    p, out = _start_owner(api)
    running, created = out["running"], out["created"]
    assert running["state"] == "running" and created["state"] == "created"
    assert running["options"]["anonymous_volumes"], running["options"]
    monitor = int(running["monitor"].split(":")[0])
    fds = _pidfds(monitor, _keeper(monitor), running["pid"])
    os.kill(out["owner"], signal.SIGKILL)
    _wait_exited(fds)           # the monitor ended and removed the container
    p.wait(10)
    api.mr("ps", "-a", check=True)      # the created one had no monitor: this sweeps it
    for rec in (running, created):
        assert _left(api, rec) == [], rec["id"]
    assert processes(api.mr.rt.scratch) == []


def test_with_the_monitor_killed_too_the_next_command_sweeps(volumed):
    api = volumed
    p, out = _start_owner(api)
    running, created = out["running"], out["created"]
    monitor = int(running["monitor"].split(":")[0])
    keeper = _keeper(monitor)
    fds = _pidfds(keeper, running["pid"])
    os.kill(monitor, signal.SIGKILL)
    os.kill(out["owner"], signal.SIGKILL)
    p.wait(10)
    assert _state(running["pid"]) not in ("X", "Z"), "the container must outlive its monitor"
    api.mr("ps", "-a", check=True)      # sweeps: kills it; the keeper reaps it and ends
    _wait_exited(fds)
    for rec in (running, created):
        assert _left(api, rec) == [], rec["id"]
    assert processes(api.mr.rt.scratch) == []


def test_a_container_whose_owner_died_does_not_start(volumed):
    """`minirun start` of a created container whose owner has died: one
    line saying why (podman's 125), and the container is removed (its
    monitor removes it before the starter hears, so no sweep is needed)."""
    api = volumed
    p, out = _start_owner(api)
    created = out["created"]
    os.kill(out["owner"], signal.SIGKILL)
    p.wait(10)
    r = api.mr("start", created["id"])
    assert r.returncode == 125, r
    assert r.stderr.strip().splitlines() == [
        f"Error: the owner of container {created['name']} (pid {out['owner']}) has exited: "
        "the container is removed with it"], r.stderr
    assert api.mr("inspect", created["id"]).returncode != 0     # before any sweep
    assert _left(api, created) == []


PYTEST_JOB = '''
import pytest

@pytest.mark.minirun(image=IMAGE)
def test_job(minirun_job):
    minirun_job(["sh", "-c", "touch /dev/shm/started; sleep 300"])
'''


def test_a_pytest_run_killed_mid_job_leaves_nothing(volumed):
    """The issue's own case: a pytest run using the plugin's pool, killed
    with SIGKILL while its job runs; after the next commands, nothing of its
    containers (the job's and the pool's spare ones) is left."""
    import time
    api = volumed
    tmp = os.path.join(api.mr.rt.scratch, "killed-run")
    os.makedirs(tmp)
    with open(os.path.join(tmp, "test_user.py"), "w") as f:
        f.write(f"IMAGE = {api.image!r}\n" + PYTEST_JOB)
    api.mr.rt.chown(tmp)
    argv = api.mr.rt.prefix() + [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "--minirun-root", api.mr.store, "test_user.py"]
    run = subprocess.Popen(argv, cwd=tmp, env=api.mr.env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    records, deadline = {}, time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = json.loads(api.mr("ps", "-a", "--format", "json", check=True).stdout)
        records.update({c["Id"]: c for c in listed})
        if any(c["State"] == "running" and os.path.exists(
                f"/proc/{c['Pid']}/root/dev/shm/started") for c in listed):
            break
        time.sleep(0.05)
    else:
        run.kill()
        pytest.fail("the job never started")
    # the pytest run, as the user would kill it (its runuser wrapper too, as root)
    pids = subprocess.run(["pgrep", "-f", "--", f"--minirun-root {api.mr.store} test_user.py"],
                          capture_output=True, text=True).stdout.split()
    assert pids, "the pytest run is not found"
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    run.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = {c["Id"] for c in json.loads(
            api.mr("ps", "-a", "--format", "json", check=True).stdout)}
        if not left & set(records):
            break
        time.sleep(0.1)
    recs = [dict(id=cid, pid=c["Pid"], monitor=None,
                 options={"anonymous_volumes": {}}) for cid, c in records.items()]
    assert [x for rec in recs for x in _left(api, rec)] == []
    assert api.mr("volume", "ls", "-q", check=True).stdout.split() == []   # the store is ours


RUNNER = """
    import os, signal, threading, time
    threading.Thread(target=minirun.run, args=(IMAGE, ["sleep", "300"]),
                     kwargs={"root": STORE}, daemon=True).start()
    while not [r for r in minirun.containers(root=STORE) if r["state"] == "running"]:
        time.sleep(0.02)
    rec = [r for r in minirun.containers(root=STORE) if r["state"] == "running"][0]
    print(json.dumps({"owner": os.getpid(), "running": rec}), flush=True)
    signal.pause()
"""


def test_minirun_run_killed_mid_job_leaves_nothing(volumed, monkeypatch):
    """minirun.run is its container's monitor, in the caller's process: its
    pid 1 is tied to the caller (a parent-death signal), so a SIGKILL of the
    caller ends the container at once, before any command; the next command
    sweeps the rest (its mounts, cgroup, network, volume, record)."""
    api = volumed
    monkeypatch.setattr(sys.modules[__name__], "OWNER", RUNNER)
    p, out = _start_owner(api)
    running = out["running"]
    assert running["monitor"].split(":")[0] == str(out["owner"]), running
    fds = _pidfds(running["pid"])
    assert fds, "the container ended before its owner was killed"
    os.kill(out["owner"], signal.SIGKILL)
    p.wait(10)
    _wait_exited(fds)           # no minirun command has run since: the tie ended it
    api.mr("ps", "-a", check=True)      # sweeps what is left
    assert _left(api, running) == [], running["id"]
    assert processes(api.mr.rt.scratch) == []
