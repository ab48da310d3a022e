#!/usr/bin/env python3
"""The classic way out of a chroot, to see why containers use pivot_root.

    python3 escape.py chroot DIR MARKER   chroot into DIR, as a runtime that
                                          only chroots would, then break out
    python3 escape.py join PID MARKER     join the mount namespace of process
                                          PID (a container's), then try the same

It prints ``escaped: MARKER is visible`` or ``stayed inside: MARKER is not
visible``, and what "/" held where it ended.  MARKER is a host path that the
rootfs lacks.  It needs root (CAP_SYS_CHROOT), as a container's root has.

chroot(2) changes one thing: where the process's paths starting with "/"
begin.  It does not move the current directory, and ".." stops only at
the process's root, only when a path passes *through* it.  So:

1. mkdir("hatch"), chroot("hatch"): the root is now /hatch, but the
   current directory is still /, one level above the new root;
2. chdir("..") again and again: the current directory never passes through
   the root, so it climbs to the top of the mount namespace;
3. chroot("."): that top is the root now.

In a chroot-only container, the top is the host's "/".  After pivot_root
and the old root's unmount, the top of the container's mount namespace
is the rootfs itself: there is nothing above it to climb to.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import linux  # noqa: E402


def enter_by_chroot(rootfs: str) -> None:
    os.chroot(rootfs)
    os.chdir("/")


def enter_by_joining(pid: str) -> None:
    """As `podman exec` enters a container: setns(2) into its mount
    namespace, which also moves our root and cwd to that namespace's root."""
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    linux.setns(fd, linux.CLONE_NEWNS)
    os.close(fd)


def break_out() -> None:
    os.makedirs("hatch", exist_ok=True)
    os.chroot("hatch")                  # the root moves down; the cwd stays above it
    for _ in range(256):
        os.chdir("..")                  # never through the root: up to the top
    os.chroot(".")
    os.chdir("/")


def main(args: list[str]) -> int:
    if len(args) != 3 or args[0] not in ("chroot", "join"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    how, where, marker = args
    if how == "chroot":
        enter_by_chroot(where)
    else:
        enter_by_joining(where)
    break_out()
    seen = os.path.exists(marker)
    print(f"{'escaped' if seen else 'stayed inside'}: {marker} is "
          f"{'' if seen else 'not '}visible; / holds {' '.join(sorted(os.listdir('/')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
