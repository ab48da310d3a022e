"""pod create: the record, then its infra container (unless --infra=false),
which holds the namespaces the pod shares and publishes its ports.  The
infra's spec is checked before anything is made; if a later step fails,
the record and the infra go again."""
import json
import os

from minirun.engine.pods import lifecycle, pause
from minirun.engine.pods.records import PodError, new_id
from minirun.engine.store import Store, check_name, now

SHAREABLE = ("ipc", "net", "pid", "uts")
DEFAULT_SHARE = ("ipc", "net", "uts")


def parse_share(text: str | None, infra: bool) -> list[str]:
    """--share ipc,net,uts[,pid]: the namespaces the pod's containers share
    (none without an infra container, which holds them); ``+pid``: the
    default ones and these, as podman reads it."""
    if text is None:
        return list(DEFAULT_SHARE) if infra else []
    words = [w.strip() for w in text.strip().removeprefix("+").split(",")]
    words = [w for w in words if w and w != "none"]
    if text.strip().startswith("+"):      # (only the list's first word may say +)
        words += DEFAULT_SHARE
    bad = [w for w in words if w not in SHAREABLE]
    if bad:
        why = (": a plain user's members always join the infra's user namespace, root's "
               "stay in the host's") if bad[0] == "user" else ""
        raise PodError(f"--share {text}: `{bad[0]}` cannot be shared: choose from "
                       f"{', '.join(SHAREABLE)}{why}")
    if words and not infra:
        raise PodError("--share: you cannot share namespaces without an infra container")
    return sorted(set(words))


def wants_infra(share: str | None, infra: bool | None) -> bool:
    """Whether a pod gets an infra container: as asked, else unless --share
    none (or "") says it shares nothing (podman's rule)."""
    if infra is not None:
        return infra
    return share is None or share.strip() not in ("", "none")


def create(store: Store, *, name: str | None = None, publish=(), share: str | None = None,
           infra: bool | None = None, hostname: str | None = None, labels=(),
           network: str | None = None, infra_name: str | None = None,
           replace: bool = False, id_file: str | None = None) -> str:
    """Make a pod; its id.  ``infra``: None for podman's default (one,
    unless ``share`` is none); ``replace``: a pod of that name is removed
    first (with -f); ``id_file``: a new file its id is written to."""
    from minirun.engine.containers import create as creating
    from minirun.engine.containers import spec as specs
    infra = wants_infra(share, infra)
    shared = parse_share(share, infra)
    pairs = _labels(labels)
    if name:
        check_name(name, "pod")
    else:
        name = _free_name(store)
    if infra_name is not None:
        check_name(infra_name, "container")
    if not infra and infra_name:
        raise PodError("--infra-name: a pod without an infra container has none to name")
    taken = store.db.execute("SELECT id FROM pods WHERE name=?", (name,)).fetchone()
    if taken and not replace:
        raise PodError(f"adding pod to state: name \"{name}\" is in use: pod already exists")
    if id_file and os.path.lexists(id_file):
        raise PodError(f"--pod-id-file {id_file}: the file exists; another pod may be using "
                       "it: remove it or name another")
    if not infra and (publish or network):
        raise PodError("you must have an infra container to publish ports or choose a "
                       "network (drop --infra=false, or share something)")
    pod_id = new_id()
    spec = None
    if infra:
        spec = specs.make(pause.IMAGE, pause.COMMAND, name=infra_name or f"{pod_id[:12]}-infra",
                          publish=tuple(publish), network=network or "private",
                          hostname=(hostname or name) if "uts" in shared else hostname,
                          pod={"id": pod_id, "role": "infra"})
        pause.ensure(store)
    if taken:                           # --replace: checked all else first
        lifecycle.remove(store, taken[0], force=True)
    options = {"share": shared, "labels": pairs, "hostname": hostname or "",
               "publish": list(publish), "network": network or "", "infra": infra}
    with store.transaction() as db:
        db.execute("INSERT INTO pods (id, name, created, infra, options) VALUES (?,?,?,?,?)",
                   (pod_id, name, now(), None, json.dumps(options)))
    infra_id = None
    try:
        if spec is not None:
            infra_id = creating.create(store, spec)
            with store.transaction() as db:
                db.execute("UPDATE pods SET infra=? WHERE id=?", (infra_id, pod_id))
        if id_file:
            creating.write_id_file(id_file, pod_id, "--pod-id-file")
    except BaseException:
        if infra_id:
            from minirun.engine.containers import lifecycle as containers
            containers.remove(store, infra_id, force=True, infra=True)
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
