"""Healthchecks (--health-cmd and its flags, or the image's HEALTHCHECK),
with no daemon and no systemd: when a container with one starts, its
monitor starts a checker beside it (``python -m
minirun.engine.containers.health ROOT ID``), which dies with the monitor,
runs the check in the container every interval (as `exec` does, killed
past its timeout), and keeps the result in the container's directory
(``health.json``: Status starting/healthy/unhealthy, FailingStreak, the
last five runs).  `healthcheck run` runs it once, now; ps and inspect read
the file.

The flags are checked with the others (tuning.healthcheck).  A run that
fails within the start period does not count; a container is
unhealthy after ``Retries`` failures in a row, healthy after one success.
"""
import json
import os
import signal
import sys
import time

from minirun.engine.containers import records as ct
from minirun.engine.store import Store
from minirun.errors import MiniRunError

NS = 1_000_000_000


def of(store: Store, rec: dict) -> dict | None:
    """The container's healthcheck (its own, else its image's, as create
    recorded it); None if none."""
    check = rec["options"].get("healthcheck")
    if not check or not check.get("Test") or check["Test"][0] == "NONE":
        return None
    return {"Interval": 30 * NS, "Timeout": 30 * NS, "StartPeriod": 0, "Retries": 3, **check}


def state(store: Store, cid: str) -> dict:
    """What the last runs said (podman's State.Health)."""
    try:
        with open(_path(store, cid)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"Status": "", "FailingStreak": 0, "Log": None}


def run_once(store: Store, name: str) -> bool:
    """Run the check now; record it; whether it passed."""
    from minirun.engine.containers import lifecycle
    rec = lifecycle.refresh(store, ct.find(store, name))
    check = of(store, rec)
    if check is None:
        raise ct.ContainerError(f"container {rec['name']} has no defined healthcheck")
    if rec["state"] != "running":
        raise ct.ContainerError(f"container {rec['name']} is {rec['state']}: a healthcheck "
                                "runs in a running container")
    test = check["Test"]
    argv = ["/bin/sh", "-c", " ".join(test[1:])] if test[0] == "CMD-SHELL" else test[1:]
    started = ct.now()
    code, output = _exec(rec, argv, check["Timeout"] / NS)
    _record(store, rec, check, code, output, started)
    return code == 0


def _exec(rec: dict, argv: list[str], timeout: float) -> tuple[int, str]:
    """Exit code and output of ``argv`` run in the container (125 and the
    reason if it could not run; 1 past the timeout, as podman counts it)."""
    from minirun.engine.containers.records import runtime_store
    from minirun.runtime import launch, spec as spec_mod
    rs = runtime_store()
    try:
        process = spec_mod.load_saved(rs.dir(rec["id"]), rs.load(rec["id"]).bundle).process
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            handle = launch.exec_process(rs, rec["id"], process._replace(
                args=tuple(argv), terminal=False, console_size=None), stdio=(null, out_w, out_w))
        finally:
            os.close(null)
            os.close(out_w)
        handle.chan.close()
        out, in_time = _read_until_exit(handle.init_pid, out_r, timeout)
        status = os.waitpid(handle.init_pid, 0)[1]
    except MiniRunError as e:
        return e.exit_code, str(e)
    if not in_time:
        return 1, f"the healthcheck ran past its timeout of {timeout:g}s"
    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(
        status)
    return code, out.decode(errors="replace")


def _read_until_exit(pid: int, fd: int, timeout: float) -> tuple[bytes, bool]:
    """Its output until it exits (killed past ``timeout``): (output, in time)."""
    import select
    pidfd, chunks, in_time = os.pidfd_open(pid), [], True
    watch = [pidfd, fd]
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready = select.select(watch, [], [], max(0.0, deadline - time.monotonic()))[0]
            if not ready:
                os.kill(pid, signal.SIGKILL)
                in_time = False
                break
            if fd in ready:
                data = os.read(fd, 65536)
                if data:
                    chunks.append(data)
                else:
                    watch.remove(fd)            # its end: only the exit is left
            if pidfd in ready:
                break
        if fd in watch:                 # what is left, without waiting for an end
            os.set_blocking(fd, False)
            try:
                while data := os.read(fd, 65536):
                    chunks.append(data)
            except BlockingIOError:
                pass
    finally:
        os.close(pidfd)
        os.close(fd)
    return b"".join(chunks)[-4096:], in_time


def _record(store: Store, rec: dict, check: dict, code: int, output: str,
            started: str) -> None:
    """One run into health.json: the status, the failing streak, the log."""
    health = state(store, rec["id"])
    in_start = _since(rec["started"]) < check["StartPeriod"] / NS
    if code == 0:
        health["Status"], health["FailingStreak"] = "healthy", 0
    elif not in_start:
        health["FailingStreak"] = health.get("FailingStreak", 0) + 1
        if health["FailingStreak"] >= check["Retries"]:
            health["Status"] = "unhealthy"
    if not health.get("Status"):
        health["Status"] = "starting"
    log = list(health.get("Log") or [])[-4:]
    health["Log"] = log + [{"Start": started, "End": ct.now(), "ExitCode": code,
                            "Output": output}]
    tmp = _path(store, rec["id"]) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(health, f)
    os.replace(tmp, _path(store, rec["id"]))


def start_checker(root: str | None, store: Store, rec: dict) -> None:
    """The monitor, as its container starts: the checker, if it has one."""
    check = of(store, rec)
    if check is None or not check["Interval"]:
        return
    with open(_path(store, rec["id"]), "w") as f:
        json.dump({"Status": "starting", "FailingStreak": 0, "Log": None}, f)
    import subprocess
    subprocess.Popen([sys.executable, "-m", "minirun.engine.containers.health", root or "",
                      rec["id"], str(os.getpid())], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)


def main(argv: list[str]) -> int:
    """python -m minirun.engine.containers.health ROOT ID MONITOR_PID"""
    from minirun.kernel import process
    root, cid, monitor = argv[0] or None, argv[1], int(argv[2])
    process.die_with_parent(signal.SIGKILL)     # with the monitor, however it ends
    if os.getppid() != monitor:
        return 0                                 # it ended before we could say so
    process.set_name("minirun:[HEALTH]")
    store = Store(root)
    while True:
        try:
            rec = ct.record(store, cid)
            check = of(store, rec)
        except MiniRunError:
            return 0
        if check is None or rec["state"] != "running" and rec["state"] != "paused":
            return 0
        time.sleep(check["Interval"] / NS)
        try:
            if ct.record(store, cid)["state"] == "running":
                run_once(store, cid)
        except MiniRunError:
            return 0


def _since(stamp: str | None) -> float:
    """Seconds since an RFC 3339 stamp of a record."""
    import datetime
    if not stamp:
        return 0.0
    head, _, frac = stamp.rstrip("Z").partition(".")
    then = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return time.time() - then - (float("0." + frac) if frac.isdigit() else 0.0)


def _path(store: Store, cid: str) -> str:
    return os.path.join(ct.container_dir(store, cid), "health.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
