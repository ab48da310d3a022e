"""What `pod ps` and `pod inspect` show: podman's rows and objects, read
from the pods table and the members' records (their state reconciled with
their processes), and pod ps's --filter and --sort."""
import re

from minirun.engine.pods import lifecycle
from minirun.engine.pods import records as pods
from minirun.engine.pods.records import PodError
from minirun.engine.store import Store

# pod ps --filter KEY=VALUE: a pod passes when, for each KEY given, one of
# its VALUEs matches (podman's: values of one key are or'ed, keys and'ed)
FILTERS = ("name", "id", "label", "status", "network", "until", "ctr-names", "ctr-ids",
           "ctr-status", "ctr-number")
STATUSES = ("created", "running", "paused", "exited", "degraded", "stopped", "dead")
SORTS = ("created", "id", "name", "number", "status")


def _networks(infra: dict | None) -> list[str]:
    """The named networks a pod is on (podman lists none for host, pasta or
    slirp4netns: they are not networks of its)."""
    from minirun.engine.network import modes
    network = infra["options"].get("network") if infra else None
    return [network] if modes.bridged(network) else []


def _row(pod: dict, recs: list[dict]) -> dict:
    """One pod as `pod ps --format json` prints it (podman's keys)."""
    infra = next((r for r in recs if r["id"] == pod["infra"]), None)
    return {"Cgroup": "", "Containers": [{"Id": r["id"], "Names": r["name"],
                                          "Status": r["state"]} for r in recs],
            "Created": pod["created"], "Id": pod["id"], "InfraId": pod["infra"] or "",
            "Name": pod["name"], "Namespace": "", "Networks": _networks(infra),
            "Status": lifecycle.state(recs), "Labels": pod["options"].get("labels") or {}}


def listing(store: Store, filters=(), sort: str = "created") -> list[dict]:
    """`pod ps --format json`'s rows, newest first (or by ``sort``), of the
    pods that pass every filter."""
    if sort not in SORTS:
        raise PodError(f"--sort {sort}: sort by {', '.join(SORTS[:-1])} or {SORTS[-1]}")
    tests = _parse_filters(filters)
    out = []
    for pod in pods.all_pods(store):
        row = _row(pod, lifecycle.refreshed(store, pod))
        if all(any(test(row, value) for value in values) for test, values in tests):
            out.append(row)
    key = {"created": None, "id": lambda r: r["Id"], "name": lambda r: r["Name"],
           "number": lambda r: len(r["Containers"]), "status": lambda r: r["Status"]}[sort]
    return sorted(out, key=key) if key else out


def _parse_filters(filters) -> list[tuple]:
    """--filter KEY=VALUE words as (test, values), one per key; a key or a
    status podman does not know is refused."""
    by_key: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if key not in FILTERS or not eq:
            raise PodError(f"--filter {f}: filter pods by {', '.join(FILTERS[:-1])} or "
                           f"{FILTERS[-1]} (KEY=VALUE)")
        if key == "status" and value not in STATUSES:
            raise PodError(f"--filter {f}: a pod's status is {', '.join(STATUSES[:-1])} or "
                           f"{STATUSES[-1]}")
        if key == "ctr-number" and not value.isdigit():
            raise PodError(f"--filter {f}: ctr-number is a number of containers")
        if key in ("name", "ctr-names"):
            try:
                re.compile(value)
            except re.error as e:
                raise PodError(f"--filter {f}: not a regular expression: {e}") from None
        if key == "until":              # (made before then: a record's stamp compares)
            from minirun.engine.containers.lifecycle import parse_time
            value = parse_time(value, "--filter until")
        by_key.setdefault(key, []).append(value)
    return [(_TESTS[key], values) for key, values in by_key.items()]


def _label(row: dict, value: str) -> bool:
    key, eq, wanted = value.partition("=")
    return key in row["Labels"] and (not eq or row["Labels"][key] == wanted)


_TESTS = {
    "name": lambda row, v: re.search(v, row["Name"]) is not None,
    "id": lambda row, v: row["Id"].startswith(v),
    "label": _label,
    "status": lambda row, v: row["Status"].lower() == v,
    "network": lambda row, v: v in row["Networks"],
    "until": lambda row, v: row["Created"] < v,
    "ctr-names": lambda row, v: any(re.search(v, c["Names"]) for c in row["Containers"]),
    "ctr-ids": lambda row, v: any(c["Id"].startswith(v) for c in row["Containers"]),
    "ctr-status": lambda row, v: any(c["Status"] == v for c in row["Containers"]),
    "ctr-number": lambda row, v: len(row["Containers"]) == int(v),
}


def inspect(store: Store, name: str) -> dict:
    """podman's `pod inspect` object (the fields scripts read)."""
    from minirun.engine.containers.inspect import port_bindings
    pod = pods.find(store, name)
    recs = lifecycle.refreshed(store, pod)
    opts = pod["options"]
    infra = next((r for r in recs if r["id"] == pod["infra"]), None)
    network = infra["options"].get("network") if infra else None
    return {
        "Id": pod["id"], "Name": pod["name"], "Created": pod["created"],
        "ExitPolicy": "continue", "State": lifecycle.state(recs),
        "Hostname": opts.get("hostname") or "", "Labels": opts.get("labels") or {},
        "CreateInfra": bool(pod["infra"]), "InfraContainerID": pod["infra"] or "",
        # (pid_ns, userns and uts_ns: the infra's own, as podman says them)
        "InfraConfig": {"PortBindings": port_bindings(infra["options"].get("ports") or []),
                        "HostNetwork": network == "host",
                        "Networks": _networks(infra) or None,
                        "pid_ns": "private", "userns": "host",
                        "uts_ns": "private"} if infra else None,
        "SharedNamespaces": opts.get("share") or [],
        "NumContainers": len(recs),
        "Containers": [{"Id": r["id"], "Name": r["name"], "State": r["state"]} for r in recs],
    }
