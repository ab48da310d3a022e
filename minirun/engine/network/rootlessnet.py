"""A plain user's bridge networks live in a network namespace of their own
(podman calls it the rootless network namespace):

    host <-- slirp4netns --> tap0 10.0.2.100    (the user's network namespace)
                             minirun0 10.89.0.1 -- mr<id> ~ eth0  (container A's)
                                                -- mr<id> ~ eth0  (container B's)
                             nftables: NAT out through tap0, published ports

A plain user may not make devices on the host, but is root in a user
namespace of their own, and may make any device in a network namespace
that user namespace owns.  So a holder process keeps one user namespace
(the user's subordinate ids mapped, as for a container) and one network
namespace, where bridges, veths and nftables rules go exactly as root's
go on the host; slirp4netns connects it to the host, and publishes ports
to it, which nftables forwards on to containers.

Each container's own network namespace is made by a holder in that same
user namespace (engine/userns.hold with ``join``), so that the user's
namespace may move a veth end into it; the container joins both.  The
holder starts with the first container on a bridge and is stopped when
the last one leaves; its pid (and start time) is kept in a file.  It is
forked by kernel/fork with ``detach`` (twice, in a new session, keeping
nothing of its maker's but slirp4netns's exit pipe) and says ``ready``
once its namespaces exist.
"""
import os
import signal

from minirun.engine.network import usernet
from minirun.errors import MiniRunError


def _dir(store, make: bool = True) -> str:
    """The holder's files: one holder per store (its networks, its table)."""
    from minirun.runtime.state import default_root
    st = os.stat(store.root)
    path = os.path.join(default_root(), f"rootless-netns-{st.st_dev:x}-{st.st_ino:x}")
    if make:
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def api_socket(store) -> str:
    return os.path.join(_dir(store), "slirp.sock")


def running(store) -> int:
    """The holder's pid, or 0 if it is not running."""
    from minirun.runtime.state import live_pid
    return live_pid(os.path.join(_dir(store), "pid"))


def _lock(store):
    """One process at a time starts or stops the holder."""
    from minirun.runtime.state import file_lock
    return file_lock(os.path.join(_dir(store), "lock"))


def ensure(store) -> int:
    """The holder's pid: the running one, or a new one, connected."""
    with _lock(store):
        return running(store) or _start(store)


def _start(store) -> int:
    """Fork the holder (twice, so it is nobody's child of ours: kernel/fork's
    ``detach``), map its ids, connect it with slirp4netns and turn on
    forwarding inside."""
    from minirun.engine import userns
    from minirun.kernel import fork
    from minirun.runtime.state import write_pid
    exit_r, exit_w = os.pipe()              # slirp4netns's exit fd: the holder keeps it open
    try:
        # the monitor's files are not the holder's to keep: only exit_w
        child = fork.fork(_holder, error=_refused, who="the network namespace holder",
                          detach=True, keep_fds={exit_w}, narrate=False)
    except BaseException:
        os.close(exit_r)
        raise
    finally:
        os.close(exit_w)
    try:
        child.expect("ready")
        child.chan.close()
        uids, gids = userns.maps_for(os.getuid(), os.getgid())
        userns.write_maps(child.pid, uids, gids)
        sock = api_socket(store)
        if os.path.exists(sock):
            os.unlink(sock)
        os.set_inheritable(exit_r, True)
        usernet.start_slirp(child.pid, api=sock, exit_fd=exit_r)
        userns.in_namespaces_of(child.pid, _inside)
        write_pid(os.path.join(_dir(store), "pid"), child.pid)
    except BaseException:
        child.kill()                        # (not our child: killed, not reaped)
        raise
    finally:
        os.close(exit_r)
    return child.pid


def _holder(chan, step) -> None:
    """The holder's side: a new user and network namespace, held until it
    is killed (stop_if_idle)."""
    from minirun.kernel import namespaces, process
    process.set_name("minirun-netns")
    step("unshare user and network namespaces")
    namespaces.unshare(namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWNET)
    chan.send("ready")
    chan.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        signal.pause()


def _refused(step: str, errno: int, detail: str) -> MiniRunError:
    """The holder's error line, as the user reads it."""
    reason = os.strerror(errno) if errno else ""
    extra = f": {reason}" if reason and reason.lower() not in detail.lower() else ""
    return MiniRunError(f"could not create the user's network namespace: {step}: "
                        f"{detail}{extra}")


def _inside() -> None:
    """In the user's network namespace: lo up, and forwarding on."""
    from minirun.kernel import netlink
    netlink.set_up("lo")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


def stop_if_idle(store) -> None:
    """Stop the holder (slirp4netns goes with it, and every device inside)
    when no container holds an address on a network.  A container leases
    its address before it asks for the holder, and this looks under the
    same lock, so a holder that a starting container uses is never stopped."""
    if not os.path.exists(os.path.join(_dir(store, make=False), "pid")):
        return
    with _lock(store):
        if store.db.execute("SELECT 1 FROM leases LIMIT 1").fetchone():
            return
        pid = running(store)
        if pid:
            os.kill(pid, signal.SIGKILL)
        for name in ("pid", "slirp.sock"):
            try:
                os.unlink(os.path.join(_dir(store), name))
            except FileNotFoundError:
                pass


def run(store, fn, *args):
    """``fn(*args)`` inside the user's network namespace (as root of its user
    namespace), in a child; its result.  Starts the holder if needed."""
    from minirun.engine import userns
    return userns.in_namespaces_of(ensure(store), fn, *args)
