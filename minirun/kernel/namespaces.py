"""Namespaces: give a process its own view of one kind of kernel resource.

Why each call is made (``--explain`` prints the item under the call):

- unshare: the process leaves the namespaces it was born in for new, empty
  ones of each kind in the flags (a new PID namespace is its *children's*:
  the launch forks once more after it) (unshare(2))
- setns: join a namespace that exists already (another container's, or one
  kept by a bind mount), through a descriptor of /proc/PID/ns/KIND (setns(2))

See: namespaces(7), unshare(2), setns(2), user_namespaces(7), pid_namespaces(7)
"""
import os

from minirun import explain
from minirun.kernel._native import check, lib

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# The OCI names (linux.namespaces[].type), their flag and their /proc/PID/ns file.
BY_TYPE = {
    "user": (CLONE_NEWUSER, "user"),
    "mount": (CLONE_NEWNS, "mnt"),
    "pid": (CLONE_NEWPID, "pid"),
    "network": (CLONE_NEWNET, "net"),
    "uts": (CLONE_NEWUTS, "uts"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
}

# The order in which an existing container's namespaces are joined: the user
# namespace first, because it owns the others and joining it is what grants
# the capabilities needed to join them; mount last but one, because after
# it the host's /proc is no longer reachable; pid last (it applies to the
# children of the caller only).
JOIN_ORDER = ["user", "cgroup", "ipc", "uts", "network", "mount", "pid"]

_NAMES = {flag: "CLONE_NEW" + ("NS" if t == "mount" else t.upper().replace("NETWORK", "NET"))
          for t, (flag, _) in BY_TYPE.items()}


def flag_names(flags: int) -> str:
    return "|".join(name for flag, name in _NAMES.items() if flags & flag) or "0"


def unshare(flags: int) -> None:
    explain.say(f"unshare({flag_names(flags)})", why="unshare")
    check(lib.unshare(flags), "unshare")


def setns(fd: int, nstype: int, path: str = "") -> None:
    explain.say(f"setns({path or fd}, {flag_names(nstype)})", why="setns")
    check(lib.setns(fd, nstype), "setns", path or None)


def same(path_a: str, path_b: str) -> bool:
    """Whether two namespace files name the same namespace."""
    a, b = os.stat(path_a), os.stat(path_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
