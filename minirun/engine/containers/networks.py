"""`network connect` and `disconnect`: a running container on more bridge
networks than its own (its --network keeps the default route; each further
one is eth1, eth2 ...), kept in its record's options (``networks``) so that
a restart joins them again, and `inspect` and `ps` show them."""
import json

from minirun.engine.containers import records as ct
from minirun.engine.network import connect, modes
from minirun.engine.store import Store


def extra(rec: dict) -> list[str]:
    return list(rec["options"].get("networks") or [])


def join(store: Store, name: str, network: str) -> None:
    from minirun.engine.containers import lifecycle
    from minirun.engine.network import bridge
    rec = lifecycle.refresh(store, ct.find(store, name))
    bridge.require(store, network)
    if not modes.bridged(rec["options"].get("network")):
        raise ct.ContainerError(f"container {rec['name']} is on --network "
                                f"{rec['options'].get('network')}: only a container on a "
                                "bridge network can join another")
    if network == rec["options"].get("network") or network in extra(rec):
        raise ct.ContainerError(f"container {rec['name']} is on network {network} already")
    if rec["state"] != "running":
        raise ct.ContainerError(f"container {rec['name']} is {rec['state']}: connect needs a "
                                "running container (minirun starts it on its own network)")
    nets = extra(rec) + [network]
    connect.attach_more(store, rec, network, len(nets))
    _save(store, rec, nets)


def leave(store: Store, name: str, network: str) -> None:
    from minirun.engine.containers import lifecycle
    rec = lifecycle.refresh(store, ct.find(store, name))
    if network == rec["options"].get("network"):
        raise ct.ContainerError(f"network {network} is container {rec['name']}'s own "
                                "(--network): only the ones it joined later can be left")
    nets = extra(rec)
    if network not in nets:
        raise ct.ContainerError(f"container {rec['name']} is not on network {network}")
    if rec["state"] == "running":
        connect.detach_more(store, rec, network, nets.index(network) + 1)
    nets[nets.index(network)] = None            # the others keep their interface numbers
    _save(store, rec, nets)


def _save(store: Store, rec: dict, nets: list) -> None:
    while nets and nets[-1] is None:
        nets.pop()
    ct.update(store, rec["id"], options=json.dumps({**rec["options"], "networks": nets}))
