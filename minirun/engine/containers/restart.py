"""--restart: what the monitor does when its container ends (there is no
daemon, so the monitor that ran it starts it again), as podman's policies:

    no               never (the default)
    on-failure[:N]   when it exited non-zero, at most N times (no N: always)
    always           whatever its code, until `stop` (or kill) ends it
    unless-stopped   the same (minirun has no boot to come back from)

`stop` and `kill` leave a mark in the container's directory (``stopped``)
that the monitor reads, so a container stopped by hand stays stopped; a
start clears it.  The count is kept beside it (``restarts``) for `inspect`
(RestartCount) and `ps` (Restarts).  A restart waits a little longer each
time (100 ms doubling, at most 5 s), as a crash loop should.
"""
import os

from minirun.engine.containers import records as ct
from minirun.engine.store import Store
from minirun.errors import MiniRunError

POLICIES = ("no", "on-failure", "always", "unless-stopped")


def parse(text: str | None, rm: bool) -> tuple[str, int]:
    """--restart's (policy, most retries; 0: no limit)."""
    if not text or text == "no":
        return "no", 0
    policy, _, count = text.partition(":")
    if policy not in POLICIES or (count and (policy != "on-failure" or not count.isdigit())):
        raise MiniRunError(f"--restart {text}: use no, on-failure[:N], always or "
                           "unless-stopped")
    if rm:
        raise MiniRunError("--restart and --rm cannot be combined: a container removed at "
                           "its end cannot be started again")
    return policy, int(count or 0)


def again(store: Store, rec: dict, code: int, done: int) -> bool:
    """Whether the monitor starts the container again, having restarted it
    ``done`` times, now that it exited with ``code``."""
    policy, most = rec["options"].get("restart") or "no", rec["options"].get(
        "restart_retries") or 0
    if policy == "no" or stopped_by_hand(store, rec["id"]):
        return False
    if policy == "on-failure":
        return code != 0 and (not most or done < most)
    return True


def mark_stopped(store: Store, cid: str) -> None:
    """`stop` or `kill`: the container stays stopped."""
    try:
        with open(_path(store, cid, "stopped"), "w"):
            pass
    except OSError:
        pass


def clear(store: Store, cid: str) -> None:
    """`start`: it may restart again."""
    try:
        os.unlink(_path(store, cid, "stopped"))
    except OSError:
        pass


def stopped_by_hand(store: Store, cid: str) -> bool:
    return os.path.exists(_path(store, cid, "stopped"))


def count(store: Store, cid: str) -> int:
    try:
        with open(_path(store, cid, "restarts")) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def record(store: Store, cid: str, restarts: int) -> None:
    with open(_path(store, cid, "restarts"), "w") as f:
        f.write(str(restarts))


def delay(done: int) -> float:
    return min(0.1 * 2 ** done, 5.0)


def _path(store: Store, cid: str, name: str) -> str:
    return os.path.join(ct.container_dir(store, cid), name)
