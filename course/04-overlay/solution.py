#!/usr/bin/env python3
"""Level 4: the root filesystem as layers, with overlayfs.

    python3 container.py run [--show] [--hostname NAME] [--rootfs DIR]
                             [--layer DIR]... [--keep-upper DIR] PROGRAM [ARGS...]

    runtime (this program, on the host)   makes upper/ work/ merged/, waits,
      |                                  removes them (or keeps them: --keep-upper)
      '- child                           unshare(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS), fork
           '- init (pid 1 inside)        enter_rootfs(): the overlay of the layers
                                         on merged/, then as level 3; exec PROGRAM

The layers (lowest first on the command line) are read-only: every change
the program makes lands in upper/.  A file changed there is first copied
up whole; a file deleted there leaves a whiteout, a 0:0 character device.
The overlay is mounted in init, inside the container's mount namespace, so
it cannot outlive the container.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import linux  # noqa: E402  (course/lib/linux.py: the syscalls os lacks)


def show(pid: int) -> None:
    """What the kernel says about process ``pid``, from /proc/PID."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().rstrip(b"\0").split(b"\0")
    print(f"child {pid}: Name={fields['Name'].strip()} PPid={fields['PPid'].strip()} "
          f"cmdline={' '.join(a.decode() for a in argv)}", file=sys.stderr, flush=True)


def run(opts) -> int:
    if not opts.layer:
        return start(opts)
    opts.scratch = make_scratch(opts.keep_upper)
    try:
        return start(opts)
    finally:
        if not opts.keep_upper:
            shutil.rmtree(opts.scratch)     # the overlay died with the mount namespace


def start(opts) -> int:
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


def make_scratch(keep: str | None) -> str:
    """The overlay's own directories, in ``keep`` or in a new temporary
    directory: upper/ (the changes), work/ (overlayfs's scratch space, empty,
    on the same filesystem as upper/) and merged/ (where the union appears)."""
    top = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="container-")
    for name in ("upper", "work", "merged"):
        os.makedirs(os.path.join(top, name), exist_ok=True)
    return top


def child(opts) -> int:
    """The runtime's child: new namespaces, then pid 1 in them."""
    linux.unshare(linux.CLONE_NEWUTS | linux.CLONE_NEWPID | linux.CLONE_NEWNS)
    pid = os.fork()                         # the first child since the unshare: pid 1
    if pid == 0:
        leave(init, opts)
    print(f"container: pid 1 of the new namespace is host pid {pid}", file=sys.stderr,
          flush=True)
    return wait(pid)                        # only a parent can wait: init is ours


def init(opts) -> int:
    """pid 1 of the new PID namespace: name the machine, become PROGRAM."""
    if opts.rootfs or opts.layer:
        enter_rootfs(opts)
    if opts.hostname:
        linux.sethostname(opts.hostname)    # in our UTS namespace only
    return execute(opts.argv)


def enter_rootfs(opts) -> None:
    """Make the rootfs (--rootfs, or the overlay of the --layer's) our "/",
    with a /proc of our own.  In init, because a /proc shows the PID
    namespace of the process that mounts it."""
    make_mounts_private()                   # first: the overlay must not reach the host
    rootfs = mount_overlay(opts.layer, opts.scratch) if opts.layer else opts.rootfs
    bind_onto_itself(rootfs)
    mount_proc(rootfs)                      # while the host's /proc is in view
    pivot_into(rootfs)


def make_mounts_private() -> None:
    """Cut our copies of the host's mounts off from the host's.  A shared
    mount passes new mounts below it to its peers: without this, the bind
    below would appear on the host and outlive us (and pivot_root refuses
    a shared mount: EINVAL)."""
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)


def mount_overlay(layers: list[str], scratch: str) -> str:
    """The union of ``layers`` (lowest first) and scratch/upper on
    scratch/merged; returns scratch/merged.  overlayfs lists lowerdir from
    the top down, so the order turns around."""
    lower = ":".join(os.path.abspath(d) for d in reversed(layers))
    merged = os.path.join(scratch, "merged")
    linux.mount("overlay", merged, "overlay", 0,
                f"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work")
    return merged


def bind_onto_itself(rootfs: str) -> None:
    """pivot_root needs the new root to be a mount point; a bind of the
    directory onto itself makes one (MS_REC: with what is mounted below)."""
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)


def mount_proc(rootfs: str) -> None:
    """A proc of our own at rootfs/proc: ps reads it, and it lists only the
    processes of our PID namespace.  Before the pivot: in a user namespace
    (level 5) the kernel allows a new proc only while a whole one is in view."""
    linux.mount("proc", os.path.join(rootfs, "proc"), "proc",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def pivot_into(rootfs: str) -> None:
    """Make the rootfs "/" and drop the host's tree.  pivot_root(".", ".")
    puts the new root in place and stacks the old one on top of it, at the
    same spot; unmounting "." then takes the old one off.  MNT_DETACH: the
    host's tree is busy (our own open files), so detach it now, free it later."""
    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")


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
    parser.add_argument("--rootfs", help="the directory to use as /")
    parser.add_argument("--layer", action="append", default=[],
                        help="a read-only layer of the rootfs (repeat it, lowest first)")
    parser.add_argument("--keep-upper", metavar="DIR",
                        help="make upper/ and work/ in DIR and keep them")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS...]")
    if not args or args[0] != "run":
        parser.print_usage(sys.stderr)
        return 2
    opts = parser.parse_args(args[1:])
    if not opts.argv:
        parser.error("no PROGRAM to run")
    if opts.rootfs and opts.layer:
        parser.error("--rootfs or --layer, not both")
    return run(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
