"""The verbs of an OCI runtime, over the state directory: create, start,
state, kill, delete, plus run (create + start + wait + delete) and exec.

The CLI (cli/oci.py) is a thin shell over these functions; the engine calls
them in-process.  See runtime-spec runtime.md for the state machine:
creating -> created -> running -> stopped.

Why (``--explain`` prints the item under the step):

- start: opening the fifo for reading releases INIT, which was blocked
  writing to it: it execs the container's program now (fifo(7))
- kill: a signal to the container's pid 1, which, as init of its PID
  namespace, gets only the signals it has a handler for (kill(2), pid_namespaces(7))
- freeze: the cgroup's freezer stops (or resumes) every process of the
  container at once, as none of them can escape it (cgroups(7))
"""
import json
import os
import select
import signal
import time

from minirun import explain
from minirun.errors import MiniRunError, StateError
from minirun.runtime import launch as launch_mod
from minirun.runtime import spec as spec_mod
from minirun.runtime.state import State, Store

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT, signal.SIGTSTP)


def parse_signal(text: str) -> int:
    name = text.upper()
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise MiniRunError(f"unknown signal {text!r}: use a name like TERM or a number") from None


def state(store: Store, cid: str) -> dict:
    return store.load(cid).oci(store.dir(cid))


def start(store: Store, cid: str) -> State:
    """Release INIT: open exec.fifo for reading; INIT writes a byte and execs."""
    st = store.load(cid)
    d = store.dir(cid)
    status = st.status(d)
    if status != "created":
        raise StateError(f"container `{cid}` is {status}: only a created container can be "
                         "started")
    fifo = os.path.join(d, "exec.fifo")
    explain.say(f"open {fifo} for reading: INIT may exec now", why="start")
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready and os.read(fd, 1):
                break
            if not st.alive():
                raise StateError(f"container `{cid}` exited before it could start")
    finally:
        os.close(fd)
        os.unlink(fifo)
    poststart = spec_mod.load_hooks(d).poststart
    if poststart:
        from minirun.runtime import hooks
        hooks.run_all(poststart, json.dumps(st.oci(d)), "poststart", fatal=False)
    return st


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    st = store.load(cid)
    status = st.status(store.dir(cid))
    if status not in ("created", "running", "paused"):
        raise StateError(f"container `{cid}` is {status}: there is no process to signal")
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
    explain.say(f"kill({st.pid}, {name})", why="kill")
    if all_processes and st.cgroup_dirs:
        from minirun.kernel import cgroups
        cgroups.kill_all(st.cgroup_dirs, sig)
    try:
        os.kill(st.pid, sig)
    except ProcessLookupError:
        pass        # it ended between the status read and the kill: nothing to signal
    if status == "paused" and sig == signal.SIGKILL:
        from minirun.kernel import cgroups    # a v1 freezer holds even SIGKILL: thaw
        cgroups.freeze(st.cgroup_dirs, False)


def pause(store: Store, cid: str) -> None:
    """Freeze every process of a running container (cgroup v2's
    cgroup.freeze, else the v1 freezer), as runc pause does."""
    _freeze(store, cid, True, "running", "pause")


def resume(store: Store, cid: str) -> None:
    """Thaw a paused container."""
    _freeze(store, cid, False, "paused", "resume")


def _freeze(store: Store, cid: str, on: bool, needs: str, verb: str) -> None:
    from minirun.kernel import cgroups
    st = store.load(cid)
    status = st.status(store.dir(cid))
    if status != needs:
        raise StateError(f"container `{cid}` is {status}: {verb} needs a {needs} one")
    if not st.cgroup_dirs or cgroups.freezer(st.cgroup_dirs) is None:
        raise MiniRunError(f"container `{cid}` has no cgroup of its own with a freezer "
                           "(rootless without a delegated cgroup): it cannot be paused")
    explain.say(f"{'freeze' if on else 'thaw'} the cgroup of {cid}", why="freeze")
    cgroups.freeze(st.cgroup_dirs, on)


def update(store: Store, cid: str, resources: dict) -> None:
    """`update`: write new linux.resources into a live container's groups
    (only the limits named change; the rest stay as they are).  They are
    checked as config.json's are, so an error names its JSON path."""
    from minirun.runtime import resources as limits
    res = spec_mod.parse_resources(resources)
    st = store.load(cid)
    status = st.status(store.dir(cid))
    if status not in ("created", "running"):
        raise StateError(f"container `{cid}` is {status}: there are no limits to change")
    if not st.cgroup_dirs:
        raise MiniRunError(f"container `{cid}` has no cgroup of its own (rootless without a "
                           "delegated cgroup): its limits cannot be changed")
    limits.apply(launch_mod.kernel(), res, st.cgroup_dirs)


def _wait_gone(st: State, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while st.alive():
        try:
            os.waitpid(st.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            raise MiniRunError(f"container `{st.id}` (pid {st.pid}) did not die after SIGKILL")
        time.sleep(0.005)


def delete(store: Store, cid: str, force: bool = False) -> None:
    d = store.dir(cid)
    if not os.path.exists(os.path.join(d, "state.json")):
        if force:
            # Gone already, or a create killed before it wrote its state:
            # --force means "make sure it is gone" (engines clean up this way)
            remove_unrecorded(store, cid)
            return
        store.load(cid)         # raises ContainerNotFound
    lock = store.lock(cid)
    try:
        st = store.load(cid)
        status = st.status(d)
        if status in ("running", "created") and not force:
            # runtime-spec: deleting a container that is not stopped MUST
            # fail and leave it as it is (crun and youki agree; runc kills)
            raise StateError(f"container `{cid}` is {status}, not stopped: kill it first "
                             "or delete it with --force")
        if status in ("running", "created"):
            from minirun.kernel import cgroups
            cgroups.kill_all(st.cgroup_dirs)
            try:
                os.kill(st.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone(st)
        cleanup(store, st)
    finally:
        os.close(lock)


def remove_unrecorded(store: Store, cid: str) -> None:
    """What a create killed before it saved state.json may have left: the
    container's cgroups (its config's cgroupsPath, or minirun/ID as create
    names them), with anything still in them, and the state directory.
    Without the state nothing says create made the groups, so a path that
    does not name the id (a group others may share) is left alone."""
    path = f"minirun/{cid}"
    try:
        with open(os.path.join(store.dir(cid), "config.json")) as f:
            path = (json.load(f).get("linux") or {}).get("cgroupsPath") or path
    except (OSError, ValueError, AttributeError):
        pass
    from minirun.kernel import cgroups
    groups = cgroups.leaves(path) if cid in path else []
    if groups:
        cgroups.kill_all(groups)
        cgroups.remove(groups)
    store.remove(cid)


def cleanup(store: Store, st: State) -> None:
    """poststop hooks, cgroup directories, state directory."""
    d = store.dir(st.id)
    try:
        poststop = spec_mod.load_hooks(d).poststop
    except (OSError, ValueError, MiniRunError):
        poststop = ()
    if poststop:
        from minirun.runtime import hooks
        hooks.run_all(poststop, json.dumps(st.oci(d) | {"status": "stopped"}),
                      "poststop", fatal=False)
    if st.cgroup_made:
        from minirun.kernel import cgroups
        cgroups.remove(st.cgroup_made)
    if st.shared_mounts is not None:
        from minirun.runtime import rootfs
        rootfs.unmount_added(launch_mod.kernel(), st.rootfs, st.shared_mounts)
    store.remove(st.id)


def list_containers(store: Store) -> list[dict]:
    out = []
    for cid in store.ids():
        try:
            out.append(state(store, cid))
        except MiniRunError:
            continue
    return out


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def usage(store: Store, cid: str) -> dict:
    """What the container's cgroups counted (runtime/usage.py); read
    after its processes have exited, before `delete` removes the groups."""
    from minirun.runtime import usage as counted
    try:
        return counted.usage(store.load(cid).cgroup_dirs)
    except MiniRunError:
        return {}


def forward_signals(pid: int, master: int = -1) -> dict:
    """Pass the signals we receive on to ``pid``; the old handlers, for
    :func:`restore`.  Installed before the container's process may run, so
    that a signal sent to us as soon as it speaks is not lost (nor kills
    us and leaves it running)."""
    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return {s: signal.signal(s, forward) for s in FORWARDED
            if not (master >= 0 and s == signal.SIGWINCH)}


def restore(handlers: dict) -> None:
    for s, h in handlers.items():
        signal.signal(s, h)


def wait_forwarding(pid: int, master: int = -1) -> int:
    """Wait for ``pid``, passing on the signals we receive; return its code."""
    old = forward_signals(pid, master)
    try:
        if master >= 0:
            from minirun.runtime import console
            console.proxy(master, lambda: alive_child(pid))
        return reap(pid)
    finally:
        restore(old)


def reap(pid: int) -> int:
    """Wait for our child ``pid``; its exit code as a shell reports it."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return exit_code(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0   # reaped already by someone else: nothing more to know


def alive_child(pid: int) -> bool:
    """Whether our child has not exited yet (without reaping it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def run(store: Store, cid: str, bundle: str, *, detach: bool = False, keep: bool = False,
        console_socket: str | None = None, pid_file: str | None = None,
        preserve_fds: int = 0) -> int:
    """create + start, then (unless detached) wait, forward signals, delete."""
    spec = spec_mod.load(os.path.abspath(bundle))
    terminal = None
    if spec.process is not None and spec.process.terminal and console_socket is None:
        from minirun.runtime.console import OwnTerminal
        terminal = OwnTerminal()
    st, launch = launch_mod.create(store, cid, bundle, console_socket=console_socket,
                                   console_fd=terminal.child_fd() if terminal else -1,
                                   pid_file=pid_file, preserve_fds=preserve_fds)
    master = terminal.receive_master() if terminal else -1
    handlers = {} if detach else forward_signals(st.pid, master)
    try:
        try:
            start(store, cid)
            # INIT reports an execve failure here; end-of-file means it exec'd.
            launch.chan.recv("exec")
        except BaseException:
            delete(store, cid, force=True)
            raise
        finally:
            launch.chan.close()
        if detach:
            return 0
        code = wait_forwarding(st.pid, master)
    finally:
        restore(handlers)
    if not keep:
        delete(store, cid, force=True)
    return code
