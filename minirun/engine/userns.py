"""Running store work as root of a user namespace (rootless).

A plain user's image layers hold files of many owners (root, daemon, ...).
To keep them, the store is written from inside a user namespace that maps
the user to root and their /etc/subuid range to the ids above, the way
``podman unshare`` does: the same maps as a rootless container, so an
unpacked layer looks right from inside one.

``as_root(fn, ...)`` forks, moves the child into such a namespace, runs
``fn`` there and hands its result (or its error) back.  It forks before any
thread exists: unshare(CLONE_NEWUSER) refuses a threaded caller.
"""
import json
import os
import sys

from minirun.errors import MiniRunError


def _rebuild(result: dict) -> MiniRunError:
    """The child's exception, as the same class where it is one of ours."""
    cls = MiniRunError
    if "class" in result:
        import importlib
        module, name = result["class"]
        found = getattr(importlib.import_module(module), name, None)
        if isinstance(found, type) and issubclass(found, MiniRunError):
            cls = found
    err = Exception.__new__(cls)
    Exception.__init__(err, result["error"])
    err.exit_code = result["code"]
    return err


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
    from minirun.kernel import namespaces
    uids, gids = (keep_id_maps if keep_id else maps_for)(os.getuid(), os.getgid())
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    stop_r, stop_w = os.pipe2(os.O_CLOEXEC)
    user = os.open(f"/proc/{join}/ns/user", os.O_RDONLY | os.O_CLOEXEC) if join else -1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # only what it needs: a pipe end of the container's stdio kept here would
            # keep its input open, and its output, after the monitor closed them
            keep = sorted({ready_w, stop_r, user} - {-1})
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            for low, high in zip([2] + keep, keep + [65536]):
                os.closerange(low + 1, high)
            if join:
                namespaces.setns(user, namespaces.CLONE_NEWUSER, f"/proc/{join}/ns/user")
                namespaces.unshare(namespaces.CLONE_NEWNET)
            else:
                namespaces.unshare(namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWNET)
            os.write(ready_w, b"1")
            os.close(ready_w)
            os.read(stop_r, 1)          # until the monitor closes its end, or dies
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w), os.close(stop_r)
    if user >= 0:
        os.close(user)
    try:
        if os.read(ready_r, 1) != b"1":
            raise MiniRunError("could not create the container's user and network namespace")
        if not join:
            write_maps(pid, uids, gids)
    except BaseException:
        os.close(stop_w)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
    return pid, stop_w


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


def _in_child(userns: bool, fn, args, kwargs, join: int = 0):
    from minirun.kernel import namespaces
    uid, gid = os.getuid(), os.getgid()
    me = host_user()      # (once the maps are written, the child's uid reads 0)
    uids, gids = maps_for(uid, gid) if userns and not join else ([], [])
    held = [os.open(f"/proc/{join}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
            for ns in ("user", "net")] if join else []
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r), os.close(go_w), os.close(out_r)
            if join:
                namespaces.setns(held[0], namespaces.CLONE_NEWUSER, f"/proc/{join}/ns/user")
                namespaces.setns(held[1], namespaces.CLONE_NEWNET, f"/proc/{join}/ns/net")
            elif userns:
                namespaces.unshare(namespaces.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            if userns:
                global _host_user
                _host_user = me
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
            result = {"ok": fn(*args, **kwargs)}
            code = 0
        except MiniRunError as e:
            result = {"error": str(e), "code": e.exit_code,
                      "class": [type(e).__module__, type(e).__qualname__]}
        except BaseException as e:  # noqa: BLE001 (the parent reports it)
            result = {"error": f"{type(e).__name__}: {e}", "code": 125}
        try:
            os.write(out_w, json.dumps(result).encode())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_w), os.close(go_r), os.close(out_w)
    for fd in held:
        os.close(fd)
    try:
        if os.read(ready_r, 1) != b"1":
            raise MiniRunError("could not enter a user namespace" if join else
                               "could not create a user namespace for the store")
        if userns and not join:
            write_maps(pid, uids, gids)
        os.write(go_w, b"1")
        data = b""
        while chunk := os.read(out_r, 65536):
            data += chunk
    finally:
        os.close(ready_r), os.close(go_w), os.close(out_r)
        _, status = os.waitpid(pid, 0)
    if not data:
        raise MiniRunError(f"the store process died (status {status})")
    result = json.loads(data)
    if "error" in result:
        raise _rebuild(result)
    return result["ok"]


def remove_tree(path: str) -> None:
    """rm -rf of store files (layers, containers, volumes): rootless, as root
    of the user namespace, since they belong to subordinate ids too.  Only
    the files: the caller keeps its database work in its own process."""
    from minirun.engine import store
    if needed():
        as_root(store.remove_tree, path)
    else:
        store.remove_tree(path)
