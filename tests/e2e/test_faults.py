"""minirun killed, raced and starved at chosen moments (issue 14), as root and
rootless: an interrupted `run -d`, a killed monitor, a `run` killed while
the runtime creates, `rm -f` racing a start, a lazy server slow to go, a
full disk under the log.

Each moment is made to happen where it can be: a process is frozen
(SIGSTOP, or the freezer cgroup) at the moment the store or the runtime
shows, the fault is applied, and it is let go.  Where a moment cannot be
caught so, a bounded sweep of delays covers the window."""
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest


# --- helpers -----------------------------------------------------------------------

def _until(what, timeout: float = 20.0, step: float = 0.001):
    """Poll ``what()`` until it is true; its value (or an AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _pids(*words: str) -> list[int]:
    """Live python processes (not runuser or env before it) whose command
    line holds each of ``words`` as an argument."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            argv = _cmdline(int(entry))
            if argv and "python" in os.path.basename(argv[0]) and \
                    all(w in argv for w in words) and _alive(int(entry)):
                out.append(int(entry))
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _stop_all(*words: str) -> list[int]:
    """SIGSTOP every process ``_pids(*words)`` finds, until no new one
    appears (a monitor forks its keeper: the fork may come between)."""
    stopped: list[int] = []
    while new := [p for p in _pids(*words) if p not in stopped]:
        for pid in new:
            os.kill(pid, signal.SIGSTOP)
        stopped += new
    return stopped


def _cont(pid: int) -> None:
    """SIGCONT to a stopped command, and to runuser above it (rootless):
    runuser stops itself when its child stops, as su does for job control."""
    try:
        parent = _ppid(pid)
        os.kill(pid, signal.SIGCONT)
        if _comm(parent) == "runuser":
            os.kill(parent, signal.SIGCONT)
    except (OSError, IndexError):
        pass                        # it had finished (rm came too late)


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def _engine_state(mr) -> str:
    """The runtime's state directory of the engine's containers."""
    base = os.path.join(mr.rt.scratch, "minirun") if mr.rt.rootless else "/run/minirun"
    return os.path.join(base, "engine")


def _inspect(mr, name: str) -> dict:
    [info] = json.loads(mr("inspect", name, check=True).stdout)
    return info


def _leftovers(mr, cid: str) -> list[str]:
    """What a container could leave: its directory, the runtime's state, its
    cgroups (root's), its network namespace, its processes (by cgroup)."""
    from tests.conftest import leftovers
    found = [x for x in leftovers(mr.rt, cid) if x.startswith("cgroup")]
    for path in (os.path.join(mr.store, "containers", cid),
                 os.path.join(_engine_state(mr), cid), f"/run/netns/minirun-{cid}"):
        if os.path.exists(path):
            found.append(path)
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                if cid in f.read() and _alive(int(entry)):
                    found.append(f"process {entry}")
        except (OSError, ValueError):
            pass
    return found


# --- 1. an interrupted `run -d`, a killed monitor ------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_run_detached_leaves_a_watched_container(mr, img, sig):
    """`run -d` killed while its monitor starts the container: the monitor
    (frozen until the command is gone, so that its "ok" finds no reader)
    goes on, in a session of its own, logs the output and records the code."""
    name = "c" + uuid.uuid4().hex[:8]
    cli = subprocess.Popen(mr.argv("run", "-d", "--name", name, img, "sh", "-c",
                                   "trap 'echo bye; exit 5' USR1; echo hello; "
                                   "while :; do sleep 0.02; done"),
                           env=mr.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    [command] = _until(lambda: _pids("--root", mr.store, "run", name))
    _until(lambda: _pids("minirun.engine.containers.monitor", mr.store))
    monitors = _stop_all("minirun.engine.containers.monitor", mr.store)
    try:
        assert cli.poll() is None, "the moment was missed: the command has finished"
        assert all(os.getsid(pid) != os.getsid(command) for pid in monitors)
        os.kill(command, sig)
        cli.communicate(timeout=30)
    finally:
        for pid in monitors:
            os.kill(pid, signal.SIGCONT)
    _until(lambda: "hello" in mr("logs", name).stdout, step=0.05)
    info = _inspect(mr, name)
    assert info["State"]["Status"] == "running"
    assert _comm(_ppid(info["State"]["Pid"])) == "minirun:[MON]"
    mr("kill", "-s", "USR1", name, check=True)
    assert mr("wait", name, check=True).stdout.strip() == "5"
    assert mr("logs", name, check=True).stdout == "hello\nbye\n"
    mr("rm", name, check=True)
    assert _leftovers(mr, info["Id"]) == []


@pytest.mark.parametrize("end, code", [("exit", 3), ("SIGKILL", 137), ("stop", 143)])
def test_a_killed_monitor_still_records_the_exit_code(mr, img, end, code):
    """The monitor SIGKILLed, the container ends after it: by itself (its own
    code), killed (137), stopped (143): wait, ps and inspect show the code,
    which the monitor's parent, the keeper, took for it."""
    name = "k" + uuid.uuid4().hex[:8]
    mr("run", "-d", "--name", name, img, "sh", "-c",
       "trap 'exit 143' TERM; trap 'exit 3' USR1; while :; do sleep 0.02; done", check=True)
    info = _inspect(mr, name)
    pid = info["State"]["Pid"]
    monitor = _ppid(pid)
    assert _comm(monitor) == "minirun:[MON]"
    keeper = _ppid(monitor)
    os.kill(monitor, signal.SIGKILL)
    _until(lambda: not _alive(monitor))
    if end == "exit":
        mr("kill", "-s", "USR1", name, check=True)
    elif end == "SIGKILL":
        os.kill(pid, signal.SIGKILL)
    else:
        mr("stop", name, check=True)
    assert mr("wait", name, check=True).stdout.strip() == str(code)
    [row] = [r for r in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
             if r["Names"] == [name]]
    assert row["State"] == "exited" and row["ExitCode"] == code
    assert _inspect(mr, name)["State"]["ExitCode"] == code
    assert _comm(keeper) == "minirun:[EXIT]"        # its work done, it goes
    _until(lambda: not _alive(keeper), timeout=5)
    mr("rm", name, check=True)
    assert _leftovers(mr, info["Id"]) == []


# --- 2. a foreground `run` killed while the runtime creates ------------------------

@pytest.mark.parametrize("remove", [("rm", "-f"), ("container", "prune")],
                         ids=["rm-f", "prune"])
def test_a_run_killed_while_creating_leaves_nothing(mr, img, remove):
    """SIGKILL to `run` after the runtime made the container's state directory
    (and, as root, its cgroups) and before it saved state.json: rm -f and
    container prune remove what the id names, cgroups included."""
    state = _engine_state(mr)
    for attempt in range(10):
        name = f"f{attempt}" + uuid.uuid4().hex[:6]
        cli = subprocess.Popen(mr.argv("run", "--name", name, "--network", "none", img,
                                       "sleep", "5"), env=mr.env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        [command] = _until(lambda: _pids("--root", mr.store, "run", name))
        cid = _until(lambda: next((c for c in os.listdir(os.path.join(mr.store, "containers"))
                                   if os.path.isdir(os.path.join(state, c))), None)
                     if os.path.isdir(os.path.join(mr.store, "containers")) else None)
        made = (lambda: os.path.isdir(f"/sys/fs/cgroup/pids/minirun/{cid}")) \
            if not mr.rt.rootless else (lambda: True)
        try:
            _until(lambda: made() or os.path.exists(os.path.join(state, cid, "state.json")))
        finally:
            with contextlib.suppress(ProcessLookupError):   # it may have ended already
                os.kill(command, signal.SIGKILL)
            cli.wait(timeout=30)
        if os.path.exists(os.path.join(state, cid, "state.json")):
            mr("rm", "-f", name, check=True)       # too late: again
            continue
        break
    else:
        pytest.fail("the moment between the cgroups and state.json was never caught")
    if not mr.rt.rootless:
        assert [x for x in _leftovers(mr, cid) if "cgroup" in x], "the moment was missed"
    r = mr(*remove, *([name] if remove[0] == "rm" else []))
    assert r.returncode == 0, r.stderr
    assert _leftovers(mr, cid) == []
    assert name not in mr("ps", "-a", check=True).stdout


# --- 3. `rm -f` racing a starting `run` ----------------------------------------------

def test_rm_racing_a_starting_run_is_one_clear_line(mr, img):
    """`run` frozen at moments of its start (network, runtime create, start),
    `rm -f` of it meanwhile, then let go: either `run` ran (rm came too
    early) or it says in one line that the container was removed; never a
    traceback, and nothing is left."""
    state, seen, lost = _engine_state(mr), set(), []
    for delay in (0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.09, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4):
        name = "r" + uuid.uuid4().hex[:8]
        cli = subprocess.Popen(mr.argv("run", "--name", name, img, "true"), env=mr.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        [command] = _until(lambda: _pids("--root", mr.store, "run", name))
        containers = os.path.join(mr.store, "containers")
        cid = _until(lambda: next((c for c in os.listdir(containers) if c not in seen), None)
                     if os.path.isdir(containers) else None)
        seen.add(cid)
        time.sleep(delay)
        try:
            os.kill(command, signal.SIGSTOP)
        except ProcessLookupError:          # run ended already: later moments are later still
            out, err = cli.communicate(timeout=60)
            assert "Traceback" not in err, err
            mr("rm", "-f", name)
            assert _leftovers(mr, cid) == []
            break
        started = os.path.exists(os.path.join(state, cid, "state.json")) and \
            not os.path.exists(os.path.join(state, cid, "exec.fifo"))
        removed = None
        if not started and cli.poll() is None:
            removed = _rm_beside(mr, name, command)
        _cont(command)
        out, err = cli.communicate(timeout=60)
        assert "Traceback" not in err, err
        if started or cli.returncode == 0:
            mr("rm", "-f", name)
            if started:
                break                      # later moments are later still
        else:
            assert removed and removed.returncode == 0, (removed, err)
            # (the id, where rm came before the monitor read the record's name)
            assert err in (f"Error: container {n} was removed while starting\n"
                           for n in (name, cid[:12]))
            assert cli.returncode == 125
            lost.append(delay)
        assert _leftovers(mr, cid) == []
    print("run lost the race to rm -f after", lost)
    assert lost, "no moment of the start was caught"


def _rm_beside(mr, name: str, frozen: int) -> subprocess.CompletedProcess:
    """`rm -f NAME` while ``frozen`` is stopped; should that hold a lock rm
    needs (a store transaction: rare), it is let go after 10 s."""
    rm = subprocess.Popen(mr.argv("rm", "-f", name), env=mr.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        out, err = rm.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        _cont(frozen)
        out, err = rm.communicate(timeout=60)
    return subprocess.CompletedProcess(rm.args, rm.returncode, out, err)


# --- 4. rm waits for the lazy server -------------------------------------------------

def test_rm_returns_after_the_lazy_server_has_gone(mr, registry, images_dir):
    """The lazy server frozen (the freezer cgroup: no signal ends it until it
    is thawed, a second later) while `rm -f` removes its last container:
    rm returns only once the server has exited."""
    freezer = "/sys/fs/cgroup/freezer"
    if not os.path.isdir(freezer):
        pytest.skip("no v1 freezer hierarchy on this host")
    registry.push(os.path.join(images_dir, "busybox"), "lazy/slow:latest")
    image = f"{registry.addr}/lazy/slow:latest"
    mr("lazy", "index", image, check=True)
    mr.settings["MINIRUN_LAZY_MIN_SIZE"] = "0"
    mr.settings["MINIRUN_LAZY_BACKGROUND"] = "0"
    mr("run", "-d", "--lazy", "--name", "z", "--network", "none", image, "sleep", "60",
       check=True)
    [server] = _pids("minirun.engine.lazy.serve", mr.store)
    group = os.path.join(freezer, "minirun-test-" + uuid.uuid4().hex[:8])
    os.mkdir(group)
    thaw = threading.Timer(1.0, _freeze, (group, "THAWED"))
    try:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(server))
        _freeze(group, "FROZEN")
        thaw.start()
        mr("rm", "-f", "z", check=True)
        assert not _alive(server), "rm returned while the lazy server still ran"
    finally:
        thaw.cancel()
        if thaw.ident:
            thaw.join()
        _freeze(group, "THAWED")
        _until(lambda: not _alive(server), timeout=10)
        _until(lambda: _rmdir(group), timeout=10, step=0.05)


def _freeze(group: str, state: str) -> None:
    with open(os.path.join(group, "freezer.state"), "w") as f:
        f.write(state)


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


# --- 5. a full disk under the log (small_store: tests/e2e/conftest.py) ----------------

def test_the_monitor_survives_a_full_disk(mr, img, small_store):
    """A container writes more output than the store's filesystem holds:
    the monitor drops what does not fit, says so in the log and in
    monitor.log, and the exit code is recorded."""
    line = "x" * 999
    name = "full" + uuid.uuid4().hex[:6]
    cid = mr("run", "-d", "--name", name, "--network", "none", img, "sh", "-c",
             f"echo first; yes {line} | head -c 24000000; exit 7", check=True).stdout.strip()
    assert mr("wait", name, timeout=120, check=True).stdout.strip() == "7"
    [row] = [r for r in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
             if r["Names"] == [name]]
    assert row["State"] == "exited" and row["ExitCode"] == 7
    assert _inspect(mr, name)["State"]["ExitCode"] == 7
    r = mr("logs", name, check=True)
    assert r.stdout.startswith("first\n" + line + "\n")
    assert "bytes of output were dropped here" in r.stderr.splitlines()[-1]
    with open(os.path.join(mr.store, "containers", cid, "monitor.log")) as f:
        assert "the filesystem is full" in f.read()
    mr("rm", name, check=True)



def test_the_exit_code_survives_a_disk_the_container_filled(mr, img, small_store):
    """The container fills the store's filesystem with a file of its own: its
    output is dropped (said in the log), the store cannot record the exit,
    but the exit file, written in space taken before the start, keeps it:
    once there is space again, ps shows the code."""
    name = "fill" + uuid.uuid4().hex[:6]
    cid = mr("run", "-d", "--name", name, "--network", "none", img, "sh", "-c",
             "echo first; dd if=/dev/zero of=/big bs=1M count=40; echo after; exit 7",
             check=True).stdout.strip()
    r = mr("wait", name, timeout=120)
    assert r.returncode in (0, 125) and "Traceback" not in r.stderr, r.stderr
    os.unlink(os.path.join(mr.store, "containers", cid, "upper", "big"))   # space again
    [row] = [r for r in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
             if r["Names"] == [name]]
    assert row["State"] == "exited" and row["ExitCode"] == 7
    assert mr("logs", name, check=True).stdout.startswith("first\n")
    mr("rm", name, check=True)
    assert _leftovers(mr, cid) == []
