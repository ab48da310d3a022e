"""The lazy mount of an image: one FUSE server per image and store, shared
by every container of that image, started with the first and stopped with
the last (also when a container's monitor was killed: `rm` stops it).

    <runtime dir>/lazy/<store>-<image>/mnt/N   layer N (bottom first) of the image
                                        /pid   the server's pid and start time
    <store>/lazy/log                    what the servers said (a registry gone:
                                        why reads failed), kept after them

The server is ``python -m minirun.engine.lazy.serve`` in a session of its own, so
that it outlives the command that started it; a plain user's mounts
through fusermount3.
"""
import os
import signal
import subprocess
import sys
import time

from minirun.errors import MiniRunError


class LazyMountError(MiniRunError):
    """The lazy mount could not be made."""


def _dir(store, image_id: str) -> str:
    from minirun.runtime.state import default_root
    st = os.stat(store.root)
    return os.path.join(default_root(), "lazy",
                        f"{st.st_dev:x}-{st.st_ino:x}-{image_id.split(':')[1][:16]}")


def layer_path(store, image_id: str, position: int) -> str:
    return os.path.join(_dir(store, image_id), "mnt", str(position))


def _running(d: str) -> int:
    """The server's pid, if it runs and its mount is there; else 0."""
    from minirun.runtime.state import live_pid
    pid = live_pid(os.path.join(d, "pid"))
    return pid if pid and os.path.ismount(os.path.join(d, "mnt")) else 0


def _lock(d: str):
    from minirun.runtime.state import file_lock
    return file_lock(os.path.join(d, "lock"))


def ensure(store, image_id: str) -> str:
    """The image's lazy mount, started if it is not running."""
    d = _dir(store, image_id)
    with _lock(d):
        if _running(d):
            return os.path.join(d, "mnt")
        _unmount(d)                         # a server that died leaves a dead mount
        os.makedirs(os.path.join(d, "mnt"), mode=0o755, exist_ok=True)
        ready_r, ready_w = os.pipe()
        log_path = os.path.join(store.root, "lazy", "log")
        os.makedirs(os.path.dirname(log_path), mode=0o755, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "minirun.engine.lazy.serve", store.root, image_id,
                 os.path.join(d, "mnt"), str(ready_w)], pass_fds=[ready_w],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        os.close(ready_w)
        import select
        ok = select.select([ready_r], [], [], 60)[0] and os.read(ready_r, 1) == b"1"
        os.close(ready_r)
        if not ok:
            proc.kill()
            proc.wait()
            with open(log_path, errors="replace") as f:
                why = (f.read().strip().splitlines() or ["no answer within 60 s"])[-1]
            _unmount(d)
            _clear(d)
            raise LazyMountError(f"the lazy mount of {image_id[:19]} failed: {why}")
        from minirun.runtime.state import write_pid
        write_pid(os.path.join(d, "pid"), proc.pid)
        return os.path.join(d, "mnt")


def ensure_for(store, image_id: str, bundle: str) -> None:
    """The mount, if the container's layers include lazy ones (a layer that
    has been completed since is an ordinary one for containers made after)."""
    with open(os.path.join(bundle, "config.json")) as f:
        if _dir(store, image_id) in f.read():
            ensure(store, image_id)


def _unmount(d: str) -> None:
    mnt = os.path.join(d, "mnt")
    if not os.path.exists(mnt):
        return
    if os.geteuid() == 0:
        from minirun.kernel import mounts
        try:
            mounts.umount2(mnt, mounts.MNT_DETACH)
        except OSError:
            pass
    else:
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)


def release_unused(store, image_id: str) -> None:
    """Stop the image's server and unmount, if no container's layers are
    in its mount any more."""
    from minirun.engine.store import container_dir
    d = _dir(store, image_id)
    if not os.path.isdir(d):
        return
    for (cid,) in store.db.execute("SELECT id FROM containers WHERE image_id=?", (image_id,)):
        try:
            with open(os.path.join(container_dir(store, cid), "config.json")) as f:
                if d in f.read():
                    return
        except OSError:
            continue
    release(store, image_id)


def release(store, image_id: str) -> None:
    """Stop the image's server, unmount, and remove its directory."""
    d = _dir(store, image_id)
    with _lock(d):
        pid = _running(d)
        _unmount(d)
        if pid:
            _stop(pid)
        _clear(d)


def _stop(pid: int, timeout: float = 3.0) -> None:
    """SIGTERM the server and wait until it is gone (SIGKILL after
    ``timeout`` s, then as long again): `rm` returns when nothing of its
    container is left.  Its mount is detached already, so only the pid can
    tell; a zombie (the monitor that started it not having waited) is gone."""
    from minirun.runtime.state import proc_start_time
    started = proc_start_time(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while proc_start_time(pid) == started and started is not None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        else:
            return


def _clear(d: str) -> None:
    """The mount's directory, gone (under its lock: file_lock copes)."""
    for name in ("pid", "lock"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    for gone in (os.path.join(d, "mnt"), d):
        try:
            os.rmdir(gone)
        except OSError:
            pass
