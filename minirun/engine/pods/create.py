"""pod create: the record, then its infra container (unless --no-infra),
which holds the namespaces the pod shares and publishes its ports.  The
infra's spec is checked before anything is made; if a later step fails,
the record and the infra go again."""
import json

from minirun.engine.pods import pause
from minirun.engine.pods.records import PodError, new_id
from minirun.engine.store import Store, check_name, now

SHAREABLE = ("ipc", "net", "pid", "uts")
DEFAULT_SHARE = ("ipc", "net", "uts")


def parse_share(text: str | None, infra: bool) -> list[str]:
    """--share ipc,net,uts[,pid]: the namespaces the pod's containers share
    (none without an infra container, which holds them)."""
    if text is None:
        return list(DEFAULT_SHARE) if infra else []
    words = [w.strip() for w in text.split(",") if w.strip() and w.strip() != "none"]
    bad = [w for w in words if w not in SHAREABLE]
    if bad:
        raise PodError(f"--share {text}: `{bad[0]}` cannot be shared: choose from "
                       f"{', '.join(SHAREABLE)}")
    if words and not infra:
        raise PodError("--share: you cannot share namespaces without an infra container")
    return sorted(set(words))


def create(store: Store, *, name: str | None = None, publish=(), share: str | None = None,
           infra: bool = True, hostname: str | None = None, labels=(),
           network: str | None = None) -> str:
    """Make a pod; its id."""
    from minirun.engine.containers import create as creating
    from minirun.engine.containers import spec as specs
    shared = parse_share(share, infra)
    pairs = _labels(labels)
    if name:
        check_name(name, "pod")
    else:
        name = _free_name(store)
    if store.db.execute("SELECT 1 FROM pods WHERE name=?", (name,)).fetchone():
        raise PodError(f"adding pod to state: name \"{name}\" is in use: pod already exists")
    if not infra and (publish or network):
        raise PodError("you must have an infra container to publish ports or choose a "
                       "network (drop --no-infra)")
    pod_id = new_id()
    spec = None
    if infra:
        spec = specs.make(pause.IMAGE, pause.COMMAND, name=f"{pod_id[:12]}-infra",
                          publish=tuple(publish), network=network or "private",
                          hostname=(hostname or name) if "uts" in shared else hostname,
                          pod={"id": pod_id, "role": "infra"})
        pause.ensure(store)
    options = {"share": shared, "labels": pairs, "hostname": hostname or "",
               "publish": list(publish), "network": network or "", "infra": infra}
    with store.transaction() as db:
        db.execute("INSERT INTO pods (id, name, created, infra, options) VALUES (?,?,?,?,?)",
                   (pod_id, name, now(), None, json.dumps(options)))
    try:
        if spec is not None:
            infra_id = creating.create(store, spec)
            with store.transaction() as db:
                db.execute("UPDATE pods SET infra=? WHERE id=?", (infra_id, pod_id))
    except BaseException:
        with store.transaction() as db:
            db.execute("DELETE FROM pods WHERE id=?", (pod_id,))
        raise
    from minirun.engine import events
    events.emit(store.root, "pod", "create", pod_id, name, "")
    return pod_id


def _labels(items) -> dict:
    for pair in items:
        if "=" not in pair:
            raise PodError(f"--label {pair}: labels are KEY=VALUE")
    return dict(p.split("=", 1) for p in items)


def _free_name(store: Store) -> str:
    from minirun.engine.containers.records import random_name
    while True:
        name = random_name(store)
        if not store.db.execute("SELECT 1 FROM pods WHERE name=?", (name,)).fetchone():
            return name
