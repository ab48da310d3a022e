"""Connecting one container, before it starts; disconnecting it after.

The container's network namespace is made before it starts, kept by a
bind mount under /run/netns (netns_path), and named in config.json
(linux.namespaces: network, path), so any OCI runtime joins it.  Then,
by its --network:

    bridge, NAME   a lease (bridge.py), the bridge and a veth into the
                   namespace, the NAT table (nat.py), names (hosts.py)
    slirp4netns    a process of ours with a tap device in the namespace
    pasta          (usernet.py)

A plain user's namespaces are held by processes (engine/userns.hold) and
the bundle is pointed at them; a plain user's bridges live in a network
namespace of the user's own (rootlessnet.py).  :func:`connect` returns the
:class:`Links` that keep it all up while the monitor runs; the containers
room calls :func:`teardown` when the container is gone.

Why (``--explain`` prints the item under it; the steps that follow have
their own, in kernel/netlink.py, nat.py and usernet.py):

- bridge: a network namespace of the container's own, with one interface
  on the network's bridge: it reaches the other containers there, and the
  world through NAT (network_namespaces(7))
- user-mode: a plain user cannot plug a device into the host: a helper
  process carries the container's packets instead (network_namespaces(7))
- holder: a plain user's new namespaces are held by a small process of
  ours, and the bundle names its /proc/PID/ns files, so that the runtime
  joins them (user_namespaces(7))
"""
import json
import os

from minirun import explain
from minirun.engine.network.modes import bridged, host_interface, link_exists, netns_path, private
from minirun.engine.store import Store


class Links:
    """What keeps a container's network up while its monitor runs: pipes
    whose closing stops a helper, and helper processes."""

    def __init__(self):
        self.fds: list[int] = []
        self.procs: list = []

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        for proc in self.procs:
            proc.terminate()
            proc.wait()
        self.fds, self.procs = [], []


def connect(store: Store, rec: dict, bundle: str, userns_pid: int = 0) -> Links:
    """Give the container its network, before it starts: a bridge's veth, or
    slirp4netns/pasta in its namespace.  As root the namespace is a file
    (config.json names it); a plain user's is held by a process, and the
    bundle is pointed at it.  ``userns_pid``: a plain user's container that
    joins that process's user namespace (a pod's member, whose pod shares
    other namespaces but not its network) gets its network namespace made
    in that one, which must own it."""
    mode = rec["options"].get("network")
    links = Links()
    if not private(mode):
        return links
    rootless = os.geteuid() != 0
    ports = rec["options"].get("ports")
    try:
        if bridged(mode):
            explain.say(f"network {mode}: a namespace, a veth into it, NAT", why="bridge")
            if rootless and userns_pid:
                from minirun.engine.network.modes import NetworkError
                raise NetworkError(f"--network {mode}: a plain user's bridges live in a user "
                                   "namespace of their own, and this container joins its "
                                   "pod's: share the pod's network (pod create --share net)")
            setup(store, rec, bundle, links)
        else:
            from minirun.engine.network import usernet
            explain.say(f"network {mode}: a helper in the container's namespace",
                        why="user-mode")
            if rootless:
                from minirun.engine import userns
                pid, fd = userns.hold(rec["options"].get("userns") == "keep-id",
                                      join=userns_pid)
                explain.say(f"namespaces held by process {pid}", why="holder")
                links.fds.append(fd)
                _join(bundle, f"/proc/{userns_pid or pid}/ns/user", f"/proc/{pid}/ns/net")
                target = pid
            else:
                from minirun.kernel import netlink
                teardown(store, rec["id"], last=False)
                target = netns_path(rec["id"])
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                netlink.make_netns(target)
            if mode == "slirp4netns":
                links.fds.append(usernet.start_slirp(target, ports))
            else:
                links.procs.append(usernet.start_pasta(target, ports,
                                                       os.path.join(bundle, "pasta.log")))
    except BaseException:
        links.close()
        teardown(store, rec["id"])
        raise
    return links


def _veth(bridge_name: str, gateway: str, prefix: int, netns: str, host_if: str,
          address: str, rate: int) -> None:
    """The bridge (made if missing) and a veth from it into ``netns``; runs
    where the bridges are (the host, or a plain user's namespace)."""
    from minirun.kernel import netlink
    netlink.ensure_bridge(bridge_name, gateway, prefix)
    netlink.attach(netns, bridge_name, host_if, address, prefix, gateway, rate=rate)


def setup(store: Store, rec: dict, bundle: str, links: Links) -> str:
    """Before the container starts: its namespace, veth, address, route;
    its name in its own /etc/hosts and in its neighbours'.  Its address.
    As root the namespace is a file; a plain user's is held by a process in
    the user's network namespace (its stop fd goes to ``links``)."""
    from minirun.engine.network import bridge, hosts, nat   # (bridges only: not on every start)
    from minirun.kernel import netlink
    cid = rec["id"]
    net = bridge.find(store, rec["options"]["network"])
    teardown(store, cid, last=False)      # what a killed monitor left, if anything
    prefix = int(net["subnet"].split("/")[1])
    address = bridge.lease(store, net, cid)   # first: a lease keeps the user's namespace running
    netns = netns_path(cid)
    try:
        if os.geteuid() != 0:
            from minirun.engine.network import rootlessnet, usernet
            from minirun.engine import userns
            infra = rootlessnet.ensure(store)
            pid, fd = userns.hold(join=infra)
            links.fds.append(fd)
            netns = f"/proc/{pid}/ns/net"
            _join(bundle, f"/proc/{infra}/ns/user", netns)
        args = (net["bridge"], net["gateway"], prefix, netns, host_interface(cid), address,
                rec["options"].get("bandwidth") or 0)
        if os.geteuid() != 0:
            rootlessnet.run(store, _veth, *args)
            nat.update(store)
            for p in rec["options"].get("ports") or []:
                usernet.slirp_forward(rootlessnet.api_socket(store), p, guest_port=p["host_port"])
        else:
            os.makedirs(os.path.dirname(netns), mode=0o755, exist_ok=True)
            netlink.make_netns(netns)
            _veth(*args)
            nat.update(store)
    except BaseException:
        teardown(store, cid)
        raise
    hosts.join(store, rec, net["name"], address)
    for n, extra in enumerate(rec["options"].get("networks") or [], 1):
        if extra:                   # the networks it joined later (network connect)
            try:
                attach_more(store, rec, extra, n, netns)
            except BaseException:
                teardown(store, cid)
                raise
    return address


def teardown(store: Store, cid: str, last: bool = True) -> None:
    """Remove the namespace (its veth goes with it), the lease, the names,
    the published ports; a plain user's network namespace with its ``last``
    container."""
    from minirun.kernel import netlink
    rootless = os.geteuid() != 0
    path = netns_path(cid)
    if os.path.exists(path):
        netlink.remove_netns(path)
    for _ in range(0 if rootless else 50):   # the veth leaves with the namespace, a moment later
        if not link_exists(host_interface(cid)):
            break
        import time
        time.sleep(0.002)
    else:
        if not rootless:
            netlink.delete_link(host_interface(cid))
    with store.transaction() as db:
        rows = db.execute("SELECT l.network, l.address, n.bridge FROM leases l JOIN networks n "
                          "ON n.name = l.network WHERE l.container=?", (cid,)).fetchall()
        db.execute("DELETE FROM leases WHERE container=?", (cid,))
        options = db.execute("SELECT options FROM containers WHERE id=?", (cid,)).fetchone()
    if rows:
        from minirun.engine.network import claims, hosts, nat
    for name, address, bridge_name in rows:
        claims.unclaim("leases", f"{bridge_name}/{address}")
        hosts.leave(store, cid, name)
    if rows:
        nat.update(store)          # its published ports go
    if rootless:
        from minirun.engine.network import rootlessnet, usernet
        ports = json.loads((options or ["{}"])[0] or "{}").get("ports") or []
        if rows and ports and rootlessnet.running(store):
            usernet.slirp_unforward(rootlessnet.api_socket(store), ports)
        if last:
            rootlessnet.stop_if_idle(store)


def _join(bundle: str, user: str, net: str) -> None:
    """Point the bundle's user and network namespaces at held ones (the
    runtime joins them, and writes no id maps of its own)."""
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    for n in config["linux"]["namespaces"]:
        if n["type"] in ("user", "network"):
            n["path"] = user if n["type"] == "user" else net
    config["linux"].pop("uidMappings", None)
    config["linux"].pop("gidMappings", None)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def extra_interface(cid: str, n: int) -> str:
    """The host side of a container's ``n``-th further network (1, 2 ...):
    ``n`` after a letter no id has, so that it can never be the first
    network's name (modes.host_interface: the id's first 11 characters)."""
    return "mr" + cid[:10] + "n" + str(n)


def attach_more(store: Store, rec: dict, network: str, n: int,
                netns: str | None = None) -> str:
    """`network connect`: a running container on one more bridge network,
    as its ``n``-th further interface (eth1, eth2 ...), without a default
    route (its first network keeps that); its address.  ``netns``: the
    namespace's path (default: its running process's)."""
    from minirun.engine.network import bridge, hosts, nat
    net = bridge.find(store, network)
    prefix = int(net["subnet"].split("/")[1])
    address = bridge.lease(store, net, rec["id"])
    args = (net["bridge"], net["gateway"], prefix, netns or f"/proc/{rec['pid']}/ns/net",
            extra_interface(rec["id"], n), address, f"eth{n}")
    try:
        if os.geteuid() != 0:
            from minirun.engine.network import rootlessnet
            rootlessnet.run(store, _veth_more, *args)
        else:
            _veth_more(*args)
        nat.update(store)
    except BaseException:
        _release(store, rec["id"], net)
        raise
    hosts.join(store, rec, net["name"], address)
    return address


def _veth_more(bridge_name: str, gateway: str, prefix: int, netns: str, host_if: str,
               address: str, peer: str) -> None:
    from minirun.kernel import netlink
    netlink.ensure_bridge(bridge_name, gateway, prefix)
    netlink.attach(netns, bridge_name, host_if, address, prefix, None, peer=peer)


def detach_more(store: Store, rec: dict, network: str, n: int) -> None:
    """`network disconnect`: its interface on ``network`` gone, with the
    lease and its names there."""
    from minirun.engine.network import bridge, hosts, nat
    from minirun.kernel import netlink
    net = bridge.find(store, network)
    host_if = extra_interface(rec["id"], n)
    if os.geteuid() != 0:
        from minirun.engine.network import rootlessnet
        if rootlessnet.running(store):      # (delete_link: one gone already is no error)
            rootlessnet.run(store, netlink.delete_link, host_if)
    else:
        netlink.delete_link(host_if)
    _release(store, rec["id"], net)
    hosts.leave(store, rec["id"], net["name"])
    nat.update(store)


def _release(store: Store, cid: str, net: dict) -> None:
    from minirun.engine.network import claims
    with store.transaction() as db:
        rows = db.execute("SELECT address FROM leases WHERE network=? AND container=?",
                          (net["name"], cid)).fetchall()
        db.execute("DELETE FROM leases WHERE network=? AND container=?", (net["name"], cid))
    for (address,) in rows:
        claims.unclaim("leases", f"{net['bridge']}/{address}")
