"""The exit file, ``<store>/containers/<id>/exit``: the line ``PID CODE``,
written by the monitor when its container ends, or by the keeper
(``minirun:[EXIT]``, the monitor's parent and a child subreaper) when the
monitor died first.  It is made with room for its line before the
container starts and written in place, so a full disk cannot lose the code;
the next command that finds the monitor gone reads it
(engine/containers/lifecycle.refresh).
"""
import os

from minirun.engine.containers.log import say


def exit_path(directory: str) -> str:
    return os.path.join(directory, "exit")


def prepare_exit(directory: str) -> None:
    """The exit file, with room for its one line, before the container starts:
    writing the code in place later needs no space on a full disk."""
    fd = os.open(exit_path(directory), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.pwrite(fd, b" " * 63 + b"\n", 0)
    finally:
        os.close(fd)


def write_exit(directory: str, pid: int, code: int) -> None:
    """``PID CODE`` into the exit file (the pid: this run of the container's)."""
    try:
        fd = os.open(exit_path(directory), os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return                    # removed meanwhile (rm -f): nobody will ask
    try:
        os.pwrite(fd, f"{pid} {code}".encode().ljust(63) + b"\n", 0)
    except OSError as e:
        say(f"cannot record exit code {code} in {exit_path(directory)}: {e.strerror}")
    finally:
        os.close(fd)


def read_exit(directory: str, pid: int, wait: float = 2.0) -> int | None:
    """The exit code the monitor or its keeper wrote for ``pid``; None if
    neither could (both killed).  A keeper still alive is about to write
    it: it holds the file locked until it has, so wait for it (``wait`` s)."""
    import fcntl
    import time
    try:
        fd = os.open(exit_path(directory), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        fields = os.pread(fd, 64, 0).split()
    finally:
        os.close(fd)
    if len(fields) == 2 and fields[0] == str(pid).encode():
        return int(fields[1])
    return None


def keep(monitor: int, pid_r: int, directory: str) -> int:
    """The keeper: wait for the monitor; if it died before the container, the
    container is now ours (we are a child subreaper): wait for it and write
    its exit code.  The exit file stays locked until then: a reader waits
    for the code rather than taking its absence for an answer."""
    import fcntl
    from minirun.runtime.lifecycle import exit_code
    try:
        fcntl.flock(os.open(exit_path(directory), os.O_RDONLY | os.O_CLOEXEC),
                    fcntl.LOCK_EX)          # held until we exit
    except OSError:
        pass                            # no exit file: the container was removed
    os.waitpid(monitor, 0)
    data = b""
    while chunk := os.read(pid_r, 64):
        data += chunk
    pid = int(data) if data.strip().isdigit() else 0
    try:
        if pid:
            _, status = os.waitpid(pid, 0)
            write_exit(directory, pid, exit_code(status))
    except ChildProcessError:
        pass                    # the monitor waited for it: all is recorded
    return 0
