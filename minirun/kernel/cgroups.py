"""Control groups: a tree of process groups, each with resource controllers.

A cgroup is a directory in a cgroup filesystem; writing a pid to its
``cgroup.procs`` moves that process (and its future children) into it.  On
cgroup v2 there is one tree for all controllers; on v1 each controller
(memory, cpu, pids, ...) has its own tree, mounted under ``/sys/fs/cgroup/NAME``.
Hybrid hosts have both: v1 trees for the controllers and a v2 tree at
``/sys/fs/cgroup/unified``.  minirun makes the container's directory in every
tree the host mounts, and never moves or remounts a tree itself.

Why each step is taken (``--explain`` prints the item under it):

- mkdir: a cgroup is a directory: the container gets its own in every tree,
  so that its limits apply to it alone and its processes can be counted,
  frozen and killed together (cgroups(7))
- join: writing a pid to the group's cgroup.procs moves that process, and
  every process it will fork, into the group: the container's limits hold
  from before its program starts (cgroups(7))
- devices: cgroup v1's device list: every device denied, then those the
  config allows, so that the container can open and create no other device
  node (cgroups(7))
- write: one setting of the group (a limit such as memory.max or pids.max),
  one file, one value (cgroups(7))
- rmdir: the group goes once its last process has been reaped: the container
  is gone, and nothing of it is left in the tree (cgroups(7))

See: cgroups(7), cgroup_namespaces(7), the kernel's cgroup-v2.rst
"""
import functools
import os
import signal
import time

from minirun import explain
from minirun.records import record


@record
class Hierarchy:
    mountpoint: str
    version: int
    controllers: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """The cgroup trees mounted on this host: v2 first, then one per v1 controller set.

    Read once per process (a launch asks seven times): a host's cgroup
    trees are mounted at boot and minirun never mounts or moves one.
    The list is shared: callers must not change it."""
    found, seen = [], set()
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
                continue
            mountpoint, root = fields[4], fields[3]
            if root != "/" or mountpoint in seen:
                continue
            seen.add(mountpoint)
            if rfields[0] == "cgroup2":
                found.insert(0, Hierarchy(mountpoint=mountpoint, version=2, controllers=()))
            else:
                ctrls = tuple(o for o in rfields[2].split(",")
                              if o not in ("rw", "ro") and "=" not in o and o != "xattr"
                              and o != "clone_children" and o != "noprefix")
                if ctrls:  # named hierarchies (name=systemd) carry no controller
                    found.append(Hierarchy(mountpoint=mountpoint, version=1, controllers=ctrls))
    return found


def is_unified(hs: list[Hierarchy]) -> bool:
    """A pure cgroup v2 host (every current distribution)."""
    return len(hs) >= 1 and hs[0].version == 2 and not any(h.version == 1 for h in hs)


def _copy_cpuset(parent: str, child: str) -> None:
    """A new v1 cpuset group starts with no cpus and mems: no task may join
    until they are set, so inherit the parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        p = os.path.join(child, name)
        if os.path.exists(p):
            with open(p) as f:
                if f.read().strip():
                    continue
            with open(os.path.join(parent, name)) as f:
                value = f.read().strip()
            with open(p, "w") as f:
                f.write(value)


def _base(h: Hierarchy, cgroup_path: str) -> str:
    """Where a cgroupsPath starts in one tree: an absolute path at the tree's
    root, a relative one at the caller's own group there (as runc reads it;
    on this host the supervisor keeps us in a memory group of its own).  On
    v2, at the *parent* of the caller's group, as runc does: the caller's
    own group holds processes, so it may not hand controllers down (the
    "no internal processes" rule), while its parent (systemd's delegated
    user@UID.service for a plain user, whose processes sit in leaves such
    as init.scope) may."""
    if cgroup_path.startswith("/"):
        return h.mountpoint
    own = own_path(h.controllers[0] if h.controllers else "")
    if h.version == 2:
        own = os.path.dirname(own)
    return os.path.join(h.mountpoint, own.lstrip("/"))


def create(cgroup_path: str) -> list[str]:
    """Make the container's directory in every tree; return those made
    (parents first: the leaves are what :func:`leaves` finds).

    Raises PermissionError when a tree is not writable by the caller (a
    plain user without a delegated cgroup): the caller decides whether that
    is fatal, as only limits make it so.
    """
    made = []
    rel = cgroup_path.strip("/")
    try:
        for h in hierarchies():
            path = _base(h, cgroup_path).rstrip("/")
            for part in rel.split("/"):
                parent, path = path, os.path.join(path, part)
                if not os.path.isdir(path):
                    explain.say(f"mkdir {path}", why="mkdir")
                    os.mkdir(path, 0o755)
                    made.append(path)
                if "cpuset" in h.controllers:
                    _copy_cpuset(parent, path)
    except OSError:
        remove(made)
        raise
    return made


def leaves(cgroup_path: str) -> list[str]:
    rel = cgroup_path.strip("/")
    found = (os.path.join(_base(h, cgroup_path), rel) for h in hierarchies())
    return [d for d in found if os.path.isdir(d)]


def add_process(dirs: list[str], pid: int) -> None:
    for d in dirs:
        explain.say(f'write {d}/cgroup.procs "{pid}"', why="join")
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(pid))


def warm_migration() -> None:
    """Start the wait that the first move into a cgroup costs, in a child.

    Every write to a cgroup.procs takes one lock of the kernel's for all
    trees (cgroup_threadgroup_rwsem), and taking it for writing first waits
    for an RCU grace period: about 10 ms here, on the launch's critical path
    (runc pays it too).  The lock stays cheap to take for a while after.
    A short-lived child moves itself into the group it is in already, which
    changes nothing and pays that wait now, while the runtime goes on with
    its imports; the container's own move then finds the lock warm.  A
    child, not a thread: a thread would have to win the GIL first.  A
    refused write (a plain user's tree) changes nothing either."""
    own = None
    for h in hierarchies():
        key = "" if h.version == 2 else h.controllers[0]
        own = os.path.join(h.mountpoint, own_path(key).lstrip("/"), "cgroup.procs")
        break
    if own is None:
        return
    try:        # echo 0 > cgroup.procs: 0 is the writer itself
        os.posix_spawn("/bin/echo", ["echo", "0"], {}, file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, own, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    except OSError:
        pass


def procs(dirs: list[str]) -> set[int]:
    pids = set()
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def kill_all(dirs: list[str], sig: int = signal.SIGKILL) -> None:
    for pid in procs(dirs):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def remove(dirs: list[str], timeout: float = 2.0) -> None:
    """rmdir the directories in the reverse of the order they were made; a
    group empties only once its last process has been reaped, so retry
    briefly on EBUSY."""
    for d in reversed(dirs):
        deadline = time.monotonic() + timeout
        while True:
            try:
                explain.say(f"rmdir {d}", why="rmdir")
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno == 16 and time.monotonic() < deadline:  # EBUSY
                    time.sleep(0.01)
                    continue
                if e.errno in (16, 39):  # still busy, or not ours alone: leave it
                    break
                raise


def freezer(dirs: list[str]) -> tuple[str, str] | None:
    """(the directory, "v2" or "v1") that can freeze the group: cgroup v2's
    cgroup.freeze, else the v1 freezer controller's freezer.state."""
    for d in dirs:
        if os.path.exists(os.path.join(d, "cgroup.freeze")):
            return d, "v2"
    for d in dirs:
        if os.path.exists(os.path.join(d, "freezer.state")):
            return d, "v1"
    return None


def freeze(dirs: list[str], on: bool, timeout: float = 5.0) -> None:
    """Freeze (or thaw) every process of the group, and wait until the
    kernel says it is done: cgroup.events' ``frozen`` (v2), or freezer.state
    reading FROZEN rather than FREEZING (v1)."""
    found = freezer(dirs)
    if found is None:
        raise OSError(2, "no freezer for the container's cgroup", dirs[0] if dirs else "")
    d, version = found
    if version == "v2":
        write(d, "cgroup.freeze", "1" if on else "0")
    else:
        write(d, "freezer.state", "FROZEN" if on else "THAWED")
    deadline = time.monotonic() + timeout
    while _frozen_state(d, version) != ("frozen" if on else "thawed"):
        if time.monotonic() > deadline:
            raise OSError(16, "the group did not freeze in time", d)     # EBUSY
        time.sleep(0.002)


def frozen(dirs: list[str]) -> bool:
    """Frozen, or being frozen (a paused container)."""
    found = freezer(dirs)
    return found is not None and _frozen_state(*found) != "thawed"


def _frozen_state(d: str, version: str) -> str:
    """"frozen", "freezing" (v1, on the way) or "thawed"."""
    if version == "v2":
        return "frozen" if "frozen 1" in (read(d, "cgroup.events") or "") else "thawed"
    return (read(d, "freezer.state") or "THAWED").strip().lower()


def holders(dirs: list[str]) -> dict[str, str]:
    """Which of a container's directories holds each controller: v1
    controller names, and ``"v2"`` for its cgroup v2 directory."""
    out = {}
    for tree in hierarchies():
        mine = [d for d in dirs if d.startswith(tree.mountpoint + "/")]
        if mine:
            for name in tree.controllers or ("v2",):
                out[name] = mine[-1]
    return out


def v1_controllers() -> set[str]:
    return {c for tree in hierarchies() if tree.version == 1 for c in tree.controllers}


def write(directory: str, name: str, value: str) -> None:
    """Set one cgroup file (a limit, subtree_control, ...)."""
    explain.say(f'write {directory}/{name} "{value}"',
                why="devices" if name.startswith("devices.") else "write")
    with open(os.path.join(directory, name), "w") as f:
        f.write(value)


def read(directory: str, name: str) -> str | None:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except OSError:
        return None


def enable(directory: str, controller: str, top: str) -> None:
    """cgroup v2: enable ``controller`` for ``directory`` by writing it into
    the cgroup.subtree_control of each ancestor from ``top`` down (only
    groups without processes of their own may do so: the v2 rule)."""
    chain, d = [], os.path.dirname(directory)
    while d.startswith(top) and d != os.path.dirname(top):
        chain.insert(0, d)
        d = os.path.dirname(d)
    for parent in chain:
        if controller not in (read(parent, "cgroup.subtree_control") or "").split():
            write(parent, "cgroup.subtree_control", f"+{controller}")


def of_process(pid: int) -> list[str]:
    """The directories of a process's groups in every tree (/proc/PID/cgroup)."""
    trees = hierarchies()
    out = []
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for tree in trees:
            if (tree.version == 2 and ctrls == "") or \
                    (tree.version == 1 and ctrls
                     and set(ctrls.split(",")) == set(tree.controllers)):
                out.append(os.path.join(tree.mountpoint, path.lstrip("/")))
    return [d for d in out if os.path.isdir(d)]


@record
class View:
    """What a container's /sys/fs/cgroup shows: cgroup2 itself on a unified
    host, else (source directory, name) binds of its own groups."""
    unified: bool
    binds: tuple[tuple[str, str], ...] = ()


def view(dirs: list[str]) -> View:
    """The container's view, from the groups made for it (``dirs``), or the
    caller's own groups where none were made (rootless without delegation)."""
    trees = hierarchies()
    if is_unified(trees):
        return View(unified=True)
    binds = []
    for tree in trees:
        name = "unified" if tree.version == 2 else ",".join(tree.controllers)
        mine = [d for d in dirs if d.startswith(tree.mountpoint + "/")]
        source = mine[-1] if mine else os.path.join(
            tree.mountpoint, own_path(tree.controllers[0] if tree.controllers else "").lstrip("/"))
        if os.path.isdir(source):
            binds.append((source, name))
    return View(unified=False, binds=tuple(binds))


def own_path(controller_or_unified: str = "") -> str:
    """The caller's cgroup in a tree, from /proc/self/cgroup."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller_or_unified in ctrls.split(",") or (not controller_or_unified
                                                             and ctrls == ""):
                return path
    return "/"
