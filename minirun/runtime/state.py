"""Container state on disk: one directory per container under --root.

``<root>/<id>/state.json`` holds what ``state`` reports and what ``delete``
needs (pid, bundle, cgroup directories); ``exec.fifo`` exists from
``create`` until ``start``: the init process blocks opening it for writing,
and ``start`` opens it for reading.  The status is derived, never stored:
created while the fifo exists and init lives, running when init lives,
stopped otherwise.  A pid is trusted only with its start time, so a reused
pid never passes for the container.
"""
import fcntl
import json
import os
import time

from minirun.errors import ContainerExists, ContainerNotFound, MiniRunError

OCI_VERSION = "1.2.0"


def default_root() -> str:
    """$MINIRUN_RUNROOT if set (`minirun --runroot` sets it, so that every
    helper it starts agrees); else /run/minirun as root; under
    $XDG_RUNTIME_DIR when rootless, also as uid 0 of a user namespace
    (rootless podman calls us so), as runc does."""
    if os.environ.get("MINIRUN_RUNROOT"):
        return os.path.abspath(os.environ["MINIRUN_RUNROOT"])
    from minirun.kernel.idmap import is_rootless
    if not is_rootless():
        return "/run/minirun"
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minirun-{os.getuid()}"
    return os.path.join(base, "minirun")


def validate_id(cid: str) -> None:
    if not cid or cid in (".", "..") or "/" in cid or len(cid) > 1024 or "\0" in cid:
        raise MiniRunError(f"invalid container id {cid!r}: use letters, digits, '-', '_' and '.'")


def file_lock(path: str):
    """A context manager holding an exclusive flock on ``path`` (made if
    missing, with its directory): one process at a time starts or stops a
    shared helper.  Whoever holds it may remove the file (and directory):
    a waiter that then gets the lock of the removed file tries again."""
    import contextlib

    @contextlib.contextmanager
    def held():
        while True:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:         # the directory went meanwhile
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
        finally:
            os.close(fd)
    return held()


def write_pid(path: str, pid: int) -> None:
    """Record a helper process as "PID STARTTIME" (a recycled pid is not it)."""
    with open(path + ".tmp", "w") as f:
        f.write(f"{pid} {proc_start_time(pid)}\n")
    os.rename(path + ".tmp", path)


def live_pid(path: str) -> int:
    """The process recorded in ``path`` (write_pid) if it still runs, else 0."""
    try:
        with open(path) as f:
            pid, started = map(int, f.read().split())
    except (OSError, ValueError):
        return 0
    return pid if proc_start_time(pid) == started else 0


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None if there is no such live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    if rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


class State:
    """What state.json holds for one container."""

    FIELDS = ("id", "bundle", "rootfs", "pid", "pid_start", "created", "annotations",
              "cgroup_dirs", "cgroup_made", "owner", "rootless", "shared_mounts")

    def __init__(self, *, id: str, bundle: str, rootfs: str, pid: int = 0, pid_start: int = 0,
                 created: str = "", annotations: dict | None = None,
                 cgroup_dirs: list | None = None, cgroup_made: list | None = None,
                 owner: int = 0, rootless: bool = False, shared_mounts: list | None = None):
        self.id, self.bundle, self.rootfs = id, bundle, rootfs
        self.pid, self.pid_start = pid, pid_start   # init's host pid and its start time
        self.created = created
        self.annotations = annotations or {}
        self.cgroup_dirs = cgroup_dirs or []        # the container's groups
        self.cgroup_made = cgroup_made or []        # what create made (removed at delete)
        self.owner, self.rootless = owner, rootless
        # without a mount namespace: the ids of the mounts below the rootfs
        # before create (delete removes the rest); None with one
        self.shared_mounts = shared_mounts

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def alive(self) -> bool:
        return self.pid > 0 and proc_start_time(self.pid) == self.pid_start

    def oci(self, directory: str) -> dict:
        return {"ociVersion": OCI_VERSION, "id": self.id, "status": self.status(directory),
                "pid": self.pid if self.alive() else 0, "bundle": self.bundle,
                "rootfs": self.rootfs, "created": self.created, "owner": str(self.owner),
                "annotations": self.annotations}

    def status(self, directory: str) -> str:
        if self.pid == 0:
            return "creating"
        if not self.alive():
            return "stopped"
        if os.path.exists(os.path.join(directory, "exec.fifo")):
            return "created"
        if self.cgroup_dirs:
            from minirun.kernel import cgroups
            if cgroups.frozen(self.cgroup_dirs):
                return "paused"
        return "running"


class Store:
    """The --root directory."""

    def __init__(self, root: str):
        self.root = root

    def dir(self, cid: str) -> str:
        validate_id(cid)
        return os.path.join(self.root, cid)

    def make(self, cid: str) -> str:
        d = self.dir(cid)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise ContainerExists(f"container `{cid}` exists already under `{self.root}`: "
                                  f"delete it or choose another id") from None
        return d

    def load(self, cid: str) -> State:
        path = os.path.join(self.dir(cid), "state.json")
        try:
            with open(path) as f:
                return State(**json.load(f))
        except FileNotFoundError:
            raise ContainerNotFound(f"container `{cid}` does not exist "
                                    f"under `{self.root}`") from None

    def save(self, state: State) -> None:
        d = self.dir(state.id)
        tmp = os.path.join(d, ".state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(state.to_dict(), f)
        os.replace(tmp, os.path.join(d, "state.json"))

    def remove(self, cid: str) -> None:
        """The state directory holds plain files only (state.json, config.json,
        exec.fifo): no recursive removal needed."""
        d = self.dir(cid)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(d, name))
            except FileNotFoundError:
                pass
        os.rmdir(d)

    def ids(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root)
                          if os.path.exists(os.path.join(self.root, n, "state.json")))
        except FileNotFoundError:
            return []

    def lock(self, cid: str) -> int:
        """An exclusive lock on the container, held until the fd is closed."""
        fd = os.open(self.dir(cid), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd


def now() -> str:
    """RFC 3339 in UTC with nanoseconds, as runc writes `created`."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"
