"""The processes a launch forks, and the steps each takes, in order.

::

    runtime (parent, host)          launch.py
      '- intermediate (CHILD)       joins/unshares namespaces, forks once more
           '- init (INIT, pid 1)    builds the rootfs, becomes the process

``create`` runs ``intermediate`` then ``init``; ``exec`` runs ``intermediate``
(joining the container's namespaces) then ``init`` without the rootfs steps.
Every step runs under ``step(...)`` so that a failure reaches the parent as
``error STEP:ERRNO:DETAIL``: both children run in kernel/fork's ``serve``, which
sends what a step raises (sync.py lists the words).  They never print their errors.

Nothing here may start a thread: ``unshare(CLONE_NEWUSER)`` refuses a
multi-threaded caller, and a fork with threads copies their locks.

Why each step sits where it does (``--explain`` prints the item under the
step's ``-- NAME`` line; the calls in it have their own, in kernel/):

- stdio: the container's stdin, stdout and stderr become the pipes or the
  terminal its monitor gave, here in the forked child, never in the caller,
  whose other threads share its descriptors (dup2(2))
- join namespaces: all the namespace files are opened first: once in the
  container's mount namespace, the host's /proc/PID/ns paths are gone (setns(2))
- unshare user namespace: first of all, alone: the parent must write its id
  maps before anything else can be done as root inside it (user_namespaces(7))
- become root in the user namespace: the maps are written; uid 0 inside
  holds every capability over the namespaces this process will make (user_namespaces(7))
- oom_score_adj: inherited by INIT; set before the process stops being
  dumpable, after which a rootless container could no longer write it (proc(5))
- fork init: a new or joined PID namespace holds only the children of the
  process that entered it: this fork is the one that lives there (pid 1 of
  a new one) (pid_namespaces(7))
- stop propagation to the host: before any mount, so that none of the
  container's mounts can appear in the host's tree (mount_namespaces(7))
- bind rootfs: pivot_root needs the new root to be a mount point of its own (pivot_root(2))
- mount: one mount of the config, in the config's order: a later one may sit
  inside an earlier one (/dev before /dev/pts) (mount(2))
- create devices: once /dev is mounted, the device nodes the config lists (mknod(2))
- pivot_root: the rootfs becomes /, and the host's tree is detached: from
  here on only the container's files can be named (pivot_root(2))
- sysctl: written before /proc/sys turns read-only (sysctl(8))
- readonly paths: parts of /proc the container may read but never change,
  made read-only by a bind mount of each onto itself (proc(5))
- masked paths: files of /proc and /sys that tell of the host (keys, timers,
  firmware) are hidden under /dev/null or an empty tmpfs (proc(5))
- readonly root: last of the mounts: the steps before still write to the
  root (mount(2))
- unshare cgroup namespace: only once the parent has put this process in its
  cgroup, so that this group is what the container sees as its root (cgroup_namespaces(7))
- seccomp before the user switch: without no_new_privs, loading a filter
  needs CAP_SYS_ADMIN, which the user switch takes away (seccomp(2))
- user and capabilities: the bounding set shrinks first, then groups, gid
  and uid change, then the capability sets are set exactly (capabilities(7))
- close host file descriptors: nothing of the runtime's (state, sockets,
  pipes) may reach the container's program (close_range(2))
- find the executable: the program is looked up in the container's PATH now,
  while an error can still be reported as `executable file not found` (execvp(3))
- wait for start: create ends here: INIT blocks on exec.fifo until `start`
  opens it (fifo(7))
- no_new_privs: after the user switch, before the last filter: from here on
  nothing can gain privileges (prctl(2))
- seccomp: installed as late as possible, so that the runtime's own last
  system calls need not be allowed by the container's profile (seccomp(2))
- exec: the runtime's program becomes the container's (execve(2))
"""
import fcntl
import gc
import os
import signal

from minirun import explain
from minirun.kernel.fork import Channel, Step, serve
from minirun.runtime import process as proc_steps
from minirun.runtime import rootfs
from minirun.runtime.spec import Process, Spec


class Plan:
    """Everything a child needs, decided by the parent before forking."""

    def __init__(self, *, spec: Spec, process: Process, new_flags: int = 0,
                 new_userns: bool = False, join: list | None = None, build_rootfs: bool = True,
                 state_dir_fd: int = -1, console_fd: int = -1, setgroups_allowed: bool = True,
                 preserve_fds: int = 0, in_userns: bool = False, bundle: str = "",
                 cgroup_view=None, seccomp: bytes | None = None, chroot: str | None = None,
                 stdio: tuple | None = None, primed: bool = False,
                 die_with_parent: bool = False):
        self.spec, self.process = spec, process
        self.new_flags = new_flags          # namespaces to unshare (not CLONE_NEWUSER)
        self.new_userns = new_userns
        self.join = join or []              # [(path, CLONE_NEW*)] in join order
        self.build_rootfs = build_rootfs    # False for exec
        self.state_dir_fd = state_dir_fd    # O_PATH fd of the state dir (create only)
        self.console_fd = console_fd        # connected --console-socket, or -1
        self.setgroups_allowed = setgroups_allowed
        self.preserve_fds = preserve_fds
        self.in_userns = in_userns          # devices must be bound, not made
        self.bundle = bundle                # relative bind sources are relative to it
        self.cgroup_view = cgroup_view      # what /sys/fs/cgroup shows (cgroups.View)
        self.state_json = ""                # the OCI state, for startContainer hooks
        self.seccomp = seccomp              # the compiled linux.seccomp filter, or None
        self.chroot = chroot                # exec without a mount namespace: its root
        self.stdio = stdio                  # exec: (in, out, err) fds for 0/1/2, None: ours
        self.primed = primed                # exec: wait, ready, for the job's `job` line
        self.die_with_parent = die_with_parent  # SIGKILL when the runtime's process dies


def intermediate(chan: Channel, step: Step, k, plan: Plan) -> None:
    """CHILD: enter the namespaces, then fork the process that will be pid 1.
    Runs in kernel/fork's ``serve``: a step that raises reaches the parent
    as its error line."""
    # A collection here would write to every object's header, copying the
    # caller's whole heap page by page (a fork shares it until written): the
    # children live for milliseconds and need none.
    gc.disable()
    explain.set_actor("child", "the runtime's first fork: enters the namespaces, forks init")
    k.process.set_name("minirun:[1:CHILD]")
    if plan.stdio:
        step("stdio")
        redirect_stdio(plan.stdio)
    step("join namespaces")
    # Open them all first: once in the container's mount namespace, the
    # host's /proc/PID/ns paths no longer resolve.
    fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), path, nstype)
           for path, nstype in plan.join]
    for fd, path, nstype in fds:
        k.namespaces.setns(fd, nstype, path)
        os.close(fd)
    if plan.new_userns:
        step("unshare user namespace")
        k.namespaces.unshare(k.namespaces.CLONE_NEWUSER)
        chan.send("userns")
        # Maps written: now we may act.  The parent says whether they
        # left setgroups(2) allowed.
        plan.setgroups_allowed = chan.expect("go") != "setgroups-denied"
    joined_userns = any(t == k.namespaces.CLONE_NEWUSER for _, t in plan.join)
    if joined_userns:
        # a joined user namespace may deny setgroups(2) (its maps were
        # written by a plain user): /proc/self/setgroups now shows its
        plan.setgroups_allowed = k.idmap.setgroups_allowed("self")
    if plan.new_userns or joined_userns:
        step("become root in the user namespace")
        k.credentials.setresgid(0, 0, 0)
        k.credentials.setresuid(0, 0, 0)
        if plan.setgroups_allowed:
            k.credentials.setgroups([])
    # oom_score_adj is inherited by INIT; once we are not dumpable,
    # /proc/self is root's and a rootless container could not write it.
    step("oom_score_adj")
    proc_steps.set_oom_score_adj(plan.process)
    # Before anything of the container can see us (CVE-2019-5736).
    k.process.set_dumpable(False)
    # All but the cgroup namespace: INIT unshares that one once the
    # parent has moved it into its cgroup, so that the group is its root.
    flags = plan.new_flags & ~k.namespaces.CLONE_NEWCGROUP
    if flags:
        step("unshare namespaces")
        k.namespaces.unshare(flags)
    step("fork init")
    explain.say("fork(): the child is the first process of the new PID namespace",
                why="fork init")
    # INIT speaks on the same channel as we do: it waits for our `pid`
    # message to be out first, on a pipe of its own.
    after_r, after_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(after_w)
        os.read(after_r, 1)
        os.close(after_r)
        serve(chan, container_init, k, plan)
    chan.send(f"pid {pid}")
    os.write(after_w, b"1")


def redirect_stdio(stdio: tuple) -> None:
    """exec's ``stdio=(in, out, err)``: those descriptors become 0, 1 and 2
    (None keeps ours).  Done here, in the forked child, never in the caller,
    whose other threads share its descriptor table.  Each source is first
    copied above 2, so that moving one cannot overwrite another (an ``out``
    that is our fd 0, as subprocess guards against too)."""
    high = [None if fd is None else os.dup(fd) if fd > 2 else
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        if fd is not None:
            os.dup2(fd, target)         # dup2 clears close-on-exec on the target
            os.close(fd)


def container_init(chan: Channel, step: Step, k, plan: Plan) -> None:
    """INIT: the table of contents of a container's start.  Never returns
    (it execs); runs in kernel/fork's ``serve``, like CHILD."""
    explain.set_actor("init", "in the container: builds its root, then becomes its program"
                      if plan.build_rootfs else "in the container: becomes the exec'd program")
    proc = plan.process
    k.process.set_name("minirun:[2:INIT]")
    # The parent moves us into the cgroup meanwhile (the first move into
    # a cgroup costs the kernel ~10 ms, so we do not wait for it yet).
    if plan.build_rootfs:
        prepare_rootfs(k, plan, chan, step)
    else:
        chan.expect("placed")
        enter_root(k, plan, step)
    if proc.terminal:
        step("console")
        from minirun.runtime import console
        console.setup_in_container(k, plan.console_fd, proc, plan.build_rootfs)
        plan.console_fd = -1
    finalize(k, plan, chan, step)


def prepare_rootfs(k, plan: Plan, chan: Channel, step: Step) -> None:
    """The container's filesystem, hostname and sysctls, in this order:

    1. stop propagation to the host, then bind the rootfs onto itself;
    2. config mounts in config order (a later mount may sit inside an
       earlier one: /dev before /dev/pts);
    3. devices, once /dev is there;
    4. the create hooks, which may still see the host's tree;
    5. pivot_root, then what must be done from inside: sysctl before the
       read-only /proc/sys, read-only paths before masked ones, the root
       read-only last of the mounts.
    """
    spec = plan.spec
    if not spec.linux.namespace("mount"):
        return prepare_shared_rootfs(k, plan, chan, step)
    # A cgroup2 mount shows the cgroup namespace it is made in: on a cgroup v2
    # host, enter it before the mounts.  Elsewhere it can wait for the hooks.
    early = plan.cgroup_view is not None and plan.cgroup_view.unified
    if early:
        enter_cgroup_namespace(k, plan, chan, step)
    step("stop propagation to the host")
    rootfs.make_root_private(k, spec)
    step("overlay rootfs")
    rootfs.mount_overlay_root(k, spec, plan.in_userns)
    step("bind rootfs")
    root_fd = rootfs.bind_rootfs(k, spec)
    mount_and_run_hooks(k, plan, chan, step, root_fd, early)
    step("pivot_root")
    rootfs.pivot(k, root_fd)
    os.close(root_fd)
    step("rootfs propagation")
    rootfs.set_root_propagation(k, spec)
    step("make cwd")                 # as root, before the root may turn read-only
    proc_steps.make_cwd(plan.process)
    for key, value in spec.linux.sysctl:
        step(f"sysctl {key}")
        k.sysctl.write(key, value)
    step("readonly paths")
    rootfs.readonly_paths(k, spec)
    step("masked paths")
    rootfs.masked_paths(k, spec)
    step("readonly root")
    rootfs.readonly_root(k, spec)
    set_names(k, spec, step)


def enter_root(k, plan: Plan, step: Step) -> None:
    """exec: the namespaces joined, the root is the container's, unless it
    shares our mount namespace: then chroot to its root, as its INIT did."""
    if plan.chroot:
        step("chroot for exec")
        fd = os.open(plan.chroot, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        k.mounts.chroot_fd(fd)
        os.close(fd)
    else:
        k.process.chdir("/")


def mount_and_run_hooks(k, plan: Plan, chan: Channel, step: Step, root_fd: int,
                        early: bool) -> None:
    """Steps 2 to 4: the config's mounts, the devices, the create hooks."""
    spec = plan.spec
    for mnt in spec.mounts:
        step(f"mount {mnt.destination}")
        rootfs.mount_one(k, root_fd, mnt, plan.bundle, plan.cgroup_view)
    step("create devices")
    rootfs.make_devices(k, spec, root_fd, plan.in_userns)
    chan.send("hooks")      # createRuntime, createContainer, prestart run now
    plan.state_json = chan.expect("hooks-done")
    if spec.hooks.create_container:
        from minirun.runtime import cdihooks
        done_here = cdihooks.split(spec.hooks.create_container)[0]
        if done_here:
            step("NVIDIA's CDI hooks")
            cdihooks.perform(k, root_fd, done_here)
    if not early:
        enter_cgroup_namespace(k, plan, chan, step, placed=True)


def prepare_shared_rootfs(k, plan: Plan, chan: Channel, step: Step) -> None:
    """No mount namespace: the container shares the runtime's (the config
    did not list one).  The same mounts are made, under the rootfs, in that
    shared namespace (delete removes them: runtime/lifecycle.py), and the
    root changes with chroot(2), as runc does it: pivot_root would move the
    root of everyone in the namespace.  Nothing outside the rootfs changes
    (checks.check_shared_mounts refused what would)."""
    spec = plan.spec
    early = plan.cgroup_view is not None and plan.cgroup_view.unified
    if early:
        enter_cgroup_namespace(k, plan, chan, step)
    step("open rootfs")
    root_fd = os.open(spec.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    mount_and_run_hooks(k, plan, chan, step, root_fd, early)
    # /proc/sys is the runtime's until the chroot; what it shows is the
    # writer's own namespaces, which are the container's by now
    for key, value in spec.linux.sysctl:
        step(f"sysctl {key}")
        k.sysctl.write(key, value)
    step("chroot")
    k.mounts.chroot_fd(root_fd)
    os.close(root_fd)
    step("make cwd in the chroot")
    proc_steps.make_cwd(plan.process)
    set_names(k, spec, step)


def set_names(k, spec: Spec, step: Step) -> None:
    if spec.hostname:
        step("sethostname")
        k.uts.sethostname(spec.hostname)
    if spec.domainname:
        step("setdomainname")
        k.uts.setdomainname(spec.domainname)


def enter_cgroup_namespace(k, plan: Plan, chan: Channel, step: Step,
                           placed: bool = False) -> None:
    """Wait until the parent has put us in the cgroup, then make it the root
    of a new cgroup namespace (if the config asks for one)."""
    if not placed:
        chan.expect("placed")
    if plan.new_flags & k.namespaces.CLONE_NEWCGROUP:
        step("unshare cgroup namespace")
        k.namespaces.unshare(k.namespaces.CLONE_NEWCGROUP)


def finalize(k, plan: Plan, chan: Channel, step: Step) -> None:
    """From root in the container to the config's process, then execve."""
    proc, spec = plan.process, plan.spec
    step("rlimits")
    proc_steps.set_rlimits(k, proc)
    seccomp_early = spec.linux.seccomp is not None and not proc.no_new_privileges
    if seccomp_early:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it
        # while we still have it.
        step("seccomp before the user switch")
        k.seccomp.install(plan.seccomp)
    step("user and capabilities")
    proc_steps.switch_user(k, proc, plan.setgroups_allowed)
    if plan.die_with_parent:
        # After the user switch, which clears it; our parent is the runtime's
        # process now (CHILD has gone).  Had it died already, `ready` below
        # meets a closed channel and we end.
        step("parent-death signal")
        k.process.die_with_parent(signal.SIGKILL)
    step("close host file descriptors")
    keep = {0, 1, 2, plan.state_dir_fd} | chan.fds() | set(range(3, 3 + plan.preserve_fds)) \
        | explain.fds()         # --explain's own, close-on-exec
    proc_steps.close_host_fds(k, keep)
    if plan.primed:
        proc = _await_job(chan, proc, step)
    step("enter cwd")
    proc_steps.enter_cwd(k, proc)
    step("find the executable")
    path = proc_steps.find_executable(proc)
    env = proc_steps.env_dict(proc)
    if not plan.primed:
        chan.send("ready")
    if plan.state_dir_fd >= 0:
        step("wait for start")
        _wait_for_start(plan.state_dir_fd)
    if spec.hooks.start_container:
        step("startContainer hooks")
        from minirun.runtime import hooks
        hooks.run_all(spec.hooks.start_container, plan.state_json, "startContainer")
    if proc.no_new_privileges:
        step("no_new_privs")
        k.process.set_no_new_privs()
        if spec.linux.seccomp is not None:
            step("seccomp")  # as late as possible: fewer syscalls of ours to allow
            k.seccomp.install(plan.seccomp)
    # A handler goes at execve, but an ignored signal stays ignored: Python
    # ignores SIGPIPE and SIGXFSZ, and whoever started us in the background
    # SIGINT. The container must not inherit that (`yes | head`, Ctrl-C).
    step("default signal dispositions")
    k.process.default_signals()
    step("exec")
    k.process.execve(path, list(proc.args), env)


def _await_job(chan: Channel, proc: Process, step: Step) -> Process:
    """A primed exec (the pool's): everything the job does not decide is
    done; say `ready` and wait for its ``job {args, env, cwd}`` line.  What
    follows (cwd, the executable, no_new_privs, seccomp, execve) is the
    job's own."""
    import json
    chan.send("ready")
    step("wait for the job")
    job = json.loads(chan.expect("job"))
    return proc._replace(args=tuple(job["args"]), env=tuple(job["env"]), cwd=job["cwd"])


def _wait_for_start(state_dir_fd: int) -> None:
    """Block until `start` opens exec.fifo for reading; then write one byte.

    The fifo is opened relative to an O_PATH descriptor of the state
    directory taken before pivot_root (or chroot): its path on the host is
    no longer reachable, and /proc may not be mounted.  The descriptor is
    closed before the container's program runs.
    """
    fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=state_dir_fd)
    os.write(fd, b"0")
    os.close(fd)
    os.close(state_dir_fd)
