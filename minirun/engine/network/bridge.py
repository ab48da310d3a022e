"""Bridge networks: the rows of the store's ``networks`` and ``leases``
tables, and the verbs of `minirun network` (create, ls, inspect, rm,
prune).

    minirun0 (10.89.0.1/24, on the host)           the default network
      |-- mr<id> ~ eth0 10.89.0.2  (container A's network namespace)
      '-- mr<id> ~ eth0 10.89.0.3  (container B's)
    minirun1 (10.89.1.1/24)                         a named one, and so on

A network is a row (name, subnet, gateway, bridge); the bridge device
itself is made when its first container connects (connect.py).  The
default network's row is made the first time it is asked for.  Addresses
are leased in the store (one table, under its lock), so two containers
never get one address, and a lease goes with the container; as root the
address and a named network's bridge and subnet are claimed on the host
too (claims.py), for other stores.
"""
import json
import os

from minirun.engine.network import claims, hosts, nat
from minirun.engine.network.modes import (BUILTIN, DEFAULT, DEFAULT_SUBNET, NAME, NoSuchNetwork,
                                          NetworkError, link_exists)
from minirun.engine.store import Store, now


def find(store: Store, name: str) -> dict:
    """Network ``name``'s row (the default one is made if missing)."""
    row = store.db.execute("SELECT name, subnet, gateway, bridge, created FROM networks "
                           "WHERE name=?", (name,)).fetchone()
    if row is None:
        if name != DEFAULT:
            raise NoSuchNetwork(f"no network `{name}` (minirun network ls lists them)")
        with store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO networks (name, subnet, gateway, bridge, created) "
                       "VALUES (?, ?, ?, ?, ?)", (DEFAULT, DEFAULT_SUBNET, "10.89.0.1",
                                                   "minirun0", now()))
        return find(store, name)
    return dict(zip(("name", "subnet", "gateway", "bridge", "created"), row))


def require(store: Store, name: str) -> None:
    """An error unless network ``name`` exists (the default one always does)."""
    find(store, name)


def _host_routes() -> list:
    """The IPv4 networks this host routes already (/proc/net/route)."""
    import ipaddress
    import socket
    import struct
    out = []
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            dest, mask = (socket.inet_ntoa(struct.pack("<I", int(x, 16))) for x in
                          (fields[1], fields[7]))
            if mask != "0.0.0.0":
                out.append((fields[0], ipaddress.ip_network(f"{dest}/{mask}")))
    return out


def _pick_subnet(subnet: str | None, in_use: list):
    """The subnet given (checked: IPv4, /29 or larger, overlapping nothing
    ``in_use``), or the next free 10.89.N.0/24."""
    import ipaddress
    if subnet:
        try:
            net = ipaddress.ip_network(subnet)
        except ValueError as e:
            raise NetworkError(f"--subnet {subnet}: {e}") from None
        if net.version != 4 or net.prefixlen > 29:
            raise NetworkError(f"--subnet {subnet}: give an IPv4 network of /29 or larger")
        for other in in_use:
            if net.overlaps(other):
                raise NetworkError(f"--subnet {subnet} overlaps {other}, which is in use "
                                   "(minirun network ls; ip route)")
        return net
    net = next((c for c in (ipaddress.ip_network(f"10.89.{i}.0/24") for i in range(1, 255))
                if not any(c.overlaps(o) for o in in_use)), None)
    if net is None:
        raise NetworkError("no free 10.89.N.0/24 left: give --subnet")
    return net


def create(store: Store, name: str, subnet: str | None = None) -> dict:
    """A named network: its own bridge and subnet (the next free 10.89.N.0/24
    unless one is given), refused if it overlaps a network of ours or one
    this host routes."""
    import ipaddress
    if not NAME.match(name) or name in BUILTIN + ("bridge",):
        raise NetworkError(f"network create {name}: not a name for a network (letters, digits, "
                           "_ . -; not none, host, bridge, slirp4netns or pasta)")
    find(store, DEFAULT)                          # the default one exists first
    rows = store.db.execute("SELECT name, subnet, bridge FROM networks").fetchall()
    if any(r[0] == name for r in rows):
        raise NetworkError(f"network `{name}` exists already")
    ours = [ipaddress.ip_network(r[1]) for r in rows] + claims.claimed_subnets(store)
    own = {r[2] for r in rows}
    routed = [n for dev, n in _host_routes() if dev not in own]
    net = _pick_subnet(subnet, ours + routed)
    bridge = next(f"minirun{i}" for i in range(1, 10000) if f"minirun{i}" not in own and
                  claims.claim("networks", f"minirun{i}", f"{net} {store.root} {name}"))
    with store.transaction() as db:
        db.execute("INSERT INTO networks (name, subnet, gateway, bridge, created) "
                   "VALUES (?, ?, ?, ?, ?)", (name, str(net), str(next(net.hosts())), bridge,
                                              now()))
    from minirun.engine import events
    events.emit(store.root, "network", "create", name=name)
    return inspect(store, name)


def listing(store: Store) -> list[dict]:
    find(store, DEFAULT)
    return [inspect(store, n) for (n,) in
            store.db.execute("SELECT name FROM networks ORDER BY created, name")]


def inspect(store: Store, name: str) -> dict:
    """A network in podman's shape (netavark's keys), and its members."""
    net = find(store, name)
    members = []
    for cid, address in hosts.members(store, name):
        names = hosts.names_of(store, cid).split()
        members.append({"container": cid[:12], "name": names[0], "aliases": names[1:],
                        "address": address})
    import hashlib
    return {"name": net["name"],
            "id": hashlib.sha256(f"{net['name']}:{net['created']}".encode()).hexdigest(),
            "driver": "bridge", "network_interface": net["bridge"],
            "created": net["created"] or "",
            "subnets": [{"subnet": net["subnet"], "gateway": net["gateway"]}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": True,
            "ipam_options": {"driver": "host-local"},
            # minirun's own: who is on it, with what address and names
            "containers": members}


def remove(store: Store, name: str, force: bool = False, remove_container=None) -> None:
    """Remove a network; with containers on it only with force: they go,
    through ``remove_container(store, cid)`` (the containers room's, which
    the caller passes: this room never reaches up into that one)."""
    from minirun.kernel import netlink
    net = find(store, name)
    if name == DEFAULT:     # its bridge is every store's on this host (podman refuses too)
        raise NetworkError(f"default network {DEFAULT} cannot be removed")
    users = [r[0] for r in store.db.execute("SELECT id, options FROM containers").fetchall()
             if name in _networks_of(json.loads(r[1] or "{}"))]
    if users and not force:
        raise NetworkError(f"network `{name}` is used by {len(users)} container(s): remove "
                           "them first, or use network rm -f", exit_code=2)   # podman's 2
    for cid in users:
        remove_container(store, cid)
    if os.geteuid() != 0:
        from minirun.engine.network import rootlessnet
        if rootlessnet.running(store):
            rootlessnet.run(store, netlink.delete_link, net["bridge"])
    elif link_exists(net["bridge"]):
        netlink.delete_link(net["bridge"])
    with store.transaction() as db:
        gone = db.execute("SELECT address FROM leases WHERE network=?", (name,)).fetchall()
        db.execute("DELETE FROM leases WHERE network=?", (name,))
        db.execute("DELETE FROM networks WHERE name=?", (name,))
    from minirun.engine import events
    events.emit(store.root, "network", "remove", name=name)
    for (address,) in gone:
        claims.unclaim("leases", f"{net['bridge']}/{address}")
    if name != DEFAULT:
        claims.unclaim("networks", net["bridge"])
    nat.update(store)


def prune(store: Store) -> list[str]:
    """Remove the networks no container uses (the default one stays)."""
    used = {n for (o,) in store.db.execute("SELECT options FROM containers")
            for n in _networks_of(json.loads(o or "{}"))}
    gone = []
    for (name,) in store.db.execute("SELECT name FROM networks").fetchall():
        if name != DEFAULT and name not in used:
            remove(store, name)
            gone.append(name)
    return gone


def _networks_of(options: dict) -> list:
    """A container's networks: its own, and those it joined later."""
    return [options.get("network")] + list(options.get("networks") or [])


def leases_of(store: Store, cid: str) -> list[tuple[str, str, str, str]]:
    """(network, address, subnet, gateway) of each network ``cid`` holds an
    address on, by network name."""
    rows = store.db.execute(
        "SELECT l.network, l.address, n.subnet, n.gateway FROM leases l "
        "JOIN networks n ON n.name = l.network WHERE l.container=? ORDER BY l.network",
        (cid,)).fetchall()
    return [tuple(r) for r in rows]


def lease(store: Store, net: dict, cid: str) -> str:
    """The lowest free address of the subnet, recorded for ``cid``."""
    import ipaddress
    subnet = ipaddress.ip_network(net["subnet"])
    with store.transaction() as db:
        taken = {r[0] for r in db.execute("SELECT address FROM leases WHERE network=?",
                                          (net["name"],))}
        for host in subnet.hosts():
            address = str(host)
            if address != net["gateway"] and address not in taken and \
                    claims.claim("leases", f"{net['bridge']}/{address}", f"{store.root} {cid}"):
                db.execute("INSERT INTO leases (network, address, container) VALUES (?, ?, ?)",
                           (net["name"], address, cid))
                return address
    raise NetworkError(f"network `{net['name']}` ({net['subnet']}) has no free address left")
