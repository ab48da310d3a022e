"""The Python API: containers for test systems, as root or as a plain user,
with no daemon, no socket and no helper container.

    import minirun

    r = minirun.run("busybox", ["sh", "-c", "echo hi"], memory="64m")
    r.exit_code, r.stdout, r.peak_memory, r.cpu_seconds

    with minirun.Container("busybox", ["sleep", "60"], network="none") as c:
        c.exec(["ls", "/"]).stdout

The options are the CLI's flags, spelled as keyword arguments
(``memory="512m"``, ``cpus=0.5``, ``gpus="all"``, ``env={"A": "1"}``,
``volumes={"data": "/data"}``, ``ports={80: None}``, ``network="none"``,
``user=``, ``workdir=``, ``read_only=``): they become the same frozen
container spec the CLI builds (engine/containers/spec.py), so both are
checked alike, with the same messages, before anything is made.  Errors
are minirun's own (``minirun.errors``: ``ImageNotFound``,
``ContainerError``, ...).

A container is run by a monitor of its own, as `minirun run -d` runs one
(engine/containers/monitor.py); this process only asks the store.
"""
import os
import time

from minirun.errors import MiniRunError
from minirun.records import record


@record
class Result:
    """One job's end: its exit code, its output, and what it cost, read from
    its cgroup as it ended (``inspect``'s ``Usage``; None where this host
    could not count it: a plain user without a cgroup of their own)."""
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    oom_killed: bool = False
    duration: float = 0.0               # seconds, from start to exit
    cpu_seconds: float | None = None
    peak_memory: int | None = None      # bytes
    io_read: int | None = None          # bytes
    io_write: int | None = None         # bytes


def job_result(exit_code: int, stdout: str, stderr: str, usage: dict | None,
           duration: float) -> Result:
    """A Result from what the runtime counted in the job's cgroup
    (runtime/usage.py's figures: cpu_ns, memory_peak, oom_kills, io_*)."""
    usage = usage or {}
    cpu = usage.get("cpu_ns")
    return Result(exit_code=exit_code, stdout=stdout, stderr=stderr,
                  oom_killed=bool(usage.get("oom_kills")), duration=duration,
                  cpu_seconds=None if cpu is None else cpu / 1e9,
                  peak_memory=usage.get("memory_peak"), io_read=usage.get("io_read"),
                  io_write=usage.get("io_write"))


def argv(command, who: str, empty: bool = False) -> list[str]:
    """A command as a list of words; a string (which Python would split into
    letters) or, unless ``empty``, nothing is one clear error."""
    if isinstance(command, (str, bytes)) or (not command and not empty):
        raise MiniRunError(f"{who}: the command is a list of words, "
                           "e.g. [\"sh\", \"-c\", \"echo hi\"]")
    return [str(word) for word in command or ()]


class JobTimeout(MiniRunError):
    """A job ran longer than the ``timeout`` given to :func:`run`; it was
    killed and removed."""


def words(options: dict) -> dict:
    """The API's keyword arguments as the flags' words (spec.make's): dicts
    of environment, labels, volumes and ports become the flags' strings,
    numbers become text."""
    out = dict(options)
    pairs = {"env": "env", "labels": "label", "label": "label", "annotations": "annotation",
             "annotation": "annotation"}
    for key, word in pairs.items():
        value = out.pop(key, None)
        if isinstance(value, dict):
            value = [f"{k}={v}" for k, v in value.items()]
        if value is not None:
            out[word] = list(value)
    volumes = out.pop("volumes", None)
    if isinstance(volumes, dict):
        volumes = [f"{src}:{dest}" if isinstance(dest, str) else
                   f"{src}:{dest['bind']}" + (":ro" if dest.get("mode") == "ro" else "")
                   for src, dest in volumes.items()]
    if volumes is not None:
        out["volume"] = list(volumes)
    ports = out.pop("ports", None)
    if isinstance(ports, dict):
        ports = [str(inner) if outer is None else f"{outer}:{inner}"
                 for inner, outer in ports.items()]
    if ports is not None:
        out["publish"] = [str(p) for p in ports]
    for key in ("devices",):
        if key in out:
            out["device"] = list(out.pop(key))
    for key, value in list(out.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = str(value)
    return out


class Container:
    """One container: made when it starts (``with`` starts it, and removes it
    at the end), run by a monitor of its own, tied to this process: if this
    process dies, even by SIGKILL, the container goes too."""

    def __init__(self, image: str, command=(), *, root: str | None = None,
                 pull: str = "missing", **options):
        from minirun.engine.containers import spec as specs
        self.root = os.path.abspath(root) if root else None
        self.pull = pull
        if isinstance(options.get("pod"), str):     # a pod's name: the words of its record
            from minirun.engine.pods.records import joining
            from minirun.engine.store import Store
            options["pod"] = joining(Store(self.root), options["pod"])
        self.spec = specs.make(image, argv(command, "Container", empty=True), **words(options))
        self.id: str | None = None
        self.pid = 0
        self._started = self._ended = 0.0

    # --- the store ------------------------------------------------------------

    def _store(self):
        from minirun.engine.store import Store
        return Store(self.root)

    def _record(self) -> dict:
        from minirun.engine.containers import lifecycle, records
        return lifecycle.refresh(self._store(), records.record(self._store(), self._id()))

    def _id(self) -> str:
        if self.id is None:
            raise MiniRunError("the container is not made yet: start() it first")
        return self.id

    # --- its life -------------------------------------------------------------

    def create(self) -> "Container":
        """Make the container (pulling its image if need be); do not start it."""
        if self.id is None:
            from minirun.engine.containers import create
            from minirun.engine.store import space_errors
            store = self._store()
            create.ensure_image(self.root, self.spec.image, self.pull, lazy=self.spec.lazy,
                                store=store)
            from minirun.engine.containers import owner as owners
            owners.sweep(store)             # what dead owners left (see owner.py)
            with space_errors(store.root):
                self.id = create.create(store, self.spec, owner=os.getpid())
        return self

    def start(self) -> "Container":
        from minirun.engine.containers import monitor
        self.create()
        self._started = time.monotonic()
        self.pid = monitor.start_detached(self.root, self.id)
        return self

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code, once it has ended; None if ``timeout`` seconds
        pass first.  It sleeps on a pidfd of the container's process, which
        wakes at its exit, then reads the code its monitor records."""
        from minirun.engine.containers import lifecycle, records
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())
        if self.pid and not _wait_pid(self.pid, timeout):
            return None
        monitor = records.record(self._store(), self._id())["monitor"]
        if records.alive(monitor):       # it records the exit, then ends: wait for that
            _wait_pid(int(monitor.partition(":")[0]), left())
        if not lifecycle.wait_exit(self._store(), self._id(), left()):
            return None
        self._ended = self._ended or time.monotonic()
        return self._record()["exit_code"]

    def wait_for_log(self, text: str, timeout: float = 30.0) -> str:
        """The first line of its output (stdout or stderr) that contains
        ``text``, as soon as the container writes it: its output is read as
        the monitor sends it to attached clients, not polled."""
        import select
        from minirun.engine.containers import attach
        deadline = time.monotonic() + timeout
        from minirun.engine.store import container_dir
        sock = attach.connect(container_dir(self._store(), self._id()))
        try:
            sock.sendall(attach.frame(b"h", b""))       # hello: send what comes from now
            for line in "".join(self.logs()).splitlines():   # what came before
                if text in line:
                    return line
            frames, partial = attach.Frames(), ""
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                data = sock.recv(65536)
                if not data:
                    break                       # it ended
                for kind, payload in frames.feed(data):
                    if kind in (b"o", b"e"):
                        partial += payload.decode(errors="replace")
                        *lines, partial = partial.split("\n")
                        found = next((ln for ln in lines if text in ln), None)
                        if found is not None:
                            return found
        finally:
            sock.close()
        raise JobTimeout(f"container {self._id()[:12]} wrote no line with {text!r} "
                         f"in {timeout} s")

    def wait_for_port(self, port: int, timeout: float = 30.0) -> tuple[str, int]:
        """(host address, host port) of a published ``port`` once it accepts
        a connection: tried at once, then after 1, 2, 4... ms (at most 50)."""
        import socket
        host, host_port = self.port(port)
        address = "127.0.0.1" if host in ("0.0.0.0", "") else host
        deadline, pause = time.monotonic() + timeout, 0.001
        while True:
            try:
                socket.create_connection((address, host_port), timeout=1).close()
                return address, host_port
            except OSError:
                if time.monotonic() + pause > deadline:
                    raise JobTimeout(f"port {port} of {self._id()[:12]} did not accept a "
                                     f"connection in {timeout} s") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def wait_for_file(self, path: str, timeout: float = 30.0) -> None:
        """Until ``path`` exists in the container (a job's marker, a socket).
        It wakes when the file is made: inotify watches the nearest directory
        of the path that exists, seen through /proc/PID/root; a pidfd wakes
        it if the container ends first (ContainerError)."""
        import select
        from minirun.engine.containers.records import ContainerError
        from minirun.kernel import inotify
        path = "/" + path.lstrip("/")
        pid = self._record().get("pid") or 0
        root = f"/proc/{pid}/root"
        try:
            pidfd = os.pidfd_open(pid) if pid else -1
        except ProcessLookupError:
            pidfd = -1
        if pidfd < 0:
            raise ContainerError(f"container {self._id()[:12]} is not running")
        ino = inotify.inotify_init1()
        deadline = time.monotonic() + timeout
        mask = (inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_DELETE_SELF
                | inotify.IN_MOVE_SELF | inotify.IN_ONLYDIR)
        try:
            while not os.path.lexists(root + path):
                directory = os.path.dirname(path)
                while directory != "/" and not os.path.isdir(root + directory):
                    directory = os.path.dirname(directory)
                try:
                    inotify.inotify_add_watch(ino, root + directory, mask)
                except FileNotFoundError:
                    pass        # it ended (the pidfd says so below), or the directory went
                if os.path.lexists(root + path):        # made before the watch was
                    return
                left = deadline - time.monotonic()
                ready = select.select([ino, pidfd], [], [], max(0.0, left))[0] if left > 0 \
                    else []
                if not ready:
                    raise JobTimeout(f"{path} did not appear in container "
                                     f"{self._id()[:12]} in {timeout} s")
                if pidfd in ready:
                    if os.path.lexists(root + path):
                        return
                    raise ContainerError(f"container {self._id()[:12]} ended before {path} "
                                         "appeared in it")
                inotify.read_events(ino)
        finally:
            os.close(ino)
            os.close(pidfd)

    def result(self) -> Result:
        """The ended job: exit code, output and cost."""
        rec = self._record()
        if rec["state"] != "exited":
            raise MiniRunError(f"container {self._id()[:12]} has not ended: wait() for it")
        out, err = self.logs()
        return job_result(rec["exit_code"], out, err, rec["usage"],
                      max(0.0, (self._ended or time.monotonic()) - self._started))

    def logs(self) -> tuple[str, str]:
        """(stdout, stderr) so far, from its log."""
        from minirun.engine.containers.log import parse
        from minirun.engine.store import container_dir
        path = os.path.join(container_dir(self._store(), self._id()), "ctr.log")
        streams = {b"stdout": [], b"stderr": []}
        try:
            with open(path, "rb") as f:
                for record in filter(None, map(parse, f)):
                    streams.get(record[1], []).append(record[2])
        except FileNotFoundError:
            pass
        return tuple(b"".join(streams[s]).decode(errors="replace")
                     for s in (b"stdout", b"stderr"))

    def exec(self, command, *, env: dict | None = None, user: str | None = None,
             workdir: str | None = None) -> Result:
        """Run one more process in the running container; its Result (exit
        code and output; the cost is the container's, not counted here)."""
        import subprocess
        command = argv(command, "Container.exec")
        rec = self._record()
        if rec["state"] != "running":
            raise MiniRunError(f"container {self._id()[:12]} is {rec['state']}, not running")
        cli = [_minirun()] + (["--root", self.root] if self.root else []) + ["exec"]
        for k, v in (env or {}).items():
            cli += ["-e", f"{k}={v}"]
        cli += (["-u", user] if user else []) + (["-w", workdir] if workdir else [])
        started = time.monotonic()
        p = subprocess.run(cli + [self._id(), *command], capture_output=True,
                           stdin=subprocess.DEVNULL)
        if p.returncode == 125:
            raise MiniRunError(p.stderr.decode(errors="replace").strip().removeprefix("Error: "))
        return Result(exit_code=p.returncode, stdout=p.stdout.decode(errors="replace"),
                      stderr=p.stderr.decode(errors="replace"),
                      duration=time.monotonic() - started)

    def port(self, port: int, protocol: str = "tcp") -> tuple[str, int]:
        """(host address, host port) where the container's ``port`` is published."""
        from minirun.engine.containers import joining
        for p in joining.published(self._store(), self._record()):
            if p["container_port"] == int(port) and p["protocol"] == protocol:
                return p["host_ip"] or "0.0.0.0", p["host_port"]
        raise MiniRunError(f"port {port}/{protocol} is not published (ports={{{port}: None}})")

    def stop(self, timeout: float = 10.0) -> None:
        from minirun.engine.containers import lifecycle
        lifecycle.stop(self._store(), self._id(), timeout=timeout)
        self._ended = self._ended or time.monotonic()

    def remove(self) -> None:
        """Stop it if it runs, and remove it and its anonymous volumes."""
        if self.id is None:
            return
        from minirun.engine.containers import lifecycle, records
        try:
            lifecycle.remove(self._store(), self.id, force=True, volumes=True)
        except records.ContainerError:
            pass                        # removed already
        self.id = None

    def copy_to(self, source: str, destination: str) -> None:
        """A host file or directory into the container (podman cp)."""
        from minirun.engine.containers import copy
        copy.copy(self._store(), self._id(), "in", os.path.abspath(source), destination)

    def copy_from(self, source: str, destination: str) -> None:
        """A file or directory of the container onto the host."""
        from minirun.engine.containers import copy
        copy.copy(self._store(), self._id(), "out", source, os.path.abspath(destination))

    def __enter__(self) -> "Container":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()


def run(image: str, command=(), *, root: str | None = None, pull: str = "missing",
        timeout: float | None = None, **options) -> Result:
    """Run ``command`` in a new container of ``image`` to its end; its Result.
    The container is removed after; a job past ``timeout`` seconds is
    killed and :class:`JobTimeout` raised.

    This process is its monitor (no second interpreter): its pid 1 is our
    child, tied to us (killed if we die, even by SIGKILL; the next minirun
    command sweeps what is left, owner.py), its output read through pipes
    into its log, its exit and cost recorded as a monitor's are."""
    from minirun.engine.containers import monitor
    c = Container(image, command, root=root, pull=pull, **options)
    try:
        c.create()
        c._started = time.monotonic()
        deadline = None if timeout is None else c._started + timeout
        monitor.run_container(c.root, c.id, foreground=False, serve=False, tied=True,
                              deadline=deadline, store=c._store())
        c._ended = time.monotonic()
        if deadline is not None and c._ended >= deadline:
            raise JobTimeout(f"the job in {c.id[:12]} ran past {timeout} s: killed")
        return c.result()
    finally:
        c.remove()


class Image:
    """Images in the store: ``Image.pull(name)``, ``Image.load(path)``."""

    @staticmethod
    def pull(name: str, *, root: str | None = None) -> str:
        """Pull ``name`` from its registry; the image's id."""
        from minirun.engine.images import service
        return service.pull(root, name, quiet=True)

    @staticmethod
    def load(path: str, *, root: str | None = None) -> list[str]:
        """Load the images of a docker-archive or oci-archive; their names."""
        from minirun.engine.images import service
        return service.load(root, path)


def images(*, root: str | None = None) -> list[dict]:
    """The images in the store, as `minirun images --format json` lists them."""
    from minirun.engine.images import service
    return service.listing(root)


def containers(*, root: str | None = None) -> list[dict]:
    """Every container's record (id, name, image, state, exit code, ...)."""
    from minirun.engine.containers import lifecycle, records
    from minirun.engine.store import Store
    from minirun.engine.containers import owner as owners
    store = Store(root)
    owners.sweep(store)
    return [lifecycle.refresh(store, rec) for rec in records.all_records(store)]


def _minirun() -> str:
    import shutil
    import sys
    here = os.path.join(os.path.dirname(sys.executable), "minirun")
    return here if os.path.exists(here) else shutil.which("minirun") or "minirun"


def _wait_pid(pid: int, timeout: float | None) -> bool:
    """Until process ``pid`` has exited (a pidfd, readable at its exit);
    False if ``timeout`` seconds pass first."""
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True                          # gone already
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
