#!/usr/bin/env python3
"""Level 2: a hostname and a pid 1 of its own.

    python3 container.py run [--show] [--hostname NAME] PROGRAM [ARGS...]

This is level 1's solution, reshaped into three processes:

    runtime (this program, on the host)   waits for the child
      '- child                           unshare(CLONE_NEWUTS | CLONE_NEWPID), fork
           '- init (pid 1 inside)        sethostname(NAME), exec PROGRAM

Fill in the TODOs; `sudo make check LEVEL=2` tells you how far you are.
"""
import argparse
import os
import signal
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import linux  # noqa: E402, F401  (course/lib/linux.py: the syscalls os lacks)


def show(pid: int) -> None:
    """What the kernel says about process ``pid``, from /proc/PID."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().rstrip(b"\0").split(b"\0")
    print(f"child {pid}: Name={fields['Name'].strip()} PPid={fields['PPid'].strip()} "
          f"cmdline={' '.join(a.decode() for a in argv)}", file=sys.stderr, flush=True)


def run(opts) -> int:
    read_end, write_end = os.pipe()         # the child waits until the parent has looked
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.read(read_end, 1)
        leave(child, opts)
    os.close(read_end)
    print(f"container: parent {os.getpid()} started child {pid}", file=sys.stderr, flush=True)
    if opts.show:
        show(pid)
    os.close(write_end)
    return wait(pid)


def child(opts) -> int:
    """The runtime's child: new namespaces, then pid 1 in them.

    Unshare a new UTS and a new PID namespace (``linux.unshare`` with
    ``linux.CLONE_NEWUTS | linux.CLONE_NEWPID``), then fork: the new process
    is pid 1 of the new PID namespace, and runs ``leave(init, opts)`` (which
    never returns).  Print ``container: pid 1 of the new namespace is host
    pid PID`` to stderr (PID: what fork returned), and return ``wait(PID)``.
    """
    # TODO(level 2): linux.unshare(), os.fork(), leave(), wait().
    # Why not unshare in run() and skip this process?  A pid is fixed for
    # life: the caller of unshare(CLONE_NEWPID) keeps its own, and only its
    # next child is pid 1.  The runtime also stays on the host, to wait.
    raise NotImplementedError("child")


def init(opts) -> int:
    """pid 1 of the new PID namespace: name the machine, become PROGRAM.

    If ``opts.hostname`` is set, ``linux.sethostname()`` it (this changes
    the name in our new UTS namespace only), then ``return
    execute(opts.argv)``.
    """
    # TODO(level 2): linux.sethostname(), execute().
    raise NotImplementedError("init")


def execute(argv: list[str]) -> int:
    """Become ``argv``; return 127 (and say why) only if exec failed."""
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):     # level 1: Python ignores them
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        print(f"container: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
    return 127


def wait(pid: int) -> int:
    """Wait for ``pid``: its exit code, or 128 + the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
        else 128 + os.WTERMSIG(status)


def leave(body, opts) -> None:
    """In a forked process: run ``body(opts)``, then exit with what it
    returns.  Never return into the caller's code: this copy would go on
    running the parent's.  A failed system call is one line and 125."""
    try:
        code = body(opts)
    except OSError as e:
        print(f"container: {body.__name__}: {e}", file=sys.stderr)
        code = 125
    except Exception:                   # noqa: BLE001  (a bug, say NotImplementedError)
        traceback.print_exc()
        code = 125
    sys.stderr.flush()
    os._exit(code)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="container.py run")
    parser.add_argument("--show", action="store_true", help="print /proc's view of the child")
    parser.add_argument("--hostname", help="the hostname inside")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS...]")
    if not args or args[0] != "run":
        parser.print_usage(sys.stderr)
        return 2
    opts = parser.parse_args(args[1:])
    if not opts.argv:
        parser.error("no PROGRAM to run")
    return run(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
