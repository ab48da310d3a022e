"""A forked child and the channel to talk to it: fork(2) with two pipes.

Every process minirun forks to do work in other namespaces is made here:
the runtime's CHILD (runtime/launch.py), the store's user-namespace child
(engine/userns.py) and the namespace holders (engine/userns.hold,
engine/network/rootlessnet.py).  They all speak one protocol:

- Two close-on-exec pipes, one each way; each message is one line,
  a word and what follows it (``userns``, ``go``, ``pid 4242``, ``ready``,
  ``result [1, 2]``).  The words are the caller's; a handshake is the
  parent waiting for one (:meth:`Channel.expect`) and answering.
- A failure is always one line, ``error STEP:ERRNO:DETAIL``, naming the
  step the child was in (:class:`Step`).  The parent turns it into one
  exception with the channel's ``error`` function (the launch names the
  step; the store rebuilds the class of minirun's error); the child never
  prints it (rule 6 of STYLE.md).
- End-of-file means the other side exited or exec'd: that is how the
  parent learns that ``execve`` succeeded (CPython's subprocess does the
  same), and how a holder learns that it may go.
- The child leaves with ``os._exit``: the parent's cleanup code (``finally``
  blocks, atexit, buffered output) must not run twice.

``fork(body, *args)`` returns the parent's :class:`Child`; the child runs
``body(chan, step, *args)`` in :func:`serve`.  ``detach=True`` forks twice
and starts a new session, for a holder that must outlive its maker (its
pid arrives as ``pid N``); ``keep_fds`` gives a holder nothing of its
parent's but its channel and those descriptors (stdio goes to /dev/null).

Fork before any thread exists: unshare(CLONE_NEWUSER) refuses a threaded
caller, and a fork copies other threads' locks.

See: fork(2), pipe(2), setsid(2), _exit(2)
"""
import json
import os
import signal
import sys

from minirun import explain
from minirun.errors import LaunchError


class Channel:
    """One end of the two pipes: a line protocol, each way."""

    def __init__(self, read_fd: int, write_fd: int, error=LaunchError,
                 who: str = "the child process"):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.error = error          # (step, errno, detail) -> the exception to raise
        self.who = who              # names the other side in "exited before `go`"
        self.buffer = b""

    @classmethod
    def pair(cls, error=LaunchError, who: str = "the child process") -> tuple["Channel",
                                                                              "Channel"]:
        """(the parent's end, the child's end)."""
        down_r, down_w = os.pipe2(os.O_CLOEXEC)    # parent -> child
        up_r, up_w = os.pipe2(os.O_CLOEXEC)        # child -> parent
        return cls(up_r, down_w, error, who), cls(down_r, up_w, error, who)

    def send(self, message: str) -> None:
        """Send; if the other side has died, raise the error it reported."""
        data = (message.replace("\n", " ") + "\n").encode(errors="replace")
        try:
            while data:
                data = data[os.write(self.write_fd, data):]
        except BrokenPipeError:
            self.recv(message)
            raise self.error(message, 0, f"{self.who} exited early") from None

    def recv(self, what: str) -> str | None:
        """The next message; raise the reported error on ``error``; None on EOF."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = line.decode(errors="replace")
        if message.startswith("error "):
            step, errno, detail = message[6:].split(":", 2)
            raise self.error(step, int(errno), detail)
        return message

    def expect(self, word: str) -> str:
        """Wait for ``word``; return what follows it on the line."""
        message = self.recv(word)
        if message is None:
            raise self.error(word, 0, f"{self.who} exited before `{word}`")
        head, _, arg = message.partition(" ")
        if head != word:
            raise self.error(word, 0, f"protocol error: expected `{word}`, got `{message}`")
        return arg

    def fds(self) -> set[int]:
        return {fd for fd in (self.read_fd, self.write_fd) if fd >= 0}

    def close(self, read: bool = True, write: bool = True) -> None:
        """Close this end (or one direction of it); closing twice is harmless
        (a descriptor number closed twice may by then be someone else's)."""
        if read and self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1
        if write and self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1


class Step:
    """Names the step a child is in, for the error it reports if it fails."""

    def __init__(self, narrate: bool = True):
        self.name = "start"
        self.narrate = narrate      # say each new step under --explain (the launch's)

    def __call__(self, name: str) -> "Step":
        if name != self.name and self.narrate:
            explain.say(f"-- {name}", why=name, depth=2)   # the launch's Why list
        self.name = name
        return self


class Child:
    """The parent's side: the child's pid and the channel to it."""

    def __init__(self, pid: int, chan: Channel):
        self.pid, self.chan = pid, chan

    def expect(self, word: str) -> str:
        return self.chan.expect(word)

    def send(self, message: str) -> None:
        self.chan.send(message)

    def result(self):
        """The value the child's body returned (sent as ``result JSON``)."""
        return json.loads(self.chan.expect("result"))

    def wait(self) -> int:
        """Reap the child (once); its wait status."""
        pid, self.pid = self.pid, 0
        return os.waitpid(pid, 0)[1] if pid else 0

    def kill(self) -> None:
        """SIGKILL and reap the child, if it is still ours; close the channel."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                self.wait()
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        self.chan.close()


def fork(body, *args, error=LaunchError, who: str = "the child process",
         returns: bool = False, detach: bool = False, keep_fds=None,
         narrate: bool = True) -> Child:
    """Fork a child that runs ``body(chan, step, *args)`` (see :func:`serve`);
    the parent's :class:`Child`.  ``returns``: the child sends what ``body``
    returns as ``result JSON``.  ``detach``: fork twice with a new session
    in between (the holder is nobody's child of ours; its pid is read from
    its ``pid N``).  ``keep_fds``: stdio to /dev/null and every descriptor
    closed but the channel's and these.  ``narrate``: --explain says each
    step the child enters (the launch's do; the engine's helpers keep quiet)."""
    parent_end, child_end = Channel.pair(error, who)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except BaseException:
        parent_end.close()
        child_end.close()
        raise
    if pid == 0:
        parent_end.close()
        serve(child_end, body, *args, returns=returns, detach=detach, keep_fds=keep_fds,
              narrate=narrate)
    child_end.close()
    child = Child(pid, parent_end)
    if detach:
        try:
            os.waitpid(pid, 0)          # the first child exits at once
            child.pid = 0
            child.pid = int(child.expect("pid"))
        except BaseException:
            child.kill()
            raise
    return child


def serve(chan: Channel, body, *args, returns: bool = False, detach: bool = False,
          keep_fds=None, narrate: bool = True) -> None:
    """The child's side; never returns.  Runs ``body(chan, step, *args)``;
    an exception goes to the parent as one error line naming ``step``'s
    step; then ``os._exit``, 0 after success (1, or the error's own
    exit code where it has one other than 125: 127, 126 for exec)."""
    code, step = 0, Step(narrate)
    try:
        if detach:
            os.setsid()
            if os.fork():
                os._exit(0)
            chan.send(f"pid {os.getpid()}")
        if keep_fds is not None:
            close_all_but(chan.fds() | set(keep_fds))
        value = body(chan, step, *args)
        if returns:
            _flush()        # what it printed is out before the parent may go on
            chan.send("result " + json.dumps(value))
    except BaseException as e:  # noqa: BLE001 (every failure goes to the parent)
        _flush()
        code = report(chan, step, e)
    finally:
        _flush()
        os._exit(code)


def _flush() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass            # a closed or broken stdio: nothing more can be said there


def close_all_but(keep: set[int]) -> None:
    """Stdio to /dev/null, every other descriptor closed but ``keep``: a
    holder keeps nothing of its maker's (a pipe end of a container's stdio
    kept here would keep its input and output open)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = sorted(fd for fd in keep if fd > 2)
    for low, high in zip([2] + keep, keep + [65536]):
        os.closerange(low + 1, high)


def report(chan: Channel, step: Step, exc: BaseException) -> int:
    """Send the failure of the current step to the parent; return the exit
    code the child should end with (127/126 for exec, as a shell would).

    When nobody listens any more (INIT after `create` has returned), the
    message goes to stderr, which is all that is left.
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
    except Exception:  # noqa: BLE001 (the parent is gone: stderr is all that is left)
        os.write(2, f"minirun: {name}: {detail}\n".encode(errors="replace"))
    code = getattr(chan.error(name, errno, detail), "exit_code", 125)
    return code if code != 125 else 1
