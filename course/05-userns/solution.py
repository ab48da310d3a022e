#!/usr/bin/env python3
"""Level 5: all of it as a plain user, in a user namespace.

    python3 container.py run [--show] [--hostname NAME] [--rootfs DIR]
                             [--layer DIR]... [--keep-upper DIR]
                             [--rootless] [--idmap single|full] PROGRAM [ARGS...]

    runtime (this program, on the host)   writes the child's uid/gid maps
      '- child                           unshare(CLONE_NEWUSER), wait for the maps,
           |                             unshare(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS), fork
           '- init (pid 1 inside)        as in level 4; exec PROGRAM

Rootless (--rootless, or whenever we are not root), the child first makes
a user namespace: in it, it holds every capability, over the namespaces
it makes next and the files whose owners its map names.  The maps come
from the runtime, over a pipe: "single" maps our own uid and gid to 0
(written straight to /proc/PID/uid_map, after "deny" in setgroups);
"full" adds our range from /etc/subuid and /etc/subgid as ids 1..N,
through the set-uid helpers newuidmap and newgidmap.
"""
import argparse
import errno
import os
import pwd
import shutil
import signal
import subprocess
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
    opts.userns = None                      # rootless: an fd of the child's user namespace
    if not opts.layer:
        return start(opts)
    opts.scratch = make_scratch(opts.keep_upper)
    try:
        return start(opts)
    finally:
        if not opts.keep_upper:             # the overlay died with the mount namespace
            remove(opts.scratch, opts.userns)


def start(opts) -> int:
    go_r, go_w = os.pipe()                  # parent -> child: go on (looked at, mapped)
    ready_r, ready_w = os.pipe()            # child -> parent: my user namespace is made
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        leave(child, opts, go_r, ready_w)
    os.close(go_r)
    os.close(ready_w)
    print(f"container: parent {os.getpid()} started child {pid}", file=sys.stderr, flush=True)
    if opts.show:
        show(pid)
    try:
        if opts.rootless and os.read(ready_r, 1):   # b"": it failed, and says why
            opts.userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            write_maps(pid, opts.idmap)
    except OSError as e:
        print(f"container: write_maps: {e}", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)        # it must not go on without its maps
        wait(pid)
        return 125
    except BaseException:                   # a bug, say NotImplementedError: the same
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        raise
    os.close(ready_r)
    os.close(go_w)                          # the child reads end-of-file: go on
    return wait(pid)


def write_maps(pid: int, idmap: str) -> None:
    """Write the uid and gid maps of process ``pid`` (in a new user
    namespace), from here: only a process outside it may, and once each.
    A map's lines read ``INSIDE OUTSIDE COUNT``."""
    uid, gid = os.getuid(), os.getgid()
    if idmap == "single":
        write_file(f"/proc/{pid}/uid_map", f"0 {uid} 1\n")
        # A plain user may map its gid only once setgroups(2) is off in
        # there: dropping a group could grant what a group entry denies.
        write_file(f"/proc/{pid}/setgroups", "deny")
        write_file(f"/proc/{pid}/gid_map", f"0 {gid} 1\n")
    else:
        name = pwd.getpwuid(uid).pw_name
        newmap("newuidmap", pid, uid, subordinate_range("/etc/subuid", name, uid))
        newmap("newgidmap", pid, gid, subordinate_range("/etc/subgid", name, uid))


def write_file(path: str, text: str) -> None:
    with open(path, "w") as f:              # one write(2): the kernel takes a map whole
        f.write(text)


def subordinate_range(path: str, name: str, uid: int) -> tuple[int, int]:
    """(first id, count) of the first range ``path`` gives the user: lines
    ``NAME:FIRST:COUNT`` (or ``UID:FIRST:COUNT``), as subuid(5) says."""
    with open(path) as f:
        for line in f:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in (name, str(uid)):
                return int(parts[1]), int(parts[2])
    raise OSError(errno.ENOENT, f"no range for {name} (try --idmap single)", path)


def newmap(helper: str, pid: int, own: int, sub: tuple[int, int]) -> None:
    """Our own id as 0, the subordinate range as 1..N, written by the
    set-uid helper (newuidmap/newgidmap), which checks that they are ours."""
    argv = [helper, str(pid), "0", str(own), "1", "1", str(sub[0]), str(sub[1])]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(errno.EPERM, f"{helper} failed: {r.stderr.strip()}", f"/proc/{pid}")


def make_scratch(keep: str | None) -> str:
    """The overlay's own directories, in ``keep`` or in a new temporary
    directory: upper/ (the changes), work/ (overlayfs's scratch space, empty,
    on the same filesystem as upper/) and merged/ (where the union appears)."""
    top = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="container-")
    for name in ("upper", "work", "merged"):
        os.makedirs(os.path.join(top, name), exist_ok=True)
    return top


def remove(path: str, userns: int | None) -> None:
    """``shutil.rmtree(path)``; rootless, from inside the container's user
    namespace (our fd keeps it), where we hold every capability over the
    files of mapped ids: those of subordinate ids are not ours out here."""
    if userns is None:
        shutil.rmtree(path)
        return
    pid = os.fork()
    if pid == 0:
        leave(remove_inside, path, userns)
    wait(pid)
    os.close(userns)


def remove_inside(path: str, userns: int) -> int:
    linux.setns(userns, linux.CLONE_NEWUSER)
    shutil.rmtree(path)
    return 0


def child(opts, go: int, ready: int) -> int:
    """The runtime's child: a user namespace first (rootless), then the
    other namespaces, then pid 1 in them."""
    if opts.rootless:
        enter_user_namespace(ready)
    os.close(ready)
    os.read(go, 1)                          # until the parent has written our maps
    os.close(go)
    linux.unshare(linux.CLONE_NEWUTS | linux.CLONE_NEWPID | linux.CLONE_NEWNS)
    pid = os.fork()                         # the first child since the unshare: pid 1
    if pid == 0:
        leave(init, opts)
    print(f"container: pid 1 of the new namespace is host pid {pid}", file=sys.stderr,
          flush=True)
    return wait(pid)                        # only a parent can wait: init is ours


def enter_user_namespace(ready: int) -> None:
    """unshare(CLONE_NEWUSER), then tell the parent, which writes our maps.
    First of all: the namespaces made after it belong to it, and its
    capabilities are what allow us to make them."""
    linux.unshare(linux.CLONE_NEWUSER)
    os.write(ready, b"u")


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
    rootfs = mount_overlay(opts.layer, opts.scratch, opts.rootless) if opts.layer \
        else opts.rootfs
    bind_onto_itself(rootfs)
    mount_proc(rootfs)                      # while the host's /proc is in view
    pivot_into(rootfs)


def make_mounts_private() -> None:
    """Cut our copies of the host's mounts off from the host's.  A shared
    mount passes new mounts below it to its peers: without this, the bind
    below would appear on the host and outlive us (and pivot_root refuses
    a shared mount: EINVAL)."""
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)


def mount_overlay(layers: list[str], scratch: str, in_userns: bool) -> str:
    """The union of ``layers`` (lowest first) and scratch/upper on
    scratch/merged; returns scratch/merged.  overlayfs lists lowerdir from
    the top down, so the order turns around."""
    lower = ":".join(os.path.abspath(d) for d in reversed(layers))
    merged = os.path.join(scratch, "merged")
    data = f"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work"
    if in_userns:
        # overlayfs writes notes (a directory is opaque, ...) as trusted.*
        # xattrs, which only the host's root may write: user.* ones instead.
        data += ",userxattr"
    linux.mount("overlay", merged, "overlay", 0, data)
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


def leave(body, *args) -> None:
    """In a forked process: run ``body(*args)``, then exit with what it
    returns.  Never return into the caller's code: this copy would go on
    running the parent's.  A failed system call is one line and 125."""
    try:
        code = body(*args)
    except OSError as e:
        print(f"container: {body.__name__}: {e}", file=sys.stderr)
        code = 125
    except Exception:                   # noqa: BLE001  (a bug, say NotImplementedError)
        traceback.print_exc()
        code = 125
    sys.stderr.flush()
    os._exit(code)


def has_subordinate_ids() -> bool:
    try:
        subordinate_range("/etc/subuid", pwd.getpwuid(os.getuid()).pw_name, os.getuid())
    except (OSError, KeyError):
        return False
    return shutil.which("newuidmap") is not None


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="container.py run")
    parser.add_argument("--show", action="store_true", help="print /proc's view of the child")
    parser.add_argument("--hostname", help="the hostname inside")
    parser.add_argument("--rootfs", help="the directory to use as /")
    parser.add_argument("--layer", action="append", default=[],
                        help="a read-only layer of the rootfs (repeat it, lowest first)")
    parser.add_argument("--keep-upper", metavar="DIR",
                        help="make upper/ and work/ in DIR and keep them")
    parser.add_argument("--rootless", action="store_true",
                        help="in a user namespace (always, when not root)")
    parser.add_argument("--idmap", choices=["single", "full"],
                        help="our ids only, or with /etc/subuid's (default: full if it has some)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS...]")
    if not args or args[0] != "run":
        parser.print_usage(sys.stderr)
        return 2
    opts = parser.parse_args(args[1:])
    if not opts.argv:
        parser.error("no PROGRAM to run")
    if opts.rootfs and opts.layer:
        parser.error("--rootfs or --layer, not both")
    opts.rootless = opts.rootless or os.geteuid() != 0
    if opts.idmap is None:
        opts.idmap = "full" if has_subordinate_ids() else "single"
    return run(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
