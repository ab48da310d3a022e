"""The one protocol between the runtime and the processes it forks.

Two close-on-exec pipes, one each way.  Each message is one line (``go``,
``pid 4242``, ``ready``); a failure is always ``error STEP:ERRNO:DETAIL``.
End-of-file means the other side exited or exec'd, which is how the parent
learns that ``execve`` succeeded (CPython's subprocess does the same).  The
parent turns an error into one exception naming the step; the child never
prints it (rule 6 of STYLE.md).
"""
import os

from minirun import explain
from minirun.errors import CommandNotExecutable, CommandNotFound, LaunchError


class Channel:
    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.buffer = b""

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        """(the parent's end, the child's end)."""
        down_r, down_w = os.pipe2(os.O_CLOEXEC)    # parent -> child
        up_r, up_w = os.pipe2(os.O_CLOEXEC)        # child -> parent
        return cls(up_r, down_w), cls(down_r, up_w)

    def send(self, message: str) -> None:
        """Send; if the other side has died, raise the error it reported."""
        data = (message.replace("\n", " ") + "\n").encode(errors="replace")
        try:
            while data:
                data = data[os.write(self.write_fd, data):]
        except BrokenPipeError:
            self.recv(message)
            raise LaunchError(message, 0, "the container process exited early") from None

    def recv(self, what: str) -> str | None:
        """The next message; raise LaunchError on ``error``; None on EOF."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = line.decode(errors="replace")
        if message.startswith("error "):
            step, errno, detail = message[6:].split(":", 2)
            raise launch_error(step, int(errno), detail)
        return message

    def expect(self, word: str) -> str:
        """Wait for ``word``; return what follows it on the line."""
        message = self.recv(word)
        if message is None:
            raise LaunchError(word, 0, f"the container process exited before `{word}`")
        head, _, arg = message.partition(" ")
        if head != word:
            raise LaunchError(word, 0, f"protocol error: expected `{word}`, got `{message}`")
        return arg

    def fds(self) -> set[int]:
        return {self.read_fd, self.write_fd}

    def close(self) -> None:
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass


def launch_error(step: str, errno: int, detail: str) -> LaunchError:
    if step == "exec":
        if errno == 2:
            return CommandNotFound(step, errno, detail)
        if errno in (13, 8, 21):  # EACCES, ENOEXEC, EISDIR
            return CommandNotExecutable(step, errno, detail)
    return LaunchError(step, errno, detail)


class Step:
    """Names the step a child is in, for the error it reports if it fails."""

    def __init__(self):
        self.name = "start"

    def __call__(self, name: str) -> "Step":
        if name != self.name:
            explain.say(f"-- {name}")
        self.name = name
        return self


def report(chan: Channel, step: Step, exc: BaseException) -> int:
    """Send the failure of the current step to the parent; return the exit
    code the child should end with (127/126 for exec, as a shell would).

    After `create` has returned nobody listens any more: then the message
    goes to the container's stderr, which is all that is left.
    """
    if isinstance(exc, LaunchError):
        name, errno, detail = exc.step, exc.errno, exc.detail
    elif isinstance(exc, OSError):
        name, errno, detail = step.name, exc.errno or 0, exc.strerror or str(exc)
        if exc.filename:
            detail = f"{detail} (`{exc.filename}`)"
    else:
        name, errno, detail = step.name, 0, f"{type(exc).__name__}: {exc}"
    try:
        chan.send(f"error {name}:{errno}:{detail[:3000]}")
    except (OSError, LaunchError):
        os.write(2, f"minirun: {name}: {detail}\n".encode(errors="replace"))
    err = launch_error(name, errno, detail)
    return err.exit_code if err.exit_code != 125 else 1


def child_exit(code: int = 0) -> None:
    """Leave a forked child without running the parent's cleanup code."""
    os._exit(code)
