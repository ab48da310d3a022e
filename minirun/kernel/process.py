"""Process attributes set with prctl(2) and friends before execve.

A *child subreaper* adopts orphaned descendants, as init would.  The last
steps of a launch are here too.

Why each is taken (``--explain`` prints the item under the call):

- dumpable: *dumpable* off makes /proc/PID root-owned and un-ptrace-able,
  so that nothing in the container can reach the runtime's own executable
  through /proc/PID/exe while the runtime is inside (CVE-2019-5736) (prctl(2))
- no_new_privs: set-uid programs and file capabilities can no longer grant
  more than the process has, in it and in everything it runs (prctl(2))
- terminal: a session of its own whose controlling terminal is the
  container's pseudo-terminal, so that Ctrl-C reaches its programs (setsid(2), tty_ioctl(4))
- signals: an ignored signal stays ignored across execve: every signal goes
  back to its default action, none blocked, so that the container's
  program starts as if from a clean shell (sigaction(2), signal(7))
- chdir: a new working directory: after pivot_root the new /, before
  execve the one the container's process asks for (chdir(2))
- fchdir: enter the directory a descriptor holds, one opened before a path
  could lead elsewhere (fchdir(2))
- umask: the file mode mask the config asks for: the permissions new files
  will not get (umask(2))
- execve: replace the runtime's program with the container's: same pid, same
  namespaces, cgroup and limits, nothing of the runtime's memory (execve(2))

See: prctl(2), setsid(2), tty_ioctl(4), chdir(2), umask(2), close_range(2), execve(2)
"""
import fcntl
import os
import termios

from minirun import explain
from minirun.kernel._native import check, lib

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


def prctl(option: int, arg2: int = 0, name: str = "prctl") -> int:
    return check(lib.mr_prctl(option, arg2, 0, 0, 0), name)


def set_dumpable(on: bool) -> None:
    explain.say(f"prctl(PR_SET_DUMPABLE, {int(on)})", why="dumpable")
    prctl(PR_SET_DUMPABLE, int(on), "prctl(PR_SET_DUMPABLE)")


def set_no_new_privs() -> None:
    explain.say("prctl(PR_SET_NO_NEW_PRIVS, 1)", why="no_new_privs")
    prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def die_with_parent(signal: int) -> None:
    """``signal`` to us when the thread that forked us exits (it is kept
    across execve): a helper such as pasta goes with its monitor, however
    the monitor ends."""
    prctl(PR_SET_PDEATHSIG, signal, "prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1, "prctl(PR_SET_CHILD_SUBREAPER)")


def set_name(title: str) -> None:
    """The name ps shows (15 bytes), like youki's ``youki:[2:INIT]``."""
    from minirun.kernel._native import ffi
    buf = ffi.new("char[16]", title.encode()[:15])
    lib.mr_prctl(PR_SET_NAME, int(ffi.cast("unsigned long", buf)), 0, 0, 0)


def make_controlling_terminal(fd: int) -> None:
    """Start a session and make the terminal ``fd`` its controlling tty."""
    explain.say("setsid(); ioctl(TIOCSCTTY)", why="terminal")
    os.setsid()
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def default_signals() -> None:
    """Every signal back to its default action, and none blocked: what a
    process about to exec a container's program should pass on (ignored
    signals survive execve).  rt_sigaction directly: the C library will
    not touch the two real-time signals it reserves (32, 33).

    See: sigaction(2), signal(7) ("Signal mask and pending signals")"""
    import signal
    explain.say("rt_sigaction(1..64, SIG_DFL); sigprocmask(SIG_SETMASK, {})", why="signals")
    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            lib.mr_signal_default(sig)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def chdir(path: str) -> None:
    explain.say(f'chdir("{path}")', why="chdir")
    os.chdir(path)


def fchdir(fd: int) -> None:
    explain.say(f"fchdir({fd})", why="fchdir")
    os.fchdir(fd)


def umask(mask: int) -> None:
    explain.say(f"umask({mask:04o})", why="umask")
    os.umask(mask)


def close_range(first: int, last: int) -> None:
    """Close descriptors first..last: close_range(2) through os.closerange,
    which needs no /proc to find them."""
    os.closerange(first, last + 1)


def execve(path: str, args: list[str], env: dict[str, str]) -> None:
    explain.say(f"execve({path!r}, {args!r})", why="execve")
    os.execve(path, args, env)
