"""Warm pools: containers made ahead, so that a job starts in milliseconds.

    with minirun.Pool("busybox", size=4, network="none", memory="256m") as pool:
        r = pool.run(["sh", "-c", "echo hi"])      # a minirun.api.Result

A pooled container is an ordinary one (api.Container: a record ``ps``
lists, a monitor of its own, its owner this process) whose pid 1 is
catatonit pausing (podman's ``--init`` binary, bound at /run/minirun-init,
run as ``catatonit -P``), so any image will do: its namespaces are made,
its cgroup made and limited, its root filesystem mounted.  Its job's process is made
ahead too, as ``minirun exec`` makes one, from this process and with no new
interpreter (runtime/launch.exec_process, primed): forked, in the
namespaces and the cgroup, its user, capabilities and rlimits set, its
stdout and stderr pipes of ours, and then it waits (SOCK's zygote, one per
container).  A job only sends it the argv, environment and working
directory: it enters the directory, finds the program, sets no_new_privs
and the seccomp filter, and execs.  Its exit comes back through waitpid,
its cost from the container's cgroup (runtime/usage.py), less what the
priming had counted (CPU time and IO; the peak memory is the group's).

Each container serves one job and is thrown away: nothing a job leaves
(files, processes, a hostname, a sysctl) can reach the next one.  A worker
thread removes used containers and makes new ones in the background.

A pool belongs to one process: the job is that process's child (it waits
for it and reads its pipes), and the containers are tied to it (their
record names it as owner), so they go when it dies.  Threads may share a
pool: each run takes a container of its own.

``gpus=N`` gives each container N GPUs of its own from the host's set
(the CDI names nvidia.com/gpu=I), never one GPU to two containers at once:
a GPU comes back when the container holding it is removed.
"""
import collections
import os
import select
import signal
import threading
import time

from minirun.errors import MiniRunError

PAUSE = ("/run/minirun-init", "-P")         # catatonit in pause mode, under --init's


class Warm:
    """One ready container and its job's process, primed: forked ahead into
    the container's namespaces and cgroup, its user, capabilities and
    rlimits set, its stdout and stderr pipes ours, waiting for the job's
    argv, environment and working directory (SOCK's zygote, one per
    container)."""

    def __init__(self, container, gpus: tuple):
        from minirun.engine.containers.records import runtime_store
        from minirun.runtime import spec as spec_mod
        self.container, self.gpus = container, gpus
        self.id = container.id
        self.store = runtime_store()
        state = self.store.load(self.id)
        self.cgroup_dirs = state.cgroup_dirs
        self.process = spec_mod.load_saved(self.store.dir(self.id), state.bundle).process
        self.launch = None                  # the primed process (prime)
        self.out_r = self.err_r = -1        # its stdout and stderr, our ends
        self.baseline: dict = {}            # the cgroup's figures before the job
        self.pidfd = -1                     # the primed process's, for the watcher

    def prime(self) -> None:
        """Fork the job's process now, so that a job only says what to run."""
        from minirun.runtime import launch, usage
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.launch = launch.exec_process(self.store, self.id, self.process,
                                              stdio=(null, out_w, err_w), primed=True)
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in (null, out_w, err_w):
                os.close(fd)
        self.out_r, self.err_r = out_r, err_r
        self.pidfd = os.pidfd_open(self.launch.init_pid)
        # what the pause process and the priming cost, not the job's
        self.baseline = usage.usage(self.cgroup_dirs) if self.cgroup_dirs else {}

    def discard(self) -> None:
        """The primed process killed and reaped (if no job took it), our
        ends of its pipes closed; before the container is removed."""
        if self.launch is not None:
            self.launch.abort()
            self.launch.chan.close()
            self.launch = None
        for fd in (self.out_r, self.err_r, self.pidfd):
            if fd >= 0:
                os.close(fd)
        self.out_r = self.err_r = self.pidfd = -1

    def reap(self) -> None:
        """The primed process died before any job (its container removed by
        `rm` or prune, or killed): reap it now.  Until it is reaped, the
        container's pid 1 cannot finish exiting (the kernel waits for every
        process of a PID namespace to be released), and `rm` waits."""
        os.waitpid(self.launch.init_pid, 0)
        self.launch.init_pid = 0            # abort() must not kill a reused pid

    def running(self) -> bool:
        """Whether the container still runs (no one removed it)."""
        try:
            return self.store.load(self.id).status(self.store.dir(self.id)) == "running"
        except MiniRunError:
            return False


class Pool:
    """``size`` containers of ``image`` kept ready; ``options`` as
    api.Container's (the flags of ``minirun run``)."""

    def __init__(self, image: str, size: int = 4, *, root: str | None = None,
                 pull: str = "missing", **options):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise MiniRunError(f"Pool size {size!r}: a whole number of containers, 1 or more")
        from minirun import api
        self.image, self.size, self.root = image, size, root
        taken = sorted({"init", "entrypoint", "command", "rm"} & set(options))
        if taken:
            raise MiniRunError(f"Pool: {', '.join(taken)} cannot be given: a pooled "
                               "container's pid 1 is the pool's (catatonit, pausing); "
                               "the command is pool.run's")
        self.gpus_each = _gpus_each(options.pop("gpus", None))
        labels = dict(options.pop("labels", None) or {}, **{"io.minirun.pool": str(os.getpid())})
        self.options = dict(options, init=True, entrypoint=PAUSE[0], labels=labels)
        api.Container(image, PAUSE[1:], root=root, pull=pull, **self.options)  # checks
        self.free_gpus = _host_gpus(self.gpus_each)
        self.gpu_count = len(self.free_gpus)
        self.pull = pull
        self.ready: collections.deque[Warm] = collections.deque()
        self.used: collections.deque[Warm] = collections.deque()
        self.making = 0
        self.closed = False
        self.cond = threading.Condition()
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)  # for the watcher
        first = size if not self.gpus_each else min(size, len(self.free_gpus) // self.gpus_each)
        try:
            for _ in range(first):
                self.ready.append(self._make())
        except BaseException:
            for warm in self.ready:
                self._remove(warm)
            for fd in (self.wake_r, self.wake_w):
                os.close(fd)
            raise
        self.pull = "never"                 # present now: the refills need not ask
        self.worker = threading.Thread(target=self._refill, name="minirun-pool", daemon=True)
        self.worker.start()
        self.watcher = threading.Thread(target=self._watch, name="minirun-pool-watch",
                                        daemon=True)
        self.watcher.start()

    # --- the jobs --------------------------------------------------------------

    def run(self, command, env: dict | None = None, timeout: float | None = None, *,
            workdir: str | None = None):
        """Run ``command`` in a ready container to its end; its Result.  The
        container is thrown away after; a job past ``timeout`` seconds is
        killed and api.JobTimeout raised."""
        from minirun import api
        command = api.argv(command, "Pool.run")
        for attempt in range(self.size + 1):
            warm = self._take()
            try:
                return job(warm, command, env or {}, timeout, workdir)
            except MiniRunError:
                if warm.running() or attempt == self.size:
                    raise
                # removed under us (`minirun rm`, prune): take the next one
            finally:
                with self.cond:
                    self.used.append(warm)
                    self.cond.notify_all()

    def _take(self) -> Warm:
        """A ready container, waiting for one if need be."""
        with self.cond:
            while not self.ready:
                if self.closed:
                    raise MiniRunError("the pool is closed")
                self.cond.wait()
            if self.closed:
                raise MiniRunError("the pool is closed")
            warm = self.ready.popleft()
            self.cond.notify_all()          # the worker: one to make
            return warm

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Until all ``size`` containers are ready (benchmarks wait so)."""
        with self.cond:
            full = self.size if not self.gpus_each else \
                min(self.size, self.gpu_count // self.gpus_each)
            return self.cond.wait_for(lambda: len(self.ready) >= full or self.closed,
                                      timeout)

    # --- the worker ---------------------------------------------------------------

    def _refill(self) -> None:
        """Remove used containers, make new ones, until closed; then remove
        everything left."""
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.closed or self.used or self._short())
                if self.closed:
                    break
                warm = self.used.popleft() if self.used else None
                if warm is None:
                    self.making += 1
            if warm is not None:
                self._remove(warm)
                continue
            try:
                made = self._make()
            except Exception as e:      # noqa: BLE001 (said once; the next try may work)
                import sys
                print(f"minirun pool: making a container failed: {e}", file=sys.stderr)
                time.sleep(1)
                made = None
            with self.cond:
                self.making -= 1
                if made is not None:
                    self.ready.append(made)
                    self._wake()
                self.cond.notify_all()
        self._remove_all()

    def _remove_all(self) -> None:
        """Every container the pool still holds, ready or used, removed."""
        with self.cond:
            left = list(self.ready) + list(self.used)
            self.ready.clear()
            self.used.clear()
        for warm in left:
            self._remove(warm)

    def _short(self) -> bool:
        return (len(self.ready) + self.making < self.size
                and len(self.free_gpus) >= self.gpus_each)

    def _make(self) -> Warm:
        """One container made and started; its GPUs taken from the free set."""
        from minirun import api
        with self.cond:
            gpus = tuple(self.free_gpus[:self.gpus_each])
            del self.free_gpus[:self.gpus_each]
        options = dict(self.options)
        if gpus:
            options["devices"] = list(options.get("devices") or ()) + list(gpus)
        c = api.Container(self.image, PAUSE[1:], root=self.root, pull=self.pull, **options)
        warm = None
        try:
            c.start()
            warm = Warm(c, gpus)
            warm.prime()
            return warm
        except BaseException:
            if warm is not None:
                warm.discard()
            c.remove()
            self._give_back(gpus)
            raise

    def _remove(self, warm: Warm) -> None:
        """Remove a container (a second try if its end raced the first: the
        runtime's kill may find pid 1 gone between its check and its kill)."""
        warm.discard()
        for attempt in (1, 2):
            try:
                warm.container.remove()
                break
            except (MiniRunError, OSError) as e:
                if attempt == 2:
                    import sys
                    print(f"minirun pool: removing {warm.id[:12]} failed: {e}",
                          file=sys.stderr)
        self._give_back(warm.gpus)

    def _give_back(self, gpus: tuple) -> None:
        with self.cond:
            self.free_gpus.extend(gpus)
            self.cond.notify_all()

    # --- the watcher ----------------------------------------------------------------

    def _watch(self) -> None:
        """Sleep on the ready containers' primed processes (their pidfds) and
        a wake-up pipe; one that dies before its job is reaped at once and
        its container handed to the worker to remove and replace."""
        while True:
            with self.cond:
                if self.closed:
                    return
                watched = {w.pidfd: w for w in self.ready if w.pidfd >= 0}
            poller = select.poll()
            poller.register(self.wake_r, select.POLLIN)
            for fd in watched:
                poller.register(fd, select.POLLIN)
            events = poller.poll()
            try:
                while os.read(self.wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            for fd, _ in events:
                warm = watched.get(fd)
                with self.cond:
                    # taken meanwhile: the job's go() meets its end instead
                    if warm is not None and warm in self.ready:
                        self.ready.remove(warm)
                        warm.reap()
                        self.used.append(warm)
                        self.cond.notify_all()

    def _wake(self) -> None:
        if self.wake_w < 0:                 # closed
            return
        try:
            os.write(self.wake_w, b"1")
        except BlockingIOError:
            pass                            # full: a wake-up is already waiting

    # --- the end ------------------------------------------------------------------

    def close(self) -> None:
        """Remove every container of the pool (a job running finishes first;
        its container goes after it).  Closing twice is harmless."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self._wake()
        for thread in (self.worker, self.watcher):
            if thread.is_alive():
                thread.join()
        self._remove_all()
        if self.wake_w >= 0:
            for fd in (self.wake_r, self.wake_w):
                os.close(fd)
            self.wake_r = self.wake_w = -1

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- one job ------------------------------------------------------------------------

def job(warm: Warm, command: list[str], env: dict, timeout: float | None,
        workdir: str | None):
    """Give ``warm``'s primed process its job; wait for it; its Result with
    what the container's cgroup counted since the priming."""
    from minirun import api
    from minirun.runtime import usage
    names = set(env)
    environ = [e for e in warm.process.env if e.partition("=")[0] not in names] + \
        [f"{k}={v}" for k, v in env.items()]
    launch, out_r, err_r = warm.launch, warm.out_r, warm.err_r
    started = time.monotonic()
    try:
        launch.go(command, environ, workdir or warm.process.cwd)
    except BaseException:
        warm.discard()
        raise
    warm.launch, warm.out_r, warm.err_r = None, -1, -1      # the job's now
    os.close(warm.pidfd)        # the watcher no longer looks at a taken container
    warm.pidfd = -1
    launch.chan.close()
    pid = launch.init_pid
    out, err, in_time = collect(pid, out_r, err_r, timeout)
    status = os.waitpid(pid, 0)[1]
    ended = time.monotonic()
    if not in_time:
        raise api.JobTimeout(f"the job in {warm.id[:12]} ran past {timeout} s: killed")
    figures = usage.usage(warm.cgroup_dirs) if warm.cgroup_dirs else {}
    for key in ("cpu_ns", "io_read", "io_write"):
        if key in figures and key in warm.baseline:
            figures[key] -= warm.baseline[key]
    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
        else 128 + os.WTERMSIG(status)
    return api.job_result(code, out.decode(errors="replace"), err.decode(errors="replace"),
                          figures, ended - started)


def collect(pid: int, out_r: int, err_r: int, timeout: float | None) -> tuple:
    """(stdout, stderr, ended in time) of the job ``pid``: read both pipes
    until it exits (its pidfd turns readable), then what is left in them.
    A process it left behind may hold the pipes open: its output after the
    job's end is not the job's.  Past ``timeout``, the job is killed."""
    pidfd = os.pidfd_open(pid)
    chunks = {out_r: [], err_r: []}
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    for fd in (pidfd, out_r, err_r):
        poller.register(fd, select.POLLIN)
    in_time, open_fds = True, {out_r, err_r}
    try:
        while True:
            wait = None if deadline is None else max(0, deadline - time.monotonic()) * 1000
            events = poller.poll(wait)
            if not events:
                os.kill(pid, signal.SIGKILL)
                in_time = False
                break
            if any(fd == pidfd for fd, _ in events):
                break
            for fd, _ in events:
                if fd in open_fds and not _read(fd, chunks[fd]):
                    poller.unregister(fd)
                    open_fds.discard(fd)
        for fd in open_fds:         # the rest, without waiting for an end of file
            os.set_blocking(fd, False)
            while _read(fd, chunks[fd]):
                pass
    finally:
        for fd in (pidfd, out_r, err_r):
            os.close(fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), in_time


def _read(fd: int, into: list) -> bool:
    """One read into ``into``; False at end of file or when nothing is there."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    into.append(data)
    return bool(data)


# --- GPUs -------------------------------------------------------------------------

def _gpus_each(gpus) -> int:
    """``gpus=N``: N GPUs per container (0: none)."""
    if gpus is None or gpus == 0:
        return 0
    if isinstance(gpus, bool) or not str(gpus).isdigit() or int(gpus) < 1:
        raise MiniRunError(f"Pool gpus={gpus!r}: a pool gives each container GPUs of its "
                           "own: gpus=N, a number, 1 or more")
    return int(gpus)


def _host_gpus(each: int) -> list[str]:
    """The host's GPUs as CDI names (nvidia.com/gpu=I, the registry's or a
    spec generated for the driver), checked against what a container needs."""
    if not each:
        return []
    from minirun.engine.cdi.registry import Registry
    from minirun.engine.containers import devices
    registry = Registry()
    known = [n for n in registry.names() if n.startswith(devices.GPU_KIND + "=")]
    if not known:
        from minirun.engine.cdi import generate
        made = generate.in_memory()
        if made is not None:
            known = [n for n in Registry(specs=(made,)).names()
                     if n.startswith(devices.GPU_KIND + "=")]
    names = devices.gpu_names(("count", each), known)       # one error if too few
    return [n for n in known if n.split("=", 1)[1].isdigit()] if names else []
