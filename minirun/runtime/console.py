"""Terminals: a pseudo-terminal for a process that asked for one.

As runc does it: the container's process opens a pty *inside* the container
(its devpts), makes the slave its controlling terminal and stdio, and sends
the master to whoever holds the other end of ``--console-socket`` (podman's
conmon) as an ``SCM_RIGHTS`` message.  With no socket (``minirun-oci run -t``
from a shell), the runtime itself receives the master and copies bytes
between it and its own terminal.

Why (``--explain`` prints the item under the call):

- openpty: the pair is opened *inside* the container, in its own devpts,
  so that the terminal is one the container can name (pty(7))
- send master: the master end goes to whoever holds the console socket,
  which then copies bytes between it and the user's terminal (unix(7))

See: pty(7), unix(7) SCM_RIGHTS, tty_ioctl(4)
"""
import fcntl
import os
import signal
import socket
import struct
import termios

from minirun import explain


def connect(path: str) -> int:
    """Connect to --console-socket in the parent, where its path resolves."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"cannot connect to the console socket: {e.strerror}",
                      path) from None
    return s.detach()


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def setup_in_container(k, console_fd: int, proc, bind_console: bool) -> None:
    """Open the pty, hand the master over, make the slave our stdio."""
    explain.say("openpty() in the container's devpts", why="openpty")
    master, slave = os.openpty()
    if proc.console_size and all(proc.console_size):
        set_size(master, *proc.console_size)
    try:
        os.fchown(slave, proc.user.uid, -1)
    except OSError:
        pass
    if bind_console:
        fd = os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.close(fd)
        k.mounts.mount(os.ttyname(slave), "/dev/console", None, k.mounts.MS_BIND)
    sock = socket.socket(fileno=console_fd)
    explain.say("sendmsg(console socket, SCM_RIGHTS [pty master])", why="send master")
    socket.send_fds(sock, [b"/dev/ptmx"], [master])
    sock.close()
    os.close(master)
    k.process.make_controlling_terminal(slave)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


class OwnTerminal:
    """A console socket of our own (a socket pair), for `run -t` and
    `exec -t` without --console-socket: the child end goes to the container,
    the master comes back on ours, and :func:`proxy` serves it."""

    def __init__(self):
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def child_fd(self) -> int:
        return self.theirs.fileno()

    def receive_master(self) -> int:
        self.theirs.close()
        try:
            _, fds, _, _ = socket.recv_fds(self.ours, 1024, 1)
        finally:
            self.ours.close()
        if not fds:
            raise OSError(5, "the container sent no terminal", "console socket")
        return fds[0]


def proxy(master: int, pid_alive) -> None:
    """Copy our terminal to the pty master and back until the process ends."""
    import select
    import tty
    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def resize(*_):
        if stdin_tty:
            rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
            set_size(master, rows, cols)
    old = signal.signal(signal.SIGWINCH, resize)
    try:
        if stdin_tty:
            tty.setraw(0)
            resize()
        inputs = [master, 0]
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [], 0.2)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)
            if not ready and not pid_alive():
                break
    finally:
        signal.signal(signal.SIGWINCH, old)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
