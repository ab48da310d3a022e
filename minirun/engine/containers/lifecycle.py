"""The engine's verbs over its containers: run, start, stop, rm, wait, logs.

Daemonless: a detached container has a monitor of its own (``monitor.py``),
a small process that is the runtime's parent, owns the container's stdio,
writes its log, records its exit code and removes it when ``--rm`` says so.
A foreground ``run`` is its own monitor.  Any minirun process can read the
state: the records are in the store's SQLite, the processes' in the runtime
state directory.
"""
import json
import os
import signal
import time

from minirun.engine.containers import records as ct
from minirun.engine.containers.records import runtime_store
from minirun.engine.network import connect, modes
from minirun.engine.store import Store, StoreFull
from minirun.errors import MiniRunError


def monitor_alive(rec: dict) -> bool:
    """Is the record's monitor (``PID:STARTTIME``, as an owner is kept) alive?"""
    from minirun.engine.containers.records import alive
    return alive(rec.get("monitor"))


def refresh(store: Store, rec: dict) -> dict:
    """Reconcile a record with the runtime: a monitor killed with SIGKILL
    (or one that could not write a full store) leaves a record that says
    running over a container that is gone.  While the monitor lives, the
    record is its to write.  On a full disk the exit is shown, not
    recorded: ps, inspect and wait still answer, and rm frees the space."""
    if rec["state"] not in ("running", "paused") or monitor_alive(rec) or \
            _status(rec) != "stopped":
        return rec
    ended = dict(rec, state="exited", finished=ct.now(), exit_code=_exit_code(store, rec))
    try:
        _delete(store, rec)
        ct.update(store, rec["id"], state="exited", finished=ended["finished"],
                  exit_code=ended["exit_code"])
    except StoreFull:
        return ended
    rec = ct.record(store, rec["id"])
    if rec["options"].get("rm"):
        from minirun.engine.containers import volumes as vol
        ct.remove_files(store, rec["id"])
        vol.remove_anonymous(store, rec)
    return rec


def _exit_code(store: Store, rec: dict) -> int:
    """The exit code of a container whose monitor is gone.  The container's
    process was the monitor's child, so only a parent could learn how it
    ended: the monitor's parent, the keeper, adopts it and writes its code
    to the exit file (engine/containers/monitor.py).  A monitor that finished but could
    not write the store (a full disk) wrote it there too.  -1 when no one
    could know: the keeper was killed as well (or the monitor ran before
    there were keepers), and the process was reaped by someone else."""
    from minirun.engine.containers.exitfile import read_exit
    if rec["exit_code"] is not None:
        return rec["exit_code"]
    code = read_exit(ct.container_dir(store, rec["id"]), rec["pid"] or 0)
    return -1 if code is None else code


def _status(rec: dict) -> str:
    """What the runtime holding the container says of it."""
    from minirun.engine.containers import external
    ext = external.for_record(rec)
    if ext:
        return ext.status(rec["id"])
    rs = runtime_store()
    try:
        return rs.load(rec["id"]).status(rs.dir(rec["id"]))
    except MiniRunError:
        return "stopped"


def _delete(store: Store, rec: dict) -> None:
    """Delete in the runtime, and take down the network: also what a killed
    monitor left (its namespace, veth and lease)."""
    from minirun.engine.containers import external
    from minirun.runtime import lifecycle
    ext = external.for_record(rec)
    try:
        if ext:
            ext.delete(rec["id"], ct.container_dir(store, rec["id"]))
        else:
            # also what a `run` killed before the runtime saved its state left
            # (its cgroups): the runtime finds them by the id (remove_unrecorded)
            lifecycle.delete(runtime_store(), rec["id"], force=True)
    except MiniRunError:
        pass
    if modes.private(rec["options"].get("network")):
        connect.teardown(store, rec["id"])


def _kill(rec: dict, sig: int, all_processes: bool = False) -> None:
    from minirun.engine.containers import external
    from minirun.runtime import lifecycle
    ext = external.for_record(rec)
    if ext:
        ext.kill(rec["id"], sig, all_processes)
    else:
        lifecycle.kill(runtime_store(), rec["id"], sig, all_processes=all_processes)


def stop(store: Store, name: str, timeout: float | None = None) -> str:
    """Its stop signal, then SIGKILL after ``timeout`` seconds (None: its
    --stop-timeout, else 10).  A paused container is thawed first, so that
    it can hear the signal."""
    from minirun.engine.containers import restart
    rec = refresh(store, ct.find(store, name))
    restart.mark_stopped(store, rec["id"])      # stopped by hand: no restart (also one
    if rec["state"] == "paused":                # its monitor is waiting to make)
        freeze(store, rec["id"], False)
        rec = dict(rec, state="running")
    if rec["state"] != "running":
        return rec["id"]
    if timeout is None:
        timeout = rec["options"].get("stop_timeout")
        timeout = 10.0 if timeout is None else timeout
    from minirun.runtime import lifecycle
    sig = signal.SIGTERM
    stop_signal = rec["options"].get("stop_signal")
    if stop_signal:
        sig = lifecycle.parse_signal(stop_signal)
    try:
        _kill(rec, sig)
    except MiniRunError:
        pass
    if not wait_exit(store, rec["id"], timeout):
        try:
            _kill(rec, signal.SIGKILL, all_processes=True)
        except MiniRunError:
            pass
        wait_exit(store, rec["id"], 10)
    return rec["id"]


def freeze(store: Store, name: str, on: bool) -> str:
    """pause (``on``) or unpause a container: its processes frozen in their
    cgroup (the runtime's pause and resume, as podman's)."""
    rec = refresh(store, ct.find(store, name))
    needs = "running" if on else "paused"
    if rec["state"] != needs:
        raise ct.ContainerError(f"container `{rec['name']}` is {rec['state']}: "
                                f"{'pause' if on else 'unpause'} needs a {needs} one")
    from minirun.engine.containers import external
    ext = external.for_record(rec)
    if ext:
        ext.freeze(rec["id"], on)
    else:
        from minirun.runtime import lifecycle
        (lifecycle.pause if on else lifecycle.resume)(runtime_store(), rec["id"])
    ct.update(store, rec["id"], state="paused" if on else "running")
    from minirun.engine import events
    events.emit(store.root, "container", "pause" if on else "unpause", rec["id"], rec["name"],
                rec["options"].get("image") or "")
    return rec["id"]


def wait_exit(store: Store, cid: str, timeout: float | None) -> bool:
    """Until the monitor has recorded the exit (or the record is gone)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            rec = refresh(store, ct.record(store, cid))
        except ct.ContainerError:       # (not any error: a full store is said as it is)
            return True
        if rec["state"] == "exited":
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def remove(store: Store, name: str, force: bool = False, volumes: bool = False,
           infra: bool = False) -> str:
    """rm: the container gone (a running one only with ``force``); a pod's
    infra container only with its pod (``infra``: pod rm)."""
    rec = refresh(store, ct.find(store, name))
    if rec["options"].get("infra") and not infra:
        raise ct.ContainerError(f"container {rec['id']} is the infra container of pod "
                                f"{rec['options'].get('pod')} and cannot be removed without "
                                "removing the pod: pod rm removes it")
    if rec["state"] in ("running", "paused"):
        if not force:
            raise ct.ContainerError(f"container `{rec['name']}` is {rec['state']}: stop it "
                                    "first or use rm -f", exit_code=2)      # podman's 2
        stop(store, rec["id"], timeout=0)
    if store.short_of_space():
        # Its writable layer first: on a disk the container filled, that is
        # the space the store needs to delete anything (the record, a lease).
        ct.remove_upper(store, rec["id"])
        store.reopen()
    _delete(store, rec)
    ct.remove_files(store, rec["id"])
    from minirun.engine import events
    events.emit(store.root, "container", "remove", rec["id"], rec["name"],
                rec["options"].get("image") or "")
    if volumes:   # rm -v: the container's anonymous volumes go too
        from minirun.engine.containers import volumes as vol
        vol.remove_anonymous(store, rec)
    return rec["id"]


DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_time(text: str, flag: str = "--since") -> str:
    """A time as podman takes it (--since, --until), as a record's stamp
    (RFC 3339 in UTC with nanoseconds, which compare as strings):

    - a Go duration before now: 10s, 5m, 1h30m, 1.5h, 300ms;
    - a Unix time: 1700000000, 1700000000.5;
    - RFC 3339: 2024-01-02T03:04:05Z, ...05.123+02:00; without a zone
      (2024-01-02T03:04:05) or a time (2024-01-02), the local time."""
    import datetime
    import re
    t = None
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        t = time.time() - sum(float(n) * DURATION_UNITS[u] for n, u in parts)
    elif re.fullmatch(r"\d+(\.\d+)?", text):
        t = float(text)
    else:
        try:
            when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise MiniRunError(f"{flag} {text}: give a duration (10s, 5m, 1h30m), a Unix time "
                               "or an RFC 3339 time (2024-01-02T03:04:05Z)") from None
        t = when.timestamp()       # naive: local time, as podman reads it
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{round(t % 1 * 1e9):09d}Z"


def logs(store: Store, name: str, follow: bool = False, tail: int | None = None,
         timestamps: bool = False, out=None, err=None, since: str | None = None,
         until: str | None = None) -> None:
    """Its output from the log; ``since``/``until``: record stamps
    (parse_time)."""
    import sys
    out, err = out or sys.stdout.buffer, err or sys.stderr.buffer
    rec = ct.find(store, name)
    driver = rec["options"].get("log_driver") or "k8s-file"
    if driver != "k8s-file":
        raise ct.ContainerError(f"container {rec['name']} uses the `{driver}` log driver: its "
                                "output is not kept (k8s-file keeps it)")
    path = os.path.join(ct.container_dir(store, rec["id"]), "ctr.log")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        if since:
            lines = [ln for ln in lines if ln.split(b" ", 1)[0].decode() >= since]
        if until:
            lines = [ln for ln in lines if ln.split(b" ", 1)[0].decode() <= until]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            _emit(line, timestamps, out, err)
        while follow:
            line = f.readline()
            if line and until and line.split(b" ", 1)[0].decode() > until:
                return
            if line:
                _emit(line, timestamps, out, err)
                continue
            rec = refresh(store, ct.record(store, rec["id"]))
            if rec["state"] not in ("running", "paused") or (until and ct.now() > until):
                for line in f.readlines():
                    if not until or line.split(b" ", 1)[0].decode() <= until:
                        _emit(line, timestamps, out, err)
                return
            time.sleep(0.05)


def _emit(line: bytes, timestamps: bool, out, err) -> None:
    """A k8s-file record: TIMESTAMP STREAM F|P MESSAGE (P: partial line)."""
    from minirun.engine.containers.log import parse
    record = parse(line)
    if record is None:
        return
    stamp, stream, text = record
    text = (stamp + b" " if timestamps else b"") + text
    target = err if stream == b"stderr" else out
    target.write(text)
    target.flush()


def exec_in(store: Store, name: str, command: list[str], *, env: list[str], user: str | None,
            workdir: str | None, tty: bool, interactive: bool, detach: bool) -> int:
    """Run one more process in a running container (podman exec)."""
    from minirun.runtime import launch
    from minirun.runtime import lifecycle as rl
    from minirun.runtime import spec as spec_mod
    rec = refresh(store, ct.find(store, name))
    if rec["state"] != "running":
        what = "unpause" if rec["state"] == "paused" else "start"
        raise ct.ContainerError(f"container `{rec['name']}` is {rec['state']}, not running: "
                                f"{what} it first", exit_code=255)     # podman's code
    from minirun.engine.containers import external
    ext = external.for_record(rec)
    rs = runtime_store()
    bundle = ct.container_dir(store, rec["id"])
    base = spec_mod.load(bundle).process if ext else \
        spec_mod.load_saved(rs.dir(rec["id"]), rs.load(rec["id"]).bundle).process
    proc_env = [e for e in base.env if e.partition("=")[0] not in
                {x.partition("=")[0] for x in env}] + list(env)
    proc = base._replace(args=tuple(command), env=tuple(proc_env), terminal=tty,
                         cwd=workdir or base.cwd, console_size=None)
    if user:
        from minirun.engine.containers.bundle import resolve_user
        store_layers = [store.layer_dir(d) for d, _ in reversed(store.image_layers(
            rec["image_id"]))]
        uid, gid, _ = resolve_user(store_layers, user)
        proc = proc._replace(user=proc.user._replace(uid=uid, gid=gid))
    if ext:
        with open(os.path.join(bundle, "config.json")) as f:
            pj = json.load(f)["process"]
        pj.update(args=proc.args, env=proc.env, terminal=tty, cwd=proc.cwd)
        pj["user"].update(uid=proc.user.uid, gid=proc.user.gid)
        pj.pop("consoleSize", None)
        return ext.exec(rec["id"], pj, detach=detach, directory=bundle)
    terminal = None
    if tty and not detach:
        from minirun.runtime.console import OwnTerminal
        terminal = OwnTerminal()
    saved = os.dup(0)
    if not interactive:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    try:
        handle = launch.exec_process(rs, rec["id"], proc,
                                     console_fd=terminal.child_fd() if terminal else -1)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    handle.chan.close()
    master = terminal.receive_master() if terminal else -1
    if detach:
        return 0
    return rl.wait_forwarding(handle.init_pid, master)


def update(store: Store, name: str, resources: dict) -> str:
    """Change a running container's limits (podman update); the container
    keeps them in its record, so inspect shows what holds now."""
    from minirun.engine.containers import external
    rec = refresh(store, ct.find(store, name))
    if rec["state"] != "running":
        raise ct.ContainerError(f"container `{rec['name']}` is not running: its limits are "
                                "set when it starts (create with the flags instead)")
    if not resources:
        raise ct.ContainerError("update: name a limit to change (--memory, --cpus, ...)")
    ext = external.for_record(rec)
    if ext:
        ext.update(rec["id"], resources, ct.container_dir(store, rec["id"]))
    else:
        from minirun.runtime import lifecycle as rl
        rl.update(runtime_store(), rec["id"], resources)
    merged = dict(rec["options"].get("resources") or {})
    for key, value in resources.items():
        merged[key] = {**(merged.get(key) or {}), **value} if isinstance(value, dict) \
            else value
    ct.update(store, rec["id"], options=json.dumps({**rec["options"], "resources": merged}))
    return rec["id"]


def kill(store: Store, name: str, sig: str = "KILL") -> str:
    from minirun.runtime import lifecycle as rl
    rec = refresh(store, ct.find(store, name))
    if rec["state"] != "running":
        raise ct.ContainerError(f"container `{rec['name']}` is not running")
    number = rl.parse_signal(sig)
    if number in (signal.SIGKILL, signal.SIGTERM):   # killed by hand: no restart
        from minirun.engine.containers import restart
        restart.mark_stopped(store, rec["id"])
    _kill(rec, number)
    from minirun.engine import events
    events.emit(store.root, "container", "kill", rec["id"], rec["name"],
                rec["options"].get("image") or "", signal=signal.Signals(number).name[3:])
    return rec["id"]
