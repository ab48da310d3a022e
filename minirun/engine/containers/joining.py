"""Joining another container's namespaces: a pod's members join those of
its infra container (engine/pods), as podman's do.

Joining a namespace is a path in config.json's ``linux.namespaces``: the
runtime opens it and calls setns(2).  The path is the other container's
running process's (``/proc/PID/ns/ipc``), except root's network namespace
of ours, which is a file that lives as long as the network
(network/modes.netns_path).  A process's pid changes when the infra
container starts again, so the paths are written at create (where the
infra runs) and again at every start (the monitor's :func:`repoint`),
once the containers joined run.

A plain user's member joins the infra's user namespace too: it owns the
others (setns(2) to them needs a capability there), and its id maps are
the infra's, so the member writes none of its own.

Why (``--explain`` prints the item under it):

- pod: a pod's containers share namespaces: each joins its infra
  container's, named by path, so the runtime calls setns(2) on them instead
  of making new ones (setns(2))

See: setns(2), namespaces(7)
"""
import json
import os

from minirun import explain
from minirun.engine.containers import records as ct
from minirun.engine.store import Store

NS_FILE = {"network": "net", "ipc": "ipc", "uts": "uts", "pid": "pid", "user": "user"}


def paths(store: Store, joins: dict) -> dict:
    """Namespace type -> the path to join, for each of ``joins`` (type ->
    container id) whose container runs (or whose namespace is a file)."""
    from minirun.engine.network import modes
    out = {}
    for kind, cid in joins.items():
        try:
            rec = ct.record(store, cid)
        except ct.ContainerError:
            raise ct.ContainerError(f"container {cid[:12]}, whose {kind} namespace this one "
                                    "joins, is gone: remove this one (or its pod)") from None
        if kind == "network" and os.geteuid() == 0 and \
                modes.private(rec["options"].get("network")):
            out[kind] = modes.netns_path(cid)
        elif rec["state"] in ("running", "paused") and rec["pid"]:
            out[kind] = f"/proc/{rec['pid']}/ns/{NS_FILE[kind]}"
    return out


def apply(config: dict, joins: dict, found: dict) -> None:
    """config.json's namespaces pointed at ``found`` (type -> path); a
    joined user namespace brings its own id maps."""
    for n in config["linux"]["namespaces"]:
        if n["type"] in joins:
            n.pop("path", None)
            if n["type"] in found:
                n["path"] = found[n["type"]]
    if "user" in joins:
        config["linux"].pop("uidMappings", None)
        config["linux"].pop("gidMappings", None)


def published(store: Store, rec: dict) -> list[dict]:
    """The ports a container is reached on: its own, or, where it joins
    another's network (a pod's member joins its infra's), that one's: a
    member shows its pod's ports in ps, port and inspect, as podman's do."""
    cid = (rec["options"].get("joins") or {}).get("network")
    if not cid:
        return rec["options"].get("ports") or []
    try:
        return ct.record(store, cid)["options"].get("ports") or []
    except ct.ContainerError:
        return []                       # (the infra gone: its pod is going)


def user_owner(store: Store, rec: dict) -> int:
    """The pid of the running container whose user namespace ``rec`` joins
    (0: none), for a network namespace of its own made inside that one."""
    cid = (rec["options"].get("joins") or {}).get("user")
    return (ct.record(store, cid)["pid"] or 0) if cid else 0


def repoint(store: Store, rec: dict, directory: str) -> None:
    """At start, once the containers joined run: the bundle's namespace
    paths made those of their processes now."""
    joins = rec["options"].get("joins") or {}
    found = paths(store, joins)
    missing = sorted(set(joins) - set(found))
    if missing:
        raise ct.ContainerError(f"the {', '.join(missing)} namespace(s) this container joins "
                                f"are not there: container {joins[missing[0]][:12]} is not "
                                "running", exit_code=125)
    for kind in sorted(found):
        explain.say(f"join the {kind} namespace of container {joins[kind][:12]}: "
                    f"{found[kind]}", why="pod")
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        config = json.load(f)
    apply(config, joins, found)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
