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
"""
import json
import os
import signal
import sys

from minirun import explain
from minirun.errors import ConfigError, MiniRunError
from minirun.kernel import fork
from minirun.runtime import process as proc_steps, spec as spec_mod
from minirun.runtime.init import Plan, intermediate
from minirun.runtime.state import State, Store, now, proc_start_time
from minirun.runtime.sync import WHO, launch_error


def kernel():
    from minirun.kernel import linux
    return linux()


def warn(message: str) -> None:
    sys.stderr.write(f"minirun: warning: {message}\n")


# --- deciding -------------------------------------------------------------

def clamp_rlimits(k, proc: spec_mod.Process, can_raise: bool) -> spec_mod.Process:
    limits = []
    for rl in proc.rlimits:
        soft, hard, why = k.rlimits.clamp(rl.type, rl.soft, rl.hard, can_raise)
        if why:
            warn(why)
        limits.append(spec_mod.Rlimit(type=rl.type, soft=soft, hard=hard))
    return proc._replace(rlimits=tuple(limits))


def clamp_capabilities(k, proc: spec_mod.Process) -> spec_mod.Process:
    """Grant what the kernel allows and say what it will not, as runc does:

    - a capability this kernel does not know (newer than cap_last_cap) is
      left out of every set;
    - an ambient capability must also be permitted and inheritable
      (capabilities(7)); `runc spec` lists ambient ones and no inheritable
      set, so those are not raised rather than failing the container.
    """
    caps = proc.capabilities
    if caps is None:
        return proc
    last, sets = k.capabilities.last_cap(), {}
    for key in caps._fields:
        names = getattr(caps, key)
        unknown = [n for n in names if k.capabilities.BY_NAME[n] > last]
        if unknown:
            warn(f"process.capabilities.{key}: {', '.join(unknown)} unknown to this kernel "
                 "(too new for it): not granted")
        sets[key] = tuple(n for n in names if n not in unknown)
    kept = set(sets["permitted"]) & set(sets["inheritable"])
    refused = [n for n in sets["ambient"] if n not in kept]
    if refused:
        warn(f"process.capabilities.ambient: {', '.join(refused)} not raised: an ambient "
             "capability must also be in the permitted and inheritable sets (add it to "
             "process.capabilities.inheritable to grant it)")
        sets["ambient"] = tuple(n for n in sets["ambient"] if n in kept)
    return proc._replace(capabilities=spec_mod.Capabilities(**sets))


def can_raise_rlimits(k, new_userns: bool) -> bool:
    """Raising a hard limit needs CAP_SYS_RESOURCE in the initial user ns."""
    if new_userns or k.idmap.is_rootless():
        return False
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


def namespace_plan(k, spec: spec_mod.Spec) -> tuple[int, bool, list]:
    ns = k.namespaces
    new_flags, joins = 0, []
    for n in spec.linux.namespaces:
        flag = ns.BY_TYPE[n.type][0]
        if n.path:
            joins.append((ns.JOIN_ORDER.index(n.type), n.path, flag))
        elif n.type != "user":
            new_flags |= flag
    new_userns = bool(spec.linux.namespace("user") and not spec.linux.namespace("user").path)
    return new_flags, new_userns, [(p, f) for _, p, f in sorted(joins)]


def check_spec(k, spec: spec_mod.Spec) -> None:
    """What the config asks that this runtime cannot do, refused before
    anything is made.  A namespace type the config does not list is the
    runtime's own, inherited (runtime-spec, config-linux.md): what would
    change that shared namespace for everyone in it is refused here."""
    if spec.process is None:
        raise ConfigError("process: missing; the container needs a process to run")
    if os.geteuid() != 0 and not spec.linux.namespace("user"):  # root of a user ns may
        raise ConfigError("linux.namespaces: running as a plain user needs a user namespace "
                          "(`minirun-oci spec --rootless` writes a config with one)")
    for key, _ in spec.linux.sysctl:
        if not k.sysctl.allowed(key):
            raise ConfigError(f"linux.sysctl: `{key}` is not namespaced: setting it would "
                              "change the host (only kernel.msg*, kernel.sem, kernel.shm*, "
                              "fs.mqueue.* and net.* can be set per container)")
        kind = k.sysctl.owner(key)
        if not _own_namespace(k, spec, kind):
            raise ConfigError(f"linux.sysctl: `{key}` needs a {kind} namespace that is not "
                              f"the runtime's own (add {{\"type\": \"{kind}\"}} to "
                              "linux.namespaces): it would change the host's")
    for field, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
        if value and not _own_namespace(k, spec, "uts"):
            raise ConfigError(f"{field}: setting it needs a uts namespace that is not the "
                              "runtime's own (add {\"type\": \"uts\"} to linux.namespaces)")
    if not spec.linux.namespace("mount"):
        check_shared_mounts(k, spec)
    if spec.linux.cgroups_path and ":" in spec.linux.cgroups_path:
        raise ConfigError(f"linux.cgroupsPath: `{spec.linux.cgroups_path}` is a systemd "
                          "slice:prefix:name path; minirun manages cgroupfs paths only "
                          "(use a path like /minirun/ID, or none)")


def _own_namespace(k, spec: spec_mod.Spec, kind: str) -> bool:
    """The container has a namespace of this type that is not ours: a new
    one, or one joined by a path that does not name the runtime's."""
    ns = spec.linux.namespace(kind)
    if ns is None:
        return False
    if ns.path is None:
        return True
    proc_name = k.namespaces.BY_TYPE[kind][1]
    try:
        return not k.namespaces.same(ns.path, f"/proc/self/ns/{proc_name}")
    except OSError:
        return True         # joining it will fail with its own clear error


def check_shared_mounts(k, spec: spec_mod.Spec) -> None:
    """No mount namespace: the container lives in the runtime's.  Its mounts
    are made there under the rootfs (removed again at delete) and it is
    chrooted, as runc does.  What would change mounts outside the rootfs,
    or cannot be undone, is refused, each naming why (runc refuses the same)."""
    if spec.linux.namespace("user") or k.idmap.in_user_namespace():
        raise ConfigError("linux.namespaces: a container in a user namespace needs a mount "
                          "namespace of its own: the runtime's mount namespace belongs to "
                          "another user namespace, so it could make neither its mounts nor "
                          "its /dev there (add {\"type\": \"mount\"})")
    why = "add {\"type\": \"mount\"} to linux.namespaces, or remove it"
    if spec.linux.masked_paths or spec.linux.readonly_paths:
        raise ConfigError("linux.maskedPaths: masked and read-only paths need a mount "
                          "namespace of the container's own (they would cover the runtime's "
                          f"/proc and /sys): {why}")
    if spec.root_readonly:
        raise ConfigError(f"root.readonly: a read-only root needs a mount namespace of the "
                          f"container's own: {why}")
    if spec.linux.rootfs_propagation:
        raise ConfigError(f"linux.rootfsPropagation: needs a mount namespace of the "
                          f"container's own: {why}")
    from minirun.runtime.rootfs import OVERLAY_ANNOTATION
    if (spec.annotations or {}).get(OVERLAY_ANNOTATION):
        raise ConfigError(f"annotations.{OVERLAY_ANNOTATION}: the overlay rootfs is mounted "
                          f"in the container's own mount namespace: {why}")


# --- id maps --------------------------------------------------------------

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
        if spec.linux.resources.has_limits():
            # podman's way: run, without limits, and say so once (device rules
            # need no cgroup here: a user namespace cannot use host devices)
            warn(f"resource limits are ignored: this user has no writable cgroup "
                 f"({e.filename}); on cgroup v2 ask systemd to delegate one (Delegate=yes "
                 "for user@.service), on cgroup v1 limits need root")
        explain.say(f"no writable cgroup tree for this user: `{path}` not created; "
                    "the container shares the caller's cgroup")
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
           k=None) -> tuple[State, "Launch"]:
    """Steps 1-7 for a new container; INIT is left waiting for `start`."""
    k = k or kernel()
    bundle = os.path.abspath(bundle)
    spec = spec_mod.load(bundle)
    check_spec(k, spec)
    new_flags, new_userns, joins = namespace_plan(k, spec)
    process = decide_process(k, spec, new_userns, console_socket, console_fd)
    explain.say(f"parsed {bundle}/config.json; making the state directory")
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
                    cgroup_view=k.cgroups.view(cgroup_dirs),
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
        explain.say(f"container {cid} created: INIT {state.pid} waits on exec.fifo")
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
    explain.say(f"mkfifo {fifo}: INIT will wait on it until `start`")
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
                 pid_file: str | None = None, preserve_fds: int = 0, k=None) -> "Launch":
    """Start one more process in a running container's namespaces and cgroup."""
    k = k or kernel()
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
                chroot=None if spec.linux.namespace("mount") else f"/proc/{state.pid}/root")
    launch = None
    try:
        launch = Launch(k, plan)
        launch.enter(spec, [d for d in state.cgroup_dirs if os.path.isdir(d)])
        launch.chan.expect("ready")
        if launch.chan.recv("exec") is not None:
            raise MiniRunError("protocol error after ready")
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
