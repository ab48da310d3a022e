"""The pods table: a pod's record (id, name, created, its infra
container's id, the options it was made with) and its members, which are
the containers whose options name the pod."""
import json
import os

from minirun.engine.store import Store
from minirun.errors import MiniRunError


class PodError(MiniRunError):
    """A pod verb was refused: a name taken, a running pod removed without
    -f, a container that may not join it."""


class NoSuchPod(PodError):
    """No pod by that name or id: `minirun pod ps` lists them (exists and rm
    exit 1, as podman)."""


def find(store: Store, text: str) -> dict:
    """A pod by name, full id or id prefix."""
    rows = store.db.execute("SELECT id FROM pods WHERE name=? OR id=?", (text, text)).fetchall()
    if not rows and len(text) >= 3 and all(c in "0123456789abcdef" for c in text):
        rows = store.db.execute("SELECT id FROM pods WHERE id LIKE ?", (f"{text}%",)).fetchall()
        if len(rows) > 1:
            raise PodError(f"pod id prefix `{text}` is ambiguous")
    if not rows:
        raise NoSuchPod(f"no pod with name or ID {text} found: no such pod")
    return record(store, rows[0][0])


def record(store: Store, pod_id: str) -> dict:
    cols = ("id", "name", "created", "infra", "options")
    row = store.db.execute(f"SELECT {', '.join(cols)} FROM pods WHERE id=?",
                           (pod_id,)).fetchone()
    if row is None:
        raise NoSuchPod(f"no pod with name or ID {pod_id} found: no such pod")
    rec = dict(zip(cols, row))
    rec["options"] = json.loads(rec["options"] or "{}")
    return rec


def all_pods(store: Store) -> list[dict]:
    return [record(store, r[0]) for r in
            store.db.execute("SELECT id FROM pods ORDER BY created DESC")]


def members(store: Store, pod: dict) -> list[dict]:
    """The pod's containers, its infra first, then by age (their records)."""
    from minirun.engine.containers import records as ct
    rows = store.db.execute("SELECT id FROM containers WHERE json_extract(options, '$.pod')=? "
                            "ORDER BY created", (pod["id"],)).fetchall()
    recs = [ct.record(store, r[0]) for r in rows]
    return sorted(recs, key=lambda r: r["id"] != pod["infra"])


def hostname(pod: dict) -> str:
    """The pod's hostname: the one given, else its name (as podman's)."""
    return pod["options"].get("hostname") or pod["name"]


def joining(store: Store, text: str) -> dict:
    """What a member's spec is made with (containers/spec.make's ``pod``):
    the pod's id, infra container, shared namespaces, hostname and the
    network it was made with (host: the members use the host's too)."""
    pod = find(store, text)
    return {"id": pod["id"], "infra": pod["infra"], "share": pod["options"].get("share") or [],
            "hostname": hostname(pod), "network": pod["options"].get("network") or ""}


def new_id() -> str:
    return os.urandom(32).hex()
