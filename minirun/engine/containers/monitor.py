"""The monitor: the process that runs one container and watches it.

    create and start it through the runtime (in-process: no second
    interpreter), owning its stdout and stderr through pipes
    -> copy every line into the log (k8s-file format, as podman writes it),
       and to our own terminal for a foreground `run`
    -> wait for it, record its exit code, clean up, remove it if --rm

For `run -d` and `start`, the monitor is a process of its own, in its own
session (``python -m minirun.engine.containers.monitor``): it outlives the command that
started it, and tells that command through a pipe that the container runs
(or why it does not).  Its own errors go to monitor.log beside the log.

Whatever happens to the command that started it, the monitor goes on: a
starter killed while it waits (SIGINT, SIGKILL) only closes the pipe, and
a monitor in a session of its own gets no terminal's signals.  Unless the
container has an *owner* (a process of the Python API: owner.py): then the
monitor holds a pidfd of it, and the owner's death, whenever it comes
(before the start, while the starter waits, while the container runs),
ends the container and removes it.  Whatever
happens to the monitor, the exit code is kept: its parent, the *keeper*
(``minirun:[EXIT]``, a child subreaper and nothing else), adopts the
container if the monitor dies, waits for it and writes its exit code to
the container's ``exit`` file, which the next command reads
(engine/containers/lifecycle.refresh).  The file is written in place, in space taken
before the container starts, so that a full disk cannot lose it either.
"""
import json
import os
import select
import sys
import time

from minirun import explain
from minirun.engine import events
from minirun.engine.containers import records as ct
from minirun.engine.containers.exitfile import keep, prepare_exit, write_exit
from minirun.engine.containers.log import Log, say
from minirun.engine.containers.records import runtime_store
from minirun.engine.network import connect, modes
from minirun.engine.store import Store
from minirun.errors import MiniRunError


def _external(rec: dict):
    """Another OCI runtime (--runtime), if the container has one; the module
    is loaded only then (it costs every start otherwise)."""
    if not rec["options"].get("runtime"):
        return None
    from minirun.engine.containers import external
    return external.for_record(rec)


def _tell(fd: int, line: str) -> None:
    """A line to whoever waits on a pipe (the starter, the keeper).  It may
    be gone (killed while it waited): that changes nothing for us."""
    if fd < 0:
        return
    try:
        os.write(fd, line.encode())
    except OSError:               # EPIPE: SIGPIPE is ignored in Python
        pass
    os.close(fd)


# --- the exit file: the exit code, kept whatever happens to the monitor ------------


def passthrough_detached() -> MiniRunError:
    return ct.ContainerError("--log-driver passthrough gives the container this command's "
                             "own stdio: run it in the foreground, not detached")


def run_container(root: str | None, cid: str, *, foreground: bool, interactive: bool = False,
                  ready_fd: int = -1, store: Store | None = None,
                  wait_attach: bool = False, keeper_fd: int = -1,
                  owner=None, serve: bool | None = None, tied: bool = False,
                  deadline: float | None = None) -> int:
    """Run a created container to its end; return its exit code.

    In the foreground our own stdio is the container's (a terminal through
    the runtime's proxy); detached, the container's stdio is ours to serve:
    its output goes to the log and (``serve``, detached's default) to every
    attached client, and (with -i) the clients' input goes to it
    (engine/containers/attach.py).  ``ready_fd`` hears "ok PID" or "error
    CODE MESSAGE"; ``keeper_fd``, the container's pid.  ``owner`` (watched):
    if it dies, the container is killed (main removes it).  ``tied``: its
    pid 1 dies with this process (the API's in-process run).  Past
    ``deadline`` (time.monotonic), the container is killed."""
    from minirun.runtime.state import proc_start_time
    explain.set_actor("monitor", "runs the container: its network, its output, its exit code")
    store = store or Store(root)
    ct.update(store, cid, monitor=f"{os.getpid()}:{proc_start_time(os.getpid())}")
    try:
        rec = ct.record(store, cid)
    except ct.ContainerError:
        _tell(ready_fd, f"error 125 {_removed(cid[:12])}\n")
        raise _removed(cid[:12]) from None
    run = Run(store, rec, foreground=foreground, interactive=interactive,
              serve=not foreground if serve is None else serve, ready_fd=ready_fd,
              keeper_fd=keeper_fd)
    try:
        run.prepare()
        run.start(wait_attach, owner, tied)
        from minirun.engine.containers import health
        health.start_checker(root, store, ct.record(store, cid))
        code = run.watch(owner, deadline)
    except Exception as e:
        err = _failure(store, rec, e)
        if err is None:
            raise                 # not a refusal we know: a bug, to be seen whole
        run.refuse(err)
        _finish(store, run.rs, rec, err.exit_code)
        if err is e:
            raise
        raise err from None
    finally:
        run.close()
    _finish(store, run.rs, rec, code)
    if run.server:
        run.server.close(code)   # after the exit is recorded: the client may read it
    return code


class Run:
    """One run of a created container: what it needs made in order (its
    exit file, lazy layers, network, attach server, terminal, stdio pipes),
    and closed whatever happens."""

    def __init__(self, store: Store, rec: dict, *, foreground: bool, interactive: bool,
                 serve: bool, ready_fd: int, keeper_fd: int):
        self.store, self.rec, self.cid = store, rec, rec["id"]
        self.directory = ct.container_dir(store, self.cid)
        self.rs = runtime_store()
        self.ext = _external(rec)                # --runtime: another OCI runtime
        self.foreground, self.interactive, self.serve = foreground, interactive, serve
        self.ready_fd, self.keeper_fd = ready_fd, keeper_fd
        self.tty = bool(rec["options"].get("tty"))
        self.log_driver = rec["options"].get("log_driver") or "k8s-file"
        self.links = None                        # what keeps its network up
        self.terminal = self.server = None
        self.pid, self.master, self.forward = 0, -1, {}
        keep_stdin = not foreground and bool(rec["options"].get("interactive"))
        self.out_r, self.out_w = os.pipe2(os.O_CLOEXEC)
        self.err_r, self.err_w = os.pipe2(os.O_CLOEXEC)
        self.in_r, self.in_w = os.pipe2(os.O_CLOEXEC) if keep_stdin and not self.tty \
            else (-1, -1)
        self.saved = [os.dup(fd) for fd in (0, 1, 2)]
        self.devnull = os.open(os.devnull, os.O_RDWR)

    def tell(self, line: str) -> None:
        """The starter hears once."""
        _tell(self.ready_fd, line)
        self.ready_fd = -1

    def prepare(self) -> None:
        """Its exit file, lazy layers, network (made first), attach server
        and terminal."""
        if self.log_driver == "passthrough" and self.serve:
            raise passthrough_detached()
        prepare_exit(self.directory)
        if self.rec["options"].get("lazy"):            # its layers in the registry: mounted
            from minirun.engine.lazy import mount
            mount.ensure_for(self.store, self.rec["image_id"], self.directory)
        owner = 0
        if self.rec["options"].get("joins"):   # a pod's member: its infra runs first
            _start_joined(self.store, self.rec)
            from minirun.engine.containers import joining
            joining.repoint(self.store, self.rec, self.directory)
            owner = joining.user_owner(self.store, self.rec)
        self.links = connect.connect(self.store, self.rec, self.directory, userns_pid=owner)
        if self.serve:
            from minirun.engine.containers.attach import Server
            self.server = Server(self.directory)
        if self.tty and self.ext:
            from minirun.engine.containers.external import ConsoleSocket
            self.terminal = ConsoleSocket()
        elif self.tty:
            from minirun.runtime.console import OwnTerminal
            self.terminal = OwnTerminal()

    def start(self, wait_attach: bool, owner, tied: bool) -> None:
        """Create it in its runtime, then start it (after the attaching
        client, if asked); record it running and tell the starter."""
        from minirun.runtime import lifecycle
        stdin = self.saved[0] if (self.interactive and self.foreground) else \
            self.in_r if self.in_r >= 0 else self.devnull
        stdio = None if self.tty and self.foreground else \
            (stdin, self.saved[1], self.saved[2]) if self.log_driver == "passthrough" else \
            (stdin, self.out_w, self.err_w)
        self.pid, handle = _create(self.ext, self.rs, self.cid, self.directory, self.terminal,
                                   self.saved, stdio, tied)
        self.event("init")
        _tell(self.keeper_fd, f"{self.pid}\n")    # ours to wait for, or the keeper's
        self.keeper_fd = -1
        self.master = self.terminal.receive_master() if self.terminal else -1
        # forwarding from before the start: a signal sent to us as soon as the
        # container speaks must reach it, not kill us and leave it running
        if self.foreground and self.master < 0:
            self.forward = lifecycle.forward_signals(self.pid)
        try:
            if wait_attach:
                self.tell("attach\n")      # the caller attaches now; we start when it has
                for kind, payload in self.server.wait_for_client():
                    _client_frame(kind, payload, self.master if self.master >= 0
                                  else self.in_w, {self.master: b"stdout"})
            if owner and owner.died():   # while it was made, or the starter waited
                raise owner.gone_error()
            if self.ext:
                self.ext.start(self.cid)
            else:
                lifecycle.start(self.rs, self.cid)
                handle.chan.recv("exec")     # an execve failure arrives here
        except BaseException:
            lifecycle.restore(self.forward)
            _delete(self.ext, self.rs, self.cid, self.directory)
            raise
        finally:
            if handle:
                handle.chan.close()
        ct.update(self.store, self.cid, state="running", pid=self.pid, started=ct.now(),
                  exit_code=None, finished=None)
        self.event("start")
        if self.foreground or wait_attach:
            self.event("attach")
        self.tell(f"ok {self.pid}\n")
        for name in ("out_w", "err_w", "in_r"):     # the container's ends
            _close(getattr(self, name))
            setattr(self, name, -1)

    def watch(self, owner, deadline: float | None) -> int:
        """Serve it until it ends; its exit code."""
        from minirun.runtime import lifecycle
        try:
            return _watch(self.directory, self.pid, self.foreground, self.master,
                          (self.out_r, self.err_r), self.server, self.in_w,
                          owner and (owner, self.kill), deadline and (deadline, self.kill),
                          keep=self.log_driver == "k8s-file")
        finally:
            lifecycle.restore(self.forward)

    def event(self, status: str) -> None:
        events.emit(self.store.root, "container", status, self.cid, self.rec["name"],
                    self.rec["options"].get("image") or "")

    def kill(self) -> None:
        _kill_container(self.ext, self.cid, self.pid)

    def refuse(self, err: MiniRunError) -> None:
        """It could not run: the starter and any client hear why."""
        self.tell(f"error {err.exit_code} {err}\n")
        if self.server:
            self.server.broadcast(b"e", f"Error: {err}\n".encode())
            self.server.close(err.exit_code)
            self.server = None

    def close(self) -> None:
        if self.links:
            self.links.close()
        for fd in (self.out_r, self.err_r, self.out_w, self.err_w, self.in_r, self.in_w,
                   self.devnull, self.keeper_fd, *self.saved):
            _close(fd)


def _start_joined(store: Store, rec: dict) -> None:
    """The containers whose namespaces ``rec`` joins (a pod's infra), started
    if they are not running, as podman starts a pod's infra container
    before any other; one starter at a time (a lock in its directory)."""
    from minirun.engine.containers.lifecycle import refresh
    from minirun.runtime.state import file_lock
    for cid in sorted(set((rec["options"].get("joins") or {}).values())):
        ct.record(store, cid)           # (gone: said before a lock file is made for it)
        with file_lock(os.path.join(ct.container_dir(store, cid), "start.lock")):
            other = refresh(store, ct.record(store, cid))
            if other["state"] not in ("running", "paused"):
                start_detached(store.root, cid)


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _create(ext, rs, cid: str, directory: str, terminal, saved: list[int],
            stdio: tuple[int, int, int] | None, tied: bool = False) -> tuple[int, object]:
    """Create the container in its runtime: (its pid, the launch's handle, or
    None from another runtime).  minirun's runtime gives the container
    ``stdio`` (None: ours, or a terminal's) in the child it forks; another
    runtime gives it its own stdio, so ``stdio`` is ours for the moment,
    then ``saved`` is ours again."""
    from minirun.runtime import launch
    if not ext:
        state, handle = launch.create(rs, cid, directory, stdio=stdio, die_with_parent=tied,
                                      console_fd=terminal.child_fd() if terminal else -1)
        return state.pid, handle
    if stdio:
        for fd, source in zip((0, 1, 2), stdio):
            os.dup2(source, fd, inheritable=True)
    from minirun.kernel import process
    process.set_child_subreaper()   # its pid 1 becomes our child to wait for
    try:
        return ext.create(cid, directory, terminal.path if terminal else None), None
    except BaseException:
        if terminal:
            terminal.close()
        raise
    finally:
        for fd, copy in zip((0, 1, 2), saved):
            os.dup2(copy, fd, inheritable=True)


def _watch(directory: str, pid: int, foreground: bool, master: int,
           outputs: tuple[int, int], server, in_w: int, owner=None, deadline=None,
           keep: bool = True) -> int:
    """Copy the container's output to the log (and to the clients) until it
    ends; its exit code, kept in the exit file at once.  ``owner``: (the
    owner watched, what kills the container when it dies); ``deadline``:
    (a time.monotonic, what kills it then)."""
    from minirun.runtime import lifecycle
    log = Log(os.path.join(directory, "ctr.log"), echo=foreground, keep=keep)
    try:
        if master >= 0 and foreground:   # our terminal: proxied, forwarded, waited for
            code = lifecycle.wait_forwarding(pid, master)
        else:
            streams = {master: b"stdout"} if master >= 0 else \
                {outputs[0]: b"stdout", outputs[1]: b"stderr"}
            _pump(log, streams, server, master if master >= 0 else in_w, pid, owner, deadline)
            code = lifecycle.reap(pid)
        write_exit(directory, pid, code)
    finally:
        log.close()
    return code


def _removed(name: str) -> MiniRunError:
    return ct.ContainerError(f"container {name} was removed while starting")


def _failure(store: Store, rec: dict, e: Exception) -> MiniRunError | None:
    """What to tell of ``e``, raised while the container started.  If its
    record is gone, `rm -f` removed it meanwhile, and whichever step failed
    (a file, the runtime's state, a namespace gone from under it) lost that
    race: one line says so.  (rm takes the directory first, then the
    record: a directory gone is that race too.)  Else a MiniRunError as it
    is; else None."""
    try:
        ct.record(store, rec["id"])
        if not os.path.isdir(ct.container_dir(store, rec["id"])):
            return _removed(rec["name"])
    except ct.ContainerError:
        return _removed(rec["name"])
    except Exception:              # noqa: BLE001 (the store cannot say: keep e)
        pass
    return e if isinstance(e, MiniRunError) else None


def _pump(log: Log, streams: dict[int, bytes], server=None, input_fd: int = -1,
          pid: int = 0, owner=None, deadline=None) -> None:
    """Copy the container's output to the log (and attached clients) until
    it closes; pass the clients' input, terminal size and end-of-input on.
    ``owner``: (its owner watched, a kill): the owner's exit kills the
    container, whose output then closes as at any end; so does ``deadline``
    (a time.monotonic, a kill)."""
    import time
    from minirun.runtime.lifecycle import alive_child
    watcher, kill = owner or (None, None)
    until, stop = deadline or (None, None)
    while streams:
        if watcher and watcher.died():
            kill()
            watcher = None
        wait = 0.5
        if until is not None:
            wait = min(wait, until - time.monotonic())
            if wait <= 0:
                stop()
                until, wait = None, 0.5
        watched = list(streams) + (server.fds() if server else []) + \
            (watcher.fds() if watcher else [])
        try:
            ready, _, _ = select.select(watched, [], [], wait)
        except InterruptedError:
            continue
        if not ready and pid and not alive_child(pid):
            # The process is gone but something it started holds the output
            # open (or the terminal stays open): what is left is not ours.
            break
        for fd in ready:
            if fd in streams:
                try:
                    data = os.read(fd, 65536)
                except OSError:            # EIO: the terminal's last user left
                    data = b""
                if data:
                    log.write(streams[fd], data)
                    if server:
                        server.broadcast(b"o" if streams[fd] == b"stdout" else b"e", data)
                else:
                    del streams[fd]
            elif server and fd in server.fds():
                for kind, payload in server.handle(fd):
                    input_fd = _client_frame(kind, payload, input_fd, streams)


def _client_frame(kind: bytes, payload: bytes, input_fd: int, streams: dict) -> int:
    import struct
    if kind == b"i" and input_fd >= 0:
        try:
            os.write(input_fd, payload)
        except OSError:
            pass
    elif kind == b"w" and input_fd in streams:   # a terminal: input_fd is its master
        from minirun.runtime.console import set_size
        set_size(input_fd, *struct.unpack(">HH", payload))
    elif kind == b"c" and input_fd >= 0 and input_fd not in streams:
        os.close(input_fd)          # end of input on the stdin pipe
        return -1
    return input_fd


def _kill_container(ext, cid: str, pid: int) -> None:
    """SIGKILL to the container's pid 1 (our child, not yet reaped: the pid
    cannot be another's); its PID namespace takes the rest with it.  Another
    runtime's container, through that runtime's kill."""
    import signal
    try:
        if ext:
            ext.kill(cid, signal.SIGKILL, True)
        else:
            os.kill(pid, signal.SIGKILL)
    except (OSError, MiniRunError):
        pass                            # ended already


def _delete(ext, rs, cid: str, directory: str) -> None:
    """Delete the container in whichever runtime holds it."""
    from minirun.runtime import lifecycle
    try:
        if ext:
            ext.delete(cid, directory)
        else:
            lifecycle.delete(rs, cid, force=True)
    except MiniRunError:
        pass


def _finish(store: Store, rs, rec: dict, code: int) -> None:
    """Clean up in the runtime first, then record the exit: whoever waits for
    "exited" (stop, restart, wait) may start the container again at once.
    What the cgroups counted (OOM kills, CPU time, peak memory) is read
    before they go.  A store that cannot be written (a full disk) leaves
    the record to the next command, which finds the exit file."""
    from minirun.runtime import lifecycle
    ext = _external(rec)
    figures = {} if ext else lifecycle.usage(rs, rec["id"])
    _delete(ext, rs, rec["id"], ct.container_dir(store, rec["id"]))
    try:
        if modes.private(rec["options"].get("network")):
            connect.teardown(store, rec["id"])
        ct.update(store, rec["id"], state="exited", exit_code=code, finished=ct.now(),
                  usage=json.dumps(figures))
        events.emit(store.root, "container", "died", rec["id"], rec["name"],
                    rec["options"].get("image") or "", containerExitCode=code)
        events.emit(store.root, "container", "cleanup", rec["id"], rec["name"],
                    rec["options"].get("image") or "")
        if rec["options"].get("rm"):
            from minirun.engine.containers import volumes as vol
            ct.remove_files(store, rec["id"])
            vol.remove_anonymous(store, rec)
            events.emit(store.root, "container", "remove", rec["id"], rec["name"],
                        rec["options"].get("image") or "")
    except MiniRunError as e:
        say(f"the exit of {rec['id'][:12]} (code {code}) is not recorded yet: {e}")


def start_detached(root: str | None, cid: str, wait_attach: bool = False) -> int:
    """Start a monitor that outlives us; return the container's pid once it runs.

    The monitor is a fresh interpreter (``python -m minirun.engine.containers.monitor``),
    not a fork of this one: a forked child would inherit this process's open
    SQLite connection, which SQLite forbids (its POSIX locks do not survive a
    fork, and a write made beside them can be lost)."""
    import subprocess
    r, w = os.pipe2(os.O_CLOEXEC)
    store = Store(root)
    errlog = os.path.join(ct.container_dir(store, cid), "monitor.log")
    with open(os.devnull, "rb") as devnull, open(errlog, "ab") as err:
        # a session of its own: no terminal's signals; no parent-death signal
        subprocess.Popen([sys.executable, "-m", "minirun.engine.containers.monitor",
                          root or "", cid,
                          str(w)] + (["attach"] if wait_attach else []), stdin=devnull,
                         stdout=devnull, stderr=err, pass_fds=[w], start_new_session=True,
                         close_fds=True)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
        if b"\n" in data:
            break
    os.close(r)
    line = data.decode(errors="replace").strip()
    if line == "attach":     # created; it starts when the caller attaches
        return 0
    if line.startswith("ok "):
        return int(line.split()[1])
    if line.startswith("error "):
        _, code, message = line.split(" ", 2)
        err = MiniRunError(message)
        err.exit_code = int(code)
        raise err
    raise MiniRunError(f"the monitor of {cid[:12]} died before the container started: see "
                       f"{errlog}")


def main(argv: list[str]) -> int:
    """python -m minirun.engine.containers.monitor ROOT CID READY_FD [attach]

    Forks: the parent stays as the keeper, the child is the monitor."""
    from types import SimpleNamespace
    from minirun.engine.store import default_root
    from minirun.kernel import process
    root, cid, ready = argv[:3]
    # No terminal's signals reach us: start_detached made us a session of our
    # own, without a controlling terminal.  (Ignoring SIGINT and SIGHUP here
    # would pass SIG_IGN on to an external runtime and its container.)
    # (no Store: a forked process must not share an open SQLite connection)
    directory = ct.container_dir(SimpleNamespace(root=os.path.abspath(root or default_root())),
                                 cid)
    try:
        prepare_exit(directory)
    except OSError:
        pass                            # removed already: run_container says so
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    process.set_child_subreaper()       # the container, if the monitor dies: not inherited
    monitor = os.fork()
    if monitor:
        os.close(pid_w)
        os.close(int(ready))            # the starter hears from the monitor only
        process.set_name("minirun:[EXIT]")
        return keep(monitor, pid_r, directory)
    os.close(pid_r)
    process.set_name("minirun:[MON]")
    return _monitor(root or None, cid, int(ready), argv[3:] == ["attach"], pid_w)


def _monitor(root: str | None, cid: str, ready: int, wait_attach: bool, keeper_fd: int) -> int:
    """The monitor's life: run the container; if its owner has died, remove
    it after, as `rm -f -v` would (owner.py)."""
    store = Store(root)
    from minirun.engine.containers import owner as owners
    owner = owners.watch(store, cid)
    if owner and owner.died():          # before anything is made for it
        owners.discard(store, cid)      # (gone before the starter hears why)
        _tell(ready, f"error 125 {owner.gone_error()}\n")
        return 1
    from minirun.engine.containers import restart
    restart.clear(store, cid)           # a start: it may restart again
    done = 0
    try:
        while True:
            code = run_container(root, cid, foreground=False, ready_fd=ready, store=store,
                                 wait_attach=wait_attach, keeper_fd=keeper_fd, owner=owner)
            ready, keeper_fd, wait_attach = -1, -1, False      # told once
            try:
                rec = ct.record(store, cid)
            except ct.ContainerError:
                break                   # removed meanwhile
            if (owner and owner.died()) or not restart.again(store, rec, code, done):
                break
            time.sleep(restart.delay(done))
            if restart.stopped_by_hand(store, cid):
                break                   # stopped while we waited
            done += 1
            restart.record(store, cid, done)
    except MiniRunError:
        return 1          # already told the starter through the pipe
    finally:
        if owner and owner.died():
            owners.discard(store, cid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
