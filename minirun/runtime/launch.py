"""The runtime's side of a launch: decide, fork, map ids, place, wait.

``create`` and ``exec`` share one shape (init.py has the children's side)::

    1. parse and check everything            (nothing made yet)
    2. state dir, exec.fifo, cgroup          (each undone if a later step fails)
    3. fork CHILD                            joins namespaces, unshares user ns
    4. write its uid/gid maps                newuidmap for ranges (rootless)
    5. put it in the cgroup, say `go`        it unshares the rest, forks INIT
    6. run the create hooks when INIT asks   INIT mounts, then pivots
    7. INIT says `ready`                     it waits on exec.fifo for `start`

CHILD is forked by kernel/fork (the one fork-and-handshake helper) and
speaks sync.py's words.  A failure anywhere arrives as one exception naming
the step; before it propagates, every process is killed and every directory
made is removed (``undo_create``).

Why each step is taken (``--explain`` prints the item under it):

- parsed: config.json is read and checked whole before anything is made,
  so that a mistake in it leaves nothing behind (the OCI runtime-spec's
  config.md) (runc(8))
- mkfifo: the container's first process will wait on this fifo, after
  every step of its making, until `start` opens it: that is how create
  and start are two commands (mkfifo(3))
- no cgroup: a plain user without a delegated cgroup cannot make one, so the
  container stays in the caller's, without limits, as podman does (cgroups(7))
- created: everything but the container's program is done: INIT is
  blocked on the fifo, and `start` (or run) lets it exec (runc(8))
"""
import json
import os
import signal

from minirun import explain
from minirun.errors import ConfigError, MiniRunError
from minirun.kernel import fork
from minirun.runtime import process as proc_steps, spec as spec_mod
from minirun.runtime.checks import (LIMITS_WARNED, can_raise_rlimits, check_spec,
                                    clamp_capabilities, clamp_rlimits, namespace_plan, warn)
from minirun.runtime.init import Plan, intermediate
from minirun.runtime.state import State, Store, now, proc_start_time
from minirun.runtime.sync import WHO, launch_error


def kernel():
    from minirun.kernel import linux
    return linux()


def write_maps(k, pid: int, spec: spec_mod.Spec) -> bool:
    """Write the child's uid/gid maps; return whether setgroups stays allowed."""
    im = k.idmap
    uids = [im.IDMap(container_id=m.container_id, host_id=m.host_id, size=m.size)
            for m in spec.linux.uid_mappings]
    gids = [im.IDMap(container_id=m.container_id, host_id=m.host_id, size=m.size)
            for m in spec.linux.gid_mappings]
    if os.geteuid() == 0:
        im.write_direct(pid, "uid", uids, deny_setgroups=False)
        im.write_direct(pid, "gid", gids, deny_setgroups=False)
        return True
    uid, gid = os.getuid(), os.getgid()
    if im.only_own_id(uids, uid) and im.only_own_id(gids, gid):
        im.write_direct(pid, "uid", uids, deny_setgroups=False)
        im.write_direct(pid, "gid", gids, deny_setgroups=True)
        return False
    sub_u, sub_g = im.subordinate_ranges("uid", uid), im.subordinate_ranges("gid", uid)
    if im.covered(uids, uid, sub_u) and im.covered(gids, gid, sub_g):
        im.write_with_helper(pid, "uid", uids)
        im.write_with_helper(pid, "gid", gids)
        return True
    warn(f"the config maps ids that /etc/subuid and /etc/subgid do not give uid {uid}: "
         f"mapping only container id 0 to your uid {uid} and gid {gid} instead (files of "
         "other owners will show as nobody; an administrator can add a range with "
         "`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`)")
    im.write_direct(pid, "uid", [im.IDMap(container_id=0, host_id=uid, size=1)], False)
    im.write_direct(pid, "gid", [im.IDMap(container_id=0, host_id=gid, size=1)], True)
    return False


# --- cgroups --------------------------------------------------------------

def make_cgroup(k, spec: spec_mod.Spec, cid: str) -> tuple[list[str], list[str]]:
    """The container's group in each tree: (leaves to join, leaves made).

    Parents made on the way (/minirun) stay for the next container, as
    podman's libpod_parent does: only what is the container's own goes.
    """
    path = spec.linux.cgroups_path or f"minirun/{cid}"   # under our own groups
    try:
        made = k.cgroups.create(path)
        leaves = k.cgroups.leaves(path)
    except PermissionError as e:
        if not k.idmap.is_rootless():
            raise MiniRunError(f"cannot create cgroup `{path}`: {e.strerror} "
                               f"(`{e.filename}`)") from None
        if spec.linux.resources.has_limits() and LIMITS_WARNED not in (spec.annotations or {}):
            # podman's way: run, without limits, and say so once (device rules
            # need no cgroup here: a user namespace cannot use host devices)
            warn(f"resource limits are ignored: this user has no writable cgroup "
                 f"({e.filename}); on cgroup v2 ask systemd to delegate one (Delegate=yes "
                 "for user@.service), on cgroup v1 limits need root")
        explain.say(f"no writable cgroup tree for this user: `{path}` not created; "
                    "the container shares the caller's cgroup", why="no cgroup")
        return [], []
    made_leaves = [d for d in made if d in leaves]
    from minirun.runtime import resources
    try:
        resources.apply(k, spec.linux.resources, leaves)
    except BaseException:
        k.cgroups.remove(made)
        raise
    return leaves, made_leaves


# --- the fork -------------------------------------------------------------

class Launch:
    """One fork of CHILD and INIT (kernel/fork); undoes itself if anything fails."""

    def __init__(self, k, plan: Plan):
        self.k, self.plan = k, plan
        preload(plan)
        k.process.set_child_subreaper()   # INIT becomes our child when CHILD exits
        self.child = fork.fork(intermediate, k, plan, error=launch_error, who=WHO)
        self.chan = self.child.chan
        self.init_pid = 0

    def enter(self, spec: spec_mod.Spec, cgroup_dirs: list[str]) -> None:
        """Steps 4 and 5: map ids, then move INIT into its cgroup."""
        if self.plan.new_userns:
            self.chan.expect("userns")
            allowed = write_maps(self.k, self.child.pid, spec)
            self.chan.send("go" if allowed else "go setgroups-denied")
        self.init_pid = int(self.chan.expect("pid"))
        self.child.wait()
        if cgroup_dirs:
            self.k.cgroups.add_process(cgroup_dirs, self.init_pid)
        if not self.plan.build_rootfs or self.plan.cgroup_view.unified:
            self.chan.send("placed")

    def go(self, args: list[str], env: list[str], cwd: str) -> None:
        """A primed exec's job: its argv, environment and working directory;
        returns once it has exec'd, raises what it could not do (a missing
        program: CommandNotFound)."""
        self.chan.send("job " + json.dumps({"args": args, "env": env, "cwd": cwd}))
        self.wait_exec()

    def wait_exec(self) -> None:
        """Until execve closes the channel (an error line raises)."""
        if self.chan.recv("exec") is not None:
            raise MiniRunError("protocol error after ready")

    def abort(self) -> None:
        if self.init_pid:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
                os.waitpid(self.init_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.child.kill()


def preload(plan: Plan) -> None:
    """Import now what the children will need after pivot_root, when the
    host's Python library is no longer on their filesystem."""
    if plan.process.terminal:
        import minirun.runtime.console  # noqa: F401
    if plan.spec.hooks.start_container:
        import minirun.runtime.hooks  # noqa: F401


def create(store: Store, cid: str, bundle: str, *, console_socket: str | None = None,
           console_fd: int = -1, pid_file: str | None = None, preserve_fds: int = 0,
           stdio: tuple | None = None, die_with_parent: bool = False,
           k=None) -> tuple[State, "Launch"]:
    """Steps 1-7 for a new container; INIT is left waiting for `start`.
    ``stdio``: as exec_process's.  ``die_with_parent``: INIT, our child once
    CHILD has gone, is killed when we die (the API's in-process runs)."""
    k = k or kernel()
    actor = explain.set_actor("parent", "the runtime, on the host: state, cgroups, id maps")
    try:
        return _create(k, store, cid, bundle, console_socket, console_fd, pid_file,
                       preserve_fds, stdio, die_with_parent)
    finally:
        explain.set_actor(*actor)      # the engine's monitor goes on in this process


def _create(k, store: Store, cid: str, bundle: str, console_socket: str | None,
            console_fd: int, pid_file: str | None, preserve_fds: int, stdio: tuple | None,
            die_with_parent: bool) -> tuple[State, "Launch"]:
    bundle = os.path.abspath(bundle)
    spec = spec_mod.load(bundle)
    check_spec(k, spec)
    new_flags, new_userns, joins = namespace_plan(k, spec)
    process = decide_process(k, spec, new_userns, console_socket, console_fd)
    explain.say(f"parsed {bundle}/config.json; making the state directory", why="parsed")
    directory = store.make(cid)
    cgroup_dirs, cgroup_made, launch, dir_fd = [], [], None, -1
    shared_mounts = None if spec.linux.namespace("mount") else \
        [mid for mid, _ in k.mounts.mounts_below(spec.root_path)]
    try:
        dir_fd = make_state_files(bundle, directory)
        cgroup_dirs, cgroup_made = make_cgroup(k, spec, cid)
        if console_socket:
            console_fd = _connect_console(console_socket)
        # In a user namespace (the container's own, or the one rootless podman
        # runs us in) device nodes cannot be made: they are bound from the host.
        in_userns = spec.linux.namespace("user") is not None or k.idmap.in_user_namespace()
        plan = Plan(spec=spec, process=process, new_flags=new_flags, new_userns=new_userns,
                    join=joins, state_dir_fd=dir_fd, console_fd=console_fd,
                    preserve_fds=preserve_fds, in_userns=in_userns, bundle=bundle,
                    cgroup_view=k.cgroups.view(cgroup_dirs), stdio=stdio,
                    die_with_parent=die_with_parent,
                    seccomp=proc_steps.seccomp_program(k, spec.linux.seccomp, store.root))
        state = State(id=cid, bundle=bundle, rootfs=spec.root_path, created=now(),
                      annotations=spec.annotations or {}, cgroup_dirs=cgroup_dirs,
                      cgroup_made=cgroup_made,
                      owner=os.geteuid(), rootless=k.idmap.is_rootless(),
                      shared_mounts=shared_mounts)
        launch = Launch(k, plan)
        launch.enter(spec, cgroup_dirs)
        state.pid = launch.init_pid
        state.pid_start = proc_start_time(launch.init_pid) or 0
        run_create_hooks(launch, spec, state, directory)
        store.save(state)
        if pid_file:
            write_pid_file(pid_file, state.pid)
        explain.say(f"container {cid} created: INIT {state.pid} waits on exec.fifo",
                    why="created")
        return state, launch
    except BaseException:
        undo_create(k, store, cid, spec, launch, cgroup_made, shared_mounts)
        raise
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)
        if console_socket and console_fd >= 0:
            os.close(console_fd)


def decide_process(k, spec: spec_mod.Spec, new_userns: bool, console_socket: str | None,
                   console_fd: int) -> spec_mod.Process:
    """The config's process with the rlimits and capabilities this host
    grants; a terminal needs somewhere to go."""
    process = clamp_rlimits(k, spec.process, can_raise_rlimits(k, new_userns))
    process = clamp_capabilities(k, process)
    if process.terminal and console_socket is None and console_fd < 0:
        raise ConfigError("process.terminal: a terminal needs --console-socket with create "
                          "(or use run, which handles the terminal itself)")
    return process


def make_state_files(bundle: str, directory: str) -> int:
    """The state directory's config.json and exec.fifo; an O_PATH descriptor
    of the directory, which INIT keeps to reach the fifo after pivot_root."""
    with open(os.path.join(bundle, "config.json"), "rb") as src, \
            open(os.path.join(directory, "config.json"), "wb") as dst:
        dst.write(src.read())
    fifo = os.path.join(directory, "exec.fifo")
    explain.say(f"mkfifo {fifo}: INIT will wait on it until `start`", why="mkfifo")
    os.mkfifo(fifo, 0o622)
    os.chmod(fifo, 0o622)
    return os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def run_create_hooks(launch: Launch, spec: spec_mod.Spec, state: State,
                     directory: str) -> None:
    """Step 6 and 7: when INIT asks (its mounts made, before pivot_root), the
    prestart, createRuntime and createContainer hooks; then INIT's `ready`."""
    launch.chan.expect("hooks")
    state_json = json.dumps(state.oci(directory) | {"status": "creating"})
    create_container = spec.hooks.create_container
    if create_container:        # NVIDIA's CDI hooks: INIT does them itself (cdihooks.py)
        from minirun.runtime import cdihooks
        create_container = cdihooks.split(create_container)[1]
    for phase, hook_list in (("prestart", spec.hooks.prestart),
                             ("createRuntime", spec.hooks.create_runtime),
                             ("createContainer", create_container)):
        if hook_list:
            from minirun.runtime import hooks
            hooks.run_all(hook_list, state_json, phase)
    launch.chan.send("hooks-done " + json.dumps(state.oci(directory)))
    launch.chan.expect("ready")


def undo_create(k, store: Store, cid: str, spec: spec_mod.Spec, launch: Launch | None,
                cgroup_made: list[str], shared_mounts: list | None) -> None:
    """A failed create leaves nothing: its processes killed, its cgroups,
    the mounts it added to a shared namespace and its state directory removed."""
    if launch:
        launch.abort()
    if cgroup_made:
        k.cgroups.remove(cgroup_made)
    if shared_mounts is not None:
        from minirun.runtime import rootfs
        rootfs.unmount_added(k, spec.root_path, shared_mounts)
    store.remove(cid)


def exec_process(store: Store, cid: str, process: spec_mod.Process, *,
                 console_socket: str | None = None, console_fd: int = -1,
                 pid_file: str | None = None, preserve_fds: int = 0,
                 stdio: tuple | None = None, primed: bool = False, k=None) -> "Launch":
    """Start one more process in a running container's namespaces and cgroup.
    ``stdio=(in, out, err)``: descriptors the process gets as 0, 1 and 2
    (None: the caller's), made so in the forked child, so that a caller
    with threads keeps its own stdio (the pool's jobs: pipes per job).
    ``primed``: stop before the steps a job decides (its cwd, executable,
    no_new_privs and seccomp, execve) and return; ``Launch.go`` gives it
    the job later (the pool's warm jobs: SOCK's zygote, one per container)."""
    k = k or kernel()
    explain.set_actor("parent", "the runtime, on the host: state, cgroups, id maps")
    state = store.load(cid)
    directory = store.dir(cid)
    if state.status(directory) != "running":
        raise MiniRunError(f"container `{cid}` is {state.status(directory)}, not running: "
                           "exec needs a started container")
    spec = spec_mod.load_saved(directory, state.bundle)
    process = clamp_capabilities(k, clamp_rlimits(k, process, False))
    ns = k.namespaces
    joins = []
    for kind in ns.JOIN_ORDER:
        if spec.linux.namespace(kind):
            path = f"/proc/{state.pid}/ns/{ns.BY_TYPE[kind][1]}"
            if not ns.same(path, f"/proc/self/ns/{ns.BY_TYPE[kind][1]}"):
                joins.append((path, ns.BY_TYPE[kind][0]))
    setgroups_allowed = k.idmap.setgroups_allowed(state.pid)
    if console_socket:
        console_fd = _connect_console(console_socket)
    plan = Plan(spec=spec, process=process, join=joins, build_rootfs=False,
                console_fd=console_fd, preserve_fds=preserve_fds,
                in_userns=spec.linux.namespace("user") is not None,
                setgroups_allowed=setgroups_allowed,
                seccomp=proc_steps.seccomp_program(k, spec.linux.seccomp, store.root),
                chroot=None if spec.linux.namespace("mount") else f"/proc/{state.pid}/root",
                stdio=stdio, primed=primed)
    launch = None
    try:
        launch = Launch(k, plan)
        launch.enter(spec, [d for d in state.cgroup_dirs if os.path.isdir(d)])
        launch.chan.expect("ready")
        if primed:
            return launch
        launch.wait_exec()
        if pid_file:
            write_pid_file(pid_file, launch.init_pid)
        return launch
    except BaseException:
        if launch:
            launch.abort()
        raise
    finally:
        if console_socket and console_fd >= 0:
            os.close(console_fd)


def _connect_console(path: str) -> int:
    from minirun.runtime import console
    return console.connect(path)


def write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)
