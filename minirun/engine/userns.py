"""Running store work as root of a user namespace (rootless).

A plain user's image layers hold files of many owners (root, daemon, ...).
To keep them, the store is written from inside a user namespace that maps
the user to root and their /etc/subuid range to the ids above, the way
``podman unshare`` does: the same maps as a rootless container, so an
unpacked layer looks right from inside one.

``as_root(fn, ...)`` forks, moves the child into such a namespace, runs
``fn`` there and hands its result (or its error) back.  It forks before any
thread exists: unshare(CLONE_NEWUSER) refuses a threaded caller.

Every fork here goes through kernel/fork, with the launch's protocol and
words: the child says ``userns`` once its namespace exists, the parent
writes the maps and says ``go``, the child sends ``result JSON`` (a holder
says ``ready`` and waits for end-of-file instead).  A failure comes back
as ``error STEP:ERRNO:DETAIL``; where ``fn`` raised one of minirun's
errors, STEP names its class and ERRNO carries its exit code, so the
caller gets the same class back (``_rebuild``).
"""
import functools
import os

from minirun.errors import LaunchError, MiniRunError


def _error_class(name: str) -> type | None:
    """The subclass of MiniRunError named ``module.Qualname``, or None."""
    module, _, qualname = name.rpartition(".")
    if not module or " " in name:
        return None
    import importlib
    try:
        found = getattr(importlib.import_module(module), qualname, None)
    except Exception:  # noqa: BLE001 (not a class name: a step's)
        return None
    return found if isinstance(found, type) and issubclass(found, MiniRunError) else None


def _rebuild(what: str, step: str, errno: int, detail: str) -> MiniRunError:
    """The store child's error line as an exception: the same class where
    ``fn`` raised one of minirun's (its step names the class, its errno
    field carries the exit code), else a MiniRunError naming the step, after
    ``what`` failed if the namespace did."""
    cls = _error_class(step)
    if cls is not None:
        err = Exception.__new__(cls)        # its own __init__ may want other arguments
        Exception.__init__(err, detail)
        err.exit_code = errno
        return err
    reason = os.strerror(errno) if errno else ""
    extra = f": {reason}" if reason and reason.lower() not in detail.lower() else ""
    prefix = f"{what}: " if step in _SETUP_STEPS else ""
    return MiniRunError(f"{prefix}{step}: {detail}{extra}")


def maps_for(uid: int, gid: int) -> tuple[list, list]:
    from minirun.kernel import idmap
    out = []
    for kind, own in (("uid", uid), ("gid", gid)):
        maps = [idmap.IDMap(container_id=0, host_id=own, size=1)]
        ranges = idmap.subordinate_ranges(kind, uid)
        if ranges:
            start, count = ranges[0]
            maps.append(idmap.IDMap(container_id=1, host_id=start, size=count))
        out.append(maps)
    return out[0], out[1]


def keep_id_maps(uid: int, gid: int) -> tuple[list, list]:
    """``--userns keep-id``: your uid (and gid) is itself inside the container,
    ids below it come from your subordinate range, and so do those above."""
    from minirun.kernel import idmap
    out = []
    for kind, own in (("uid", uid), ("gid", gid)):
        ranges = idmap.subordinate_ranges(kind, uid)
        if not ranges or ranges[0][1] <= own:
            raise MiniRunError(f"--userns keep-id: needs a range of more than {own} "
                               f"subordinate {kind}s in /etc/sub{kind} for your user "
                               "(usermod --add-sub" f"{kind}s 100000-165535 USER)")
        start, count = ranges[0]
        out.append([idmap.IDMap(container_id=0, host_id=start, size=own),
                    idmap.IDMap(container_id=own, host_id=own, size=1),
                    idmap.IDMap(container_id=own + 1, host_id=start + own, size=count - own)])
    return out[0], out[1]


def keep_id_owner(value: int, own: int) -> int:
    """Where a file owned by ``value`` (as the store's namespace sees it)
    must move so that a keep-id container sees the owner the image meant:
    the store maps 0 to you and n to subordinate n-1; keep-id maps n < own
    to subordinate n, own to you, and n > own to subordinate n-1."""
    return value + 1 if value < own else 0 if value == own else value


def remap_tree(src: str, dst: str, uid: int, gid: int) -> None:
    """Copy a layer with its owners moved for keep-id (run as root of the
    store's namespace).  chown clears setuid bits and file capabilities,
    so both are put back after it."""
    import stat
    import subprocess
    r = subprocess.run(["cp", "-a", "--reflink=auto", src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        raise MiniRunError(f"copying layer {os.path.basename(src)} for keep-id: "
                           f"{r.stderr.strip()}")
    for top, _, files, _ in os.fwalk(dst):      # each directory once, as a top
        for path in [top] + [os.path.join(top, n) for n in files]:
            st = os.lstat(path)
            link = stat.S_ISLNK(st.st_mode)
            try:
                caps = None if link else os.getxattr(path, "security.capability",
                                                     follow_symlinks=False)
            except OSError:
                caps = None
            os.lchown(path, keep_id_owner(st.st_uid, uid), keep_id_owner(st.st_gid, gid))
            if not link:
                os.chmod(path, stat.S_IMODE(st.st_mode))
            if caps:
                os.setxattr(path, "security.capability", caps, follow_symlinks=False)


def keep_id_layers(store, image_id: str) -> list[str]:
    """The image's layers (top first) copied with keep-id owners, made once
    per user and kept in the store beside the layers they come from."""
    uid, gid = os.getuid(), os.getgid()
    out = []
    for diff_id, _ in reversed(store.image_layers(image_id)):
        path = store.mapped_layer_dir(diff_id, f"keep-id-{uid}-{gid}")
        if not os.path.isdir(path):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            as_root(remap_tree, store.layer_dir(diff_id), tmp, uid, gid)
            try:
                os.rename(tmp, path)
            except OSError:           # another process made it first
                remove_tree(tmp)
        out.append(path)
    return out


def hold(keep_id: bool = False, join: int = 0) -> tuple[int, int]:
    """A process that holds a new user and network namespace (the user's
    subordinate ids mapped, as for a container) until the returned fd is
    closed; (its pid, that fd).  For a rootless container with a network:
    slirp4netns or pasta enters these before the container starts, and the
    container joins them (podman's infra process does the same).  With
    ``join``, the user namespace is that process's (the user's network
    namespace, engine/network/rootlessnet) and only the network namespace is new.

    The holder must stay dumpable, so that the user may open its
    /proc/PID/ns files; a container's own pid 1 is not, before it starts."""
    from minirun.kernel import fork
    uids, gids = (keep_id_maps if keep_id else maps_for)(os.getuid(), os.getgid())
    user = os.open(f"/proc/{join}/ns/user", os.O_RDONLY | os.O_CLOEXEC) if join else -1
    error = functools.partial(_rebuild, "could not create the container's user and "
                              "network namespace")
    try:
        # only what it needs: a pipe end of the container's stdio kept here would
        # keep its input open, and its output, after the monitor closed them
        child = fork.fork(_holder, user, join, error=error, who="the namespace holder",
                          keep_fds={user} - {-1}, narrate=False)
    finally:
        if user >= 0:
            os.close(user)
    try:
        child.expect("ready")
        if not join:
            write_maps(child.pid, uids, gids)
    except BaseException:
        child.kill()
        raise
    child.chan.close(write=False)       # the holder's stop fd: our write end
    return child.pid, child.chan.write_fd


def _holder(chan, step, user: int, join: int) -> None:
    """The holder's side: make the namespaces, say `ready`, and hold them
    until the monitor closes its end of the channel (or dies)."""
    from minirun import explain
    from minirun.kernel import namespaces
    explain.set_actor("holder", "keeps the container's user and network namespaces")
    if join:
        step("join the user namespace")
        namespaces.setns(user, namespaces.CLONE_NEWUSER, f"/proc/{join}/ns/user")
        step("unshare network namespace")
        namespaces.unshare(namespaces.CLONE_NEWNET)
    else:
        step("unshare user and network namespaces")
        namespaces.unshare(namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWNET)
    chan.send("ready")
    chan.recv("stop")


def write_maps(pid: int, uids: list, gids: list) -> None:
    """The maps of a child's new user namespace: through newuidmap and
    newgidmap for subordinate ranges, directly for a single id."""
    from minirun.kernel import idmap
    if len(uids) == 1:
        idmap.write_direct(pid, "uid", uids, deny_setgroups=False)
        idmap.write_direct(pid, "gid", gids, deny_setgroups=True)
    else:
        idmap.write_with_helper(pid, "uid", uids)
        idmap.write_with_helper(pid, "gid", gids)


def needed() -> bool:
    return os.geteuid() != 0


# The user we really are, remembered by a child as it becomes root of a
# user namespace: per-user paths (auth.json, registries.conf, home) must
# still be that user's there, not root's.
_host_user: tuple[int, str] | None = None


def host_user() -> tuple[int, str]:
    """(uid, home directory) of the user that ran minirun, also from inside
    the store's user namespace."""
    if _host_user is not None:
        return _host_user
    return os.getuid(), _home(os.getuid())


def _home(uid: int) -> str:
    if os.environ.get("HOME"):
        return os.environ["HOME"]
    import pwd
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return "/"


def as_root(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` as uid 0 of a user namespace; its return value
    must be JSON-serialisable."""
    return _in_child(True, fn, args, kwargs)


def in_namespaces_of(pid: int, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` as root of the user namespace of process
    ``pid``, in its network namespace (a plain user's network namespace)."""
    return _in_child(True, fn, args, kwargs, join=pid)


def in_child(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a child process (so that it may unshare a
    mount namespace of its own): as root of a user namespace when rootless,
    as ourselves when root."""
    return _in_child(needed(), fn, args, kwargs)


# The store child's steps before ``fn``: an error in one of these means the
# namespace could not be made or entered.
_SETUP_STEPS = ("join namespaces", "unshare user namespace", "become root")


def _in_child(userns: bool, fn, args, kwargs, join: int = 0):
    """Fork; the child makes (or joins) the namespace and says `userns`; the
    parent writes its maps and says `go`; the child becomes root, runs
    ``fn`` and sends back its `result` (or its error, rebuilt here)."""
    from minirun.kernel import fork
    uids, gids = maps_for(os.getuid(), os.getgid()) if userns and not join else ([], [])
    held = [os.open(f"/proc/{join}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
            for ns in ("user", "net")] if join else []
    what = "could not enter a user namespace" if join else \
        "could not create a user namespace for the store"
    try:
        child = fork.fork(_store_child, userns, join, held, host_user(), fn, args, kwargs,
                          error=functools.partial(_rebuild, what), who="the store process",
                          returns=True, narrate=False)
    finally:
        for fd in held:
            os.close(fd)
    try:
        child.expect("userns")
        if userns and not join:
            write_maps(child.pid, uids, gids)
        child.send("go")
        value = child.result()
    except BaseException:
        child.kill()
        raise
    child.chan.close()
    child.wait()
    return value


def _store_child(chan, step, userns: bool, join: int, held: list, me: tuple, fn, args,
                 kwargs):
    """The store child's side (see _in_child)."""
    from minirun import explain
    from minirun.kernel import namespaces
    explain.set_actor("store child", "works on the store's files as root of a user namespace")
    if join:
        step("join namespaces")
        namespaces.setns(held[0], namespaces.CLONE_NEWUSER, f"/proc/{join}/ns/user")
        namespaces.setns(held[1], namespaces.CLONE_NEWNET, f"/proc/{join}/ns/net")
    elif userns:
        step("unshare user namespace")
        namespaces.unshare(namespaces.CLONE_NEWUSER)
    chan.send("userns")
    chan.expect("go")
    if userns:
        step("become root")
        global _host_user
        _host_user = me       # (once the maps are written, our uid reads 0)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    step(getattr(fn, "__name__", "fn"))
    try:
        return fn(*args, **kwargs)
    except MiniRunError as e:   # its class travels as the step, its code as errno (_rebuild)
        cls = type(e)
        raise LaunchError(f"{cls.__module__}.{cls.__qualname__}", e.exit_code, str(e)) \
            from None


def remove_tree(path: str) -> None:
    """rm -rf of store files (layers, containers, volumes): rootless, as root
    of the user namespace, since they belong to subordinate ids too.  Only
    the files: the caller keeps its database work in its own process."""
    from minirun.engine import store
    if needed():
        as_root(store.remove_tree, path)
    else:
        store.remove_tree(path)
