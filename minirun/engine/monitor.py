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
import json
import os
import select
import sys

from minirun.engine import containers as ct, external, network
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
                  ready_fd: int = -1, store: Store | None = None,
                  wait_attach: bool = False) -> int:
    """Run a created container to its end; return its exit code.

    In the foreground our own stdio is the container's (a terminal through
    the runtime's proxy); detached, the container's stdio is ours to serve:
    its output goes to the log and to every attached client, and (with -i)
    the clients' input goes to it (engine/attach.py)."""
    from minirun.runtime import launch, lifecycle
    from minirun.runtime.state import proc_start_time
    store = store or Store(root)
    ct.update(store, cid, monitor=f"{os.getpid()}:{proc_start_time(os.getpid())}")
    rec = ct.record(store, cid)
    d = ct.container_dir(store, cid)
    rs = runtime_store()
    ext = external.for_record(rec)           # --runtime: another OCI runtime
    handle = None
    links = None                             # what keeps its network up: helpers, holders
    tty = bool(rec["options"].get("tty"))
    keep_stdin = not foreground and bool(rec["options"].get("interactive"))
    terminal = server = None
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC) if keep_stdin and not tty else (-1, -1)
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        if rec["options"].get("lazy"):            # its layers in the registry: mounted
            from minirun.lazy import mount
            mount.ensure_for(store, rec["image_id"], d)
        links = network.connect(store, rec, d)      # its network, made first
        if not foreground:
            from minirun.engine.attach import Server
            server = Server(d)
        # The runtime gives the container its own stdio: make ours theirs.
        if tty and ext:
            terminal = external.ConsoleSocket()
        elif tty:
            from minirun.runtime.console import OwnTerminal
            terminal = OwnTerminal()
        if not (tty and foreground):
            stdin = saved[0] if (interactive and foreground) else in_r if in_r >= 0 else devnull
            os.dup2(stdin, 0, inheritable=True)
            os.dup2(out_w, 1, inheritable=True)
            os.dup2(err_w, 2, inheritable=True)
        try:
            if ext:
                from minirun.kernel import process
                process.set_child_subreaper()   # its pid 1 becomes our child to wait for
                try:
                    pid = ext.create(cid, d, terminal.path if terminal else None)
                except BaseException:
                    if terminal:
                        terminal.close()
                    raise
            else:
                state, handle = launch.create(rs, cid, d, console_fd=terminal.child_fd()
                                              if terminal else -1)
                pid = state.pid
        finally:
            for fd, copy in zip((0, 1, 2), saved):
                os.dup2(copy, fd, inheritable=True)
        master = terminal.receive_master() if terminal else -1
        # forwarding from before the start: a signal sent to us as soon as the
        # container speaks must reach it, not kill us and leave it running
        forward = lifecycle.forward_signals(pid) if foreground and master < 0 else {}
        try:
            if wait_attach:
                if ready_fd >= 0:     # the caller attaches now; we start when it has
                    os.write(ready_fd, b"attach\n")
                    os.close(ready_fd)
                    ready_fd = -1
                for kind, payload in server.wait_for_client():
                    _client_frame(kind, payload, master if master >= 0 else in_w,
                                  {master: b"stdout"})
            if ext:
                ext.start(cid)
            else:
                lifecycle.start(rs, cid)
                handle.chan.recv("exec")     # an execve failure arrives here
        except BaseException:
            lifecycle.restore(forward)
            _delete(ext, rs, cid, d)
            raise
        finally:
            if handle:
                handle.chan.close()
        ct.update(store, cid, state="running", pid=pid, started=ct.now(),
                  exit_code=None, finished=None)
        if ready_fd >= 0:
            os.write(ready_fd, f"ok {pid}\n".encode())
            os.close(ready_fd)
            ready_fd = -1
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
        out_w = err_w = in_r = -1
        log = Log(os.path.join(d, "ctr.log"), echo=foreground)
        try:
            if master >= 0 and foreground:   # our terminal: proxied, forwarded, waited for
                code = lifecycle.wait_forwarding(pid, master)
            else:
                streams = {master: b"stdout"} if master >= 0 else \
                    {out_r: b"stdout", err_r: b"stderr"}
                _pump(log, streams, server, master if master >= 0 else in_w, pid)
                code = lifecycle.reap(pid)
        finally:
            log.close()
            lifecycle.restore(forward)
    except MiniRunError as e:
        if ready_fd >= 0:
            os.write(ready_fd, f"error {e.exit_code} {e}\n".encode())
        if server:
            server.broadcast(b"e", f"Error: {e}\n".encode())
            server.close(e.exit_code)
        _finish(store, rs, rec, e.exit_code)
        raise
    finally:
        if links:
            links.close()
        for fd in (out_r, err_r, out_w, err_w, in_r, in_w, devnull, *saved):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    _finish(store, rs, rec, code)
    if server:
        server.close(code)   # after the exit is recorded: the client may read it
    return code


def _pump(log: Log, streams: dict[int, bytes], server=None, input_fd: int = -1,
          pid: int = 0) -> None:
    """Copy the container's output to the log (and attached clients) until
    it closes; pass the clients' input, terminal size and end-of-input on."""
    from minirun.runtime.lifecycle import alive_child
    while streams:
        watched = list(streams) + (server.fds() if server else [])
        try:
            ready, _, _ = select.select(watched, [], [], 0.5)
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
            elif server:
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
    before they go."""
    from minirun.runtime import lifecycle
    ext = external.for_record(rec)
    figures = {} if ext else lifecycle.usage(rs, rec["id"])
    _delete(ext, rs, rec["id"], ct.container_dir(store, rec["id"]))
    if network.private(rec["options"].get("network")):
        network.teardown(store, rec["id"])
    ct.update(store, rec["id"], state="exited", exit_code=code, finished=ct.now(),
              usage=json.dumps(figures))
    if rec["options"].get("rm"):
        ct.remove_files(store, rec["id"])


def start_detached(root: str | None, cid: str, wait_attach: bool = False) -> int:
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
                          str(w)] + (["attach"] if wait_attach else []), stdin=devnull, stdout=devnull, stderr=err, pass_fds=[w],
                         start_new_session=True, close_fds=True)
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
    """python -m minirun.engine.monitor ROOT CID READY_FD [attach]"""
    root, cid, ready = argv[:3]
    from minirun.kernel import process
    process.set_name("minirun:[MON]")
    try:
        run_container(root or None, cid, foreground=False, ready_fd=int(ready),
                      wait_attach=argv[3:] == ["attach"])
    except MiniRunError:
        return 1          # already told the starter through the pipe
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
