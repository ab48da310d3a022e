"""Attaching to a running container, and detaching again (Ctrl-P Ctrl-Q).

A detached container's stdio belongs to its monitor, so that is where one
attaches: the monitor listens on a unix socket, ``attach``, in the
container's directory (as conmon does), and every client gets the output as
it comes and may send input, the terminal's size and end-of-input.  A
client that reads the detach keys from its own terminal just leaves; the
container runs on.

Frames, both ways: one type byte, a 4-byte big-endian length, the data.

    client -> monitor   w: rows, cols (2 x 2 bytes), then h: hello (once, first)
                        i: input bytes   w: a new size   c: end of input
    monitor -> client   o: stdout bytes  e: stderr bytes   x: exit code (ASCII), last

Socket paths are limited to 108 bytes, and a store may sit deep: both ends
name the socket through ``/proc/self/fd/N`` of the container's directory.
"""
import os
import select
import signal
import socket
import struct
import sys

from minirun.errors import MiniRunError

SOCKET = "attach"
HEADER = struct.Struct(">cI")


def frame(kind: bytes, data: bytes) -> bytes:
    return HEADER.pack(kind, len(data)) + data


class Frames:
    """Splits a byte stream into frames as they arrive."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < HEADER.size + size:
                break
            out.append((kind, self.buffer[HEADER.size:HEADER.size + size]))
            self.buffer = self.buffer[HEADER.size + size:]
        return out


def _socket_path(directory: str) -> tuple[int, str]:
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}/{SOCKET}"


# --- the monitor's side ---------------------------------------------------------

class Server:
    """The monitor's end: accepts clients, fans output out, takes input."""

    def __init__(self, directory: str):
        fd, path = _socket_path(directory)
        try:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(path)
            os.chmod(path, 0o600)
            self.listener.listen(8)
        finally:
            os.close(fd)
        self.clients: dict[int, tuple[socket.socket, Frames]] = {}

    def fds(self) -> list[int]:
        return [self.listener.fileno(), *self.clients]

    def wait_for_client(self, timeout: float = 1.0) -> list[tuple[bytes, bytes]]:
        """Block until the first client connects (`run -it`: no output is
        lost), then take its first frames, which a terminal client opens
        with its size: the process then starts at the right size rather
        than being told of a change at once."""
        import time
        ready, _, _ = select.select([self.listener], [], [], 60)
        if not ready:
            raise MiniRunError("nobody attached within a minute: the container was not started")
        self.accept()
        fd = next(iter(self.clients))
        got: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while fd in self.clients and not any(kind == b"h" for kind, _ in got):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            got += self.handle(fd)
        return got

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        self.clients[conn.fileno()] = (conn, Frames())

    def broadcast(self, kind: bytes, data: bytes) -> None:
        for fd, (conn, _) in list(self.clients.items()):
            try:
                conn.sendall(frame(kind, data))
            except OSError:
                self.drop(fd)

    def drop(self, fd: int) -> None:
        conn, _ = self.clients.pop(fd)
        conn.close()

    def handle(self, fd: int) -> list[tuple[bytes, bytes]]:
        """Read what a ready fd has: a new client, or frames from one."""
        if fd == self.listener.fileno():
            self.accept()
            return []
        conn, frames = self.clients[fd]
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(fd)
            return []
        return frames.feed(data)

    def close(self, code: int) -> None:
        self.broadcast(b"x", str(code).encode())
        for fd in list(self.clients):
            self.drop(fd)
        self.listener.close()


# --- the client's side ----------------------------------------------------------

def parse_keys(spec: str) -> bytes:
    """podman's --detach-keys: ``ctrl-p,ctrl-q`` -> b"\\x10\\x11"; "" for none."""
    out = b""
    for key in filter(None, spec.split(",")):
        if key.startswith("ctrl-") and len(key) == 6 and key[5].isalpha():
            out += bytes([ord(key[5].lower()) - ord("a") + 1])
        elif key.startswith("ctrl-") and key[5:] in ("@", "[", "\\", "]", "^", "_"):
            out += bytes([ord(key[5]) ^ 0x40])
        elif len(key) == 1:
            out += key.encode()
        else:
            raise MiniRunError(f"--detach-keys {spec}: `{key}` is not a key "
                               "(use a single character or ctrl-<letter>, comma-separated)")
    return out


def connect(directory: str) -> socket.socket:
    fd, path = _socket_path(directory)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s
    finally:
        os.close(fd)


def attach(store, name: str, detach_keys: str = "ctrl-p,ctrl-q", *, stdin: bool = True,
           wait: bool = False) -> int:
    """Copy the container's output to ours and our input to it until it
    exits (return its exit code) or we read the detach keys (return 0)."""
    from minirun.engine.containers import records as ct, lifecycle
    keys = parse_keys(detach_keys)
    rec = lifecycle.refresh(store, ct.find(store, name))
    if rec["state"] != "running" and not wait:
        raise ct.ContainerError(f"container `{rec['name']}` is {rec['state']}: "
                                "start it before attaching (or use `start -a`)")
    try:
        sock = connect(ct.container_dir(store, rec["id"]))
    except OSError as e:
        raise ct.ContainerError(f"cannot attach to `{rec['name']}`: its monitor does not "
                                f"answer ({e.strerror})") from None
    tty = bool(rec["options"].get("tty"))
    code = _session(sock, keys, tty, stdin and bool(rec["options"].get("interactive")))
    if code is None:                # detached
        sys.stderr.write("\r\n" if tty else "")
        return 0
    return code


def _session(sock: socket.socket, keys: bytes, tty: bool, stdin: bool) -> int | None:
    import fcntl
    import termios
    raw = stdin and tty and os.isatty(0)
    saved = termios.tcgetattr(0) if raw else None

    def send_size(*_):
        if os.isatty(0):
            rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
            try:
                sock.sendall(frame(b"w", struct.pack(">HH", rows, cols)))
            except OSError:
                pass
    old = signal.signal(signal.SIGWINCH, send_size) if tty else None
    frames, matched = Frames(), 0
    try:
        if raw:
            import tty as tty_mod
            tty_mod.setraw(0)
        if tty:
            send_size()
        sock.sendall(frame(b"h", b""))
        inputs = [sock.fileno()] + ([0] if stdin else [])
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    inputs.remove(0)
                    sock.sendall(frame(b"c", b""))
                    continue
                out = b""
                for byte in data:          # watch for the detach keys
                    if keys and byte == keys[matched]:
                        matched += 1
                        if matched == len(keys):
                            return None
                        continue
                    out += keys[:matched] + bytes([byte])
                    matched = 0
                if out:
                    sock.sendall(frame(b"i", out))
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    return _exit_code_unknown()
                for kind, payload in frames.feed(data):
                    if kind == b"x":
                        return int(payload)
                    os.write(2 if kind == b"e" else 1, payload)
    finally:
        if old is not None:
            signal.signal(signal.SIGWINCH, old)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sock.close()


def _exit_code_unknown() -> int:
    raise MiniRunError("the container's monitor went away without an exit code: "
                       "see `minirun ps -a` and the monitor.log in its directory")
