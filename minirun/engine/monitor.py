"""The monitor: the process that runs one container and watches it.

    create and start it through the runtime (in-process: no second
    interpreter), owning its stdout and stderr through pipes
    -> copy every line into the log (k8s-file format, as podman writes it),
       and to our own terminal for a foreground `run`
    -> wait for it, record its exit code, clean up, remove it if --rm

For `run -d` and `start`, the monitor is a process of its own, in its own
session (``python -m minirun.engine.monitor``): it outlives the command that
started it, and tells that command through a pipe that the container runs
(or why it does not).  Its own errors go to monitor.log beside the log.
"""
import os
import select
import signal
import sys

from minirun.engine import containers as ct
from minirun.engine.lifecycle import runtime_store
from minirun.engine.store import Store
from minirun.errors import MiniRunError


class Log:
    def __init__(self, path: str, echo: bool):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.echo = echo
        self.partial = {b"stdout": b"", b"stderr": b""}

    def write(self, stream: bytes, data: bytes) -> None:
        if self.echo:
            os.write(1 if stream == b"stdout" else 2, data)
        data = self.partial[stream] + data
        *lines, rest = data.split(b"\n")
        out = [ct.now().encode() + b" " + stream + b" F " + line + b"\n" for line in lines]
        if len(rest) > 8192:   # a long line without a newline: write it as partial
            out.append(ct.now().encode() + b" " + stream + b" P " + rest + b"\n")
            rest = b""
        self.partial[stream] = rest
        if out:
            os.write(self.fd, b"".join(out))

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                os.write(self.fd, ct.now().encode() + b" " + stream + b" P " + rest + b"\n")
        os.close(self.fd)


def run_container(root: str | None, cid: str, *, foreground: bool, interactive: bool = False,
                  ready_fd: int = -1, store: Store | None = None) -> int:
    """Run a created container to its end; return its exit code."""
    from minirun.runtime import launch, lifecycle
    from minirun.runtime.state import proc_start_time
    store = store or Store(root)
    ct.update(store, cid, monitor=f"{os.getpid()}:{proc_start_time(os.getpid())}")
    rec = ct.record(store, cid)
    d = ct.container_dir(store, cid)
    rs = runtime_store()
    tty = bool(rec["options"].get("tty"))
    terminal = None
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        # The runtime gives the container its own stdio: make ours theirs.
        if tty and foreground:
            from minirun.runtime.console import OwnTerminal
            terminal = OwnTerminal()
        else:
            os.dup2(saved[0] if (interactive and foreground) else devnull, 0, inheritable=True)
            os.dup2(out_w, 1, inheritable=True)
            os.dup2(err_w, 2, inheritable=True)
        try:
            state, handle = launch.create(rs, cid, d, console_fd=terminal.child_fd()
                                          if terminal else -1)
        finally:
            for fd, copy in zip((0, 1, 2), saved):
                os.dup2(copy, fd, inheritable=True)
        master = terminal.receive_master() if terminal else -1
        try:
            lifecycle.start(rs, cid)
            handle.chan.recv("exec")     # an execve failure arrives here
        except BaseException:
            lifecycle.delete(rs, cid, force=True)
            raise
        finally:
            handle.chan.close()
        ct.update(store, cid, state="running", pid=state.pid, started=ct.now(),
                  exit_code=None, finished=None)
        if ready_fd >= 0:
            os.write(ready_fd, f"ok {state.pid}\n".encode())
            os.close(ready_fd)
            ready_fd = -1
        os.close(out_w), os.close(err_w)
        out_w = err_w = -1
        log = Log(os.path.join(d, "ctr.log"), echo=foreground)
        forward = _forward_signals(state.pid) if foreground else {}
        try:
            if master >= 0:   # a terminal: proxied, forwarded, waited for
                code = lifecycle.wait_forwarding(state.pid, master)
            else:
                _pump(log, {out_r: b"stdout", err_r: b"stderr"})
                code = lifecycle.reap(state.pid)
        finally:
            log.close()
            for s, h in forward.items():
                signal.signal(s, h)
    except MiniRunError as e:
        if ready_fd >= 0:
            os.write(ready_fd, f"error {e.exit_code} {e}\n".encode())
        _finish(store, rs, rec, e.exit_code)
        raise
    finally:
        for fd in (out_r, err_r, out_w, err_w, devnull, *saved):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    _finish(store, rs, rec, code)
    return code


def _forward_signals(pid: int) -> dict:
    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM,
                                                    signal.SIGHUP, signal.SIGQUIT)}


def _pump(log: Log, streams: dict[int, bytes]) -> None:
    while streams:
        try:
            ready, _, _ = select.select(list(streams), [], [])
        except InterruptedError:
            continue
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                log.write(streams[fd], data)
            else:
                del streams[fd]


def _finish(store: Store, rs, rec: dict, code: int) -> None:
    """Clean up in the runtime first, then record the exit: whoever waits for
    "exited" (stop, restart, wait) may start the container again at once."""
    from minirun.runtime import lifecycle
    try:
        lifecycle.delete(rs, rec["id"], force=True)
    except MiniRunError:
        pass
    ct.update(store, rec["id"], state="exited", exit_code=code, finished=ct.now())
    if rec["options"].get("rm"):
        ct.remove_files(store, rec["id"])


def start_detached(root: str | None, cid: str) -> int:
    """Start a monitor that outlives us; return the container's pid once it runs.

    The monitor is a fresh interpreter (``python -m minirun.engine.monitor``),
    not a fork of this one: a forked child would inherit this process's open
    SQLite connection, which SQLite forbids (its POSIX locks do not survive a
    fork, and a write made beside them can be lost)."""
    import subprocess
    r, w = os.pipe2(os.O_CLOEXEC)
    store = Store(root)
    errlog = os.path.join(ct.container_dir(store, cid), "monitor.log")
    with open(os.devnull, "rb") as devnull, open(errlog, "ab") as err:
        subprocess.Popen([sys.executable, "-m", "minirun.engine.monitor", root or "", cid,
                          str(w)], stdin=devnull, stdout=devnull, stderr=err, pass_fds=[w],
                         start_new_session=True, close_fds=True)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
        if b"\n" in data:
            break
    os.close(r)
    line = data.decode(errors="replace").strip()
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
    """python -m minirun.engine.monitor ROOT CID READY_FD"""
    root, cid, ready = argv
    from minirun.kernel import process
    process.set_name("minirun:[MON]")
    try:
        run_container(root or None, cid, foreground=False, ready_fd=int(ready))
    except MiniRunError:
        return 1          # already told the starter through the pipe
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
