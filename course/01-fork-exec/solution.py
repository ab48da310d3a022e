#!/usr/bin/env python3
"""Level 1: run a program as a child process, and look at it in /proc.

    python3 container.py run [--show] PROGRAM [ARGS...]

The parent forks; the child replaces itself with PROGRAM (exec); the
parent waits for it and exits with its exit status, as a shell does.
With --show, the parent prints what /proc says about the child before
waiting: its name, its parent, its command line.
"""
import os
import signal
import sys


def show(pid: int) -> None:
    """What the kernel says about process ``pid``, from /proc/PID."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().rstrip(b"\0").split(b"\0")
    print(f"child {pid}: Name={fields['Name'].strip()} PPid={fields['PPid'].strip()} "
          f"cmdline={' '.join(a.decode() for a in argv)}", file=sys.stderr, flush=True)


def run(argv: list[str], showing: bool) -> int:
    read_end, write_end = os.pipe()         # the child waits until the parent has looked
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.read(read_end, 1)
        # Python ignores SIGPIPE and SIGXFSZ, and a signal ignored stays
        # ignored across exec: put them back, or the program never sees them.
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print(f"container: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
            os._exit(127)
    os.close(read_end)
    print(f"container: parent {os.getpid()} started child {pid}", file=sys.stderr, flush=True)
    if showing:
        show(pid)                           # (still this program: exec has not happened)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
        else 128 + os.WTERMSIG(status)


def main(args: list[str]) -> int:
    if len(args) < 2 or args[0] != "run":
        print("usage: container.py run [--show] PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    showing = args[1] == "--show"
    argv = args[2:] if showing else args[1:]
    return run(argv, showing)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
