#!/usr/bin/env python3
"""Level 1: run a program as a child process, and look at it in /proc.

    python3 container.py run [--show] PROGRAM [ARGS...]

Fill in the TODOs; `make check LEVEL=1` tells you how far you are.
"""
import sys


def show(pid: int) -> None:
    """Print what the kernel says about process ``pid`` to stderr, as
    ``child PID: Name=NAME PPid=PPID cmdline=ARGS...``."""
    # TODO(level 1): read /proc/PID/status (lines "Name:\tsh") and
    # /proc/PID/cmdline (the arguments, each ending in a NUL byte).
    raise NotImplementedError("show")


def run(argv: list[str], showing: bool) -> int:
    """Fork; in the child, exec ``argv``; in the parent, print
    ``container: parent PID started child PID`` to stderr, show the child
    if ``showing`` (before it execs: make it wait on a pipe), wait for it,
    and return its exit code (128 + the signal if a signal killed it)."""
    # TODO(level 1): os.fork(), os.execvp(), os.waitpid(), os.pipe().  The
    # child blocks in os.read(read_end, 1) until the parent closes its
    # write end (the read then returns b""): no byte need be written.
    # If exec fails, the child must print why and leave with os._exit(127):
    # a plain exit would run the parent's clean-up code twice.  Before exec,
    # signal.signal(SIGPIPE and SIGXFSZ, signal.SIG_DFL): see the README.
    raise NotImplementedError("run")


def main(args: list[str]) -> int:
    if len(args) < 2 or args[0] != "run":
        print("usage: container.py run [--show] PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    showing = args[1] == "--show"
    argv = args[2:] if showing else args[1:]
    return run(argv, showing)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
