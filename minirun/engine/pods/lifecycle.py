"""The verbs on a pod, each over its containers: its infra first to start
(it holds the namespaces the others join) and last to stop; and a pod's
state, read from its containers' (listing.py shows it)."""
from minirun.engine.containers import lifecycle as containers
from minirun.engine.containers import records as ct
from minirun.engine.pods import records as pods
from minirun.engine.pods.records import PodError
from minirun.engine.store import Store
from minirun.errors import MiniRunError

LIVE = ("running", "paused")


def refreshed(store: Store, pod: dict) -> list[dict]:
    """Its containers' records, reconciled with their processes (infra first)."""
    return [containers.refresh(store, r) for r in pods.members(store, pod)]


def state(recs: list[dict]) -> str:
    """A pod's state from its containers' (podman's words): all running,
    Running; all paused, Paused; all made and never run, Created; some
    running, Degraded; else Exited."""
    states = [r["state"] for r in recs]
    if not states or all(s == "created" for s in states):
        return "Created"
    for s, word in (("running", "Running"), ("paused", "Paused")):
        if all(x == s for x in states):
            return word
    if any(s in LIVE for s in states):
        return "Degraded"
    return "Exited"


def _emit(store: Store, pod: dict, status: str) -> None:
    from minirun.engine import events
    events.emit(store.root, "pod", status, pod["id"], pod["name"], "")


def start(store: Store, name: str) -> str:
    """Its containers started, the infra first (a member's monitor would
    start it too); its id."""
    from minirun.engine.containers import monitor
    pod = pods.find(store, name)
    for rec in refreshed(store, pod):
        if rec["state"] not in LIVE:
            try:
                monitor.start_detached(store.root, rec["id"])
            except MiniRunError as e:
                raise PodError(f"starting container {rec['id']}: {e}") from None
    _emit(store, pod, "start")
    return pod["id"]


def stop(store: Store, name: str, timeout: float | None = None) -> str:
    """Its members stopped, all at once (each may take its stop timeout, as
    podman's do in parallel), then the infra; its id."""
    pod = pods.find(store, name)
    recs = refreshed(store, pod)
    members = [r for r in recs if r["id"] != pod["infra"] and r["state"] in LIVE]
    _at_once(store, members, lambda own, rec: containers.stop(own, rec["id"], timeout))
    for rec in recs:
        if rec["id"] == pod["infra"]:
            containers.stop(store, rec["id"], timeout)
    _emit(store, pod, "stop")
    return pod["id"]


def _at_once(store: Store, recs: list[dict], fn) -> None:
    """``fn(store, rec)`` for each of ``recs`` in a thread of its own, each
    with a store opened for it (an SQLite connection is not shared between
    threads); the first error is raised once all are done."""
    if len(recs) < 2:
        for rec in recs:
            fn(store, rec)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=len(recs)) as pool:
        done = [pool.submit(lambda rec: fn(Store(store.root), rec), rec) for rec in recs]
    for future in done:
        future.result()


def restart(store: Store, name: str, timeout: float | None = None) -> str:
    stop(store, name, timeout)
    return start(store, name)


def kill(store: Store, name: str, sig: str = "KILL") -> str:
    """A signal to each running container of the pod; its id."""
    pod = pods.find(store, name)
    running = [r for r in refreshed(store, pod) if r["state"] in LIVE]
    for rec in reversed(running):       # (none running: nothing to do, as podman)
        containers.kill(store, rec["id"], sig)
    _emit(store, pod, "kill")
    return pod["id"]


def freeze(store: Store, name: str, on: bool) -> str:
    """pause (``on``) or unpause each of its containers that can be; its id."""
    pod = pods.find(store, name)
    needs = "running" if on else "paused"
    for rec in refreshed(store, pod):
        if rec["state"] == needs:
            containers.freeze(store, rec["id"], on)
    _emit(store, pod, "pause" if on else "unpause")
    return pod["id"]


def remove(store: Store, name: str, force: bool = False, timeout: float | None = None) -> str:
    """The pod, its containers and their anonymous volumes gone: refused
    while one of its members runs, unless ``force`` stops them first, each
    given ``timeout`` seconds (default none: killed at once) (podman's pod
    rm, which stops a running infra container itself); its id."""
    pod = pods.find(store, name)
    recs = refreshed(store, pod)
    running = [r for r in recs if r["state"] in LIVE and r["id"] != pod["infra"]]
    if running and not force:
        raise PodError(f"pod {pod['id']} has containers that are not ready to be removed: "
                       f"cannot remove container {running[-1]['id']} as it is "
                       f"{running[-1]['state']} - running or paused containers cannot be "
                       "removed without force: container state improper")
    for rec in reversed(recs):          # the members, then the infra
        if rec["state"] in LIVE:
            containers.stop(store, rec["id"], timeout=0 if timeout is None else timeout)
    for rec in reversed(recs):
        try:
            containers.remove(store, rec["id"], force=True, volumes=True, infra=True)
        except ct.NoSuchContainer:
            pass                        # (--rm: gone with its end)
    with store.transaction() as db:
        db.execute("DELETE FROM pods WHERE id=?", (pod["id"],))
    _emit(store, pod, "remove")
    return pod["id"]


def prune(store: Store) -> list[str]:
    """Every pod whose containers have all run and ended (Exited; a pod made
    and never started stays, as podman's), removed; their ids."""
    gone = []
    for pod in pods.all_pods(store):
        if state(refreshed(store, pod)) == "Exited":
            gone.append(remove(store, pod["id"]))
    return gone


def top(store: Store, name: str, words: list[str]) -> list[list[str]]:
    """`pod top`: the processes of each running container of the pod (the
    infra's catatonit too, as podman's), under one header."""
    from minirun.engine.containers import top as tops
    pod = pods.find(store, name)
    recs = [r for r in refreshed(store, pod) if r["state"] in LIVE]
    if not recs:
        return []                       # (podman prints nothing either)
    if "pid" in (pod["options"].get("share") or []):
        recs = recs[:1]                 # one PID namespace: the infra's shows them all
    rows: list[list[str]] = []
    for rec in recs:
        table = tops.table(store, rec["id"], words)
        rows += table if not rows else table[1:]
    return rows


class _Prefixed:
    """A stream whose every line starts with a container's short id (pod
    logs, as podman marks lines of several containers)."""

    def __init__(self, raw, prefix: bytes, lock):
        self.raw, self.prefix, self.start, self.lock = raw, prefix, True, lock

    def write(self, data: bytes) -> None:
        out = b""
        for piece in data.splitlines(keepends=True):
            out += (self.prefix if self.start else b"") + piece
            self.start = piece.endswith(b"\n")
        with self.lock:
            self.raw.write(out)
            self.raw.flush()

    def flush(self) -> None:
        with self.lock:
            self.raw.flush()


def logs(store: Store, name: str, container: str | None = None, tail: int | None = None,
         timestamps: bool = False, follow: bool = False, names: bool = False,
         since: str | None = None, until: str | None = None) -> None:
    """`pod logs`: each member's log (the infra has none), its lines marked
    with the container's short id (``names``: its name); ``container``:
    that one's alone, unmarked.  ``follow``: every member's at once, until
    each has ended; ``since``/``until``: record stamps (as a container's)."""
    import sys
    import threading
    pod = pods.find(store, name)
    recs = [r for r in pods.members(store, pod) if r["id"] != pod["infra"]]
    if container:
        rec = ct.find(store, container)
        if rec["id"] not in {r["id"] for r in recs}:
            raise PodError(f"container {container} is not in pod {pod['name']}")
        containers.logs(store, rec["id"], follow=follow, tail=tail, timestamps=timestamps,
                        since=since, until=until)
        return
    lock = threading.Lock()             # one line at a time, whoever writes it

    def one(own: Store, rec: dict) -> None:
        prefix = (rec["name"] if names else rec["id"][:12]).encode() + b" "
        containers.logs(own, rec["id"], follow=follow, tail=tail, timestamps=timestamps,
                        since=since, until=until,
                        out=_Prefixed(sys.stdout.buffer, prefix, lock),
                        err=_Prefixed(sys.stderr.buffer, prefix, lock))
    if follow:
        _at_once(store, recs, one)
    else:
        for rec in recs:
            one(store, rec)


def exists(store: Store, name: str) -> bool:
    try:
        pods.find(store, name)
        return True
    except pods.NoSuchPod:
        return False


def pod_of(store: Store, rec: dict) -> dict | None:
    """The pod a container belongs to, if any."""
    pod_id = rec["options"].get("pod")
    return pods.record(store, pod_id) if pod_id else None

