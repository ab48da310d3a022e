"""Private networks for containers: a bridge, a veth per container,
addresses from the network's subnet, NAT out, names in /etc/hosts.

    minirun0 (10.89.0.1/24, on the host)
      |-- mr<id> ~ eth0 10.89.0.2  (container A's network namespace)
      '-- mr<id> ~ eth0 10.89.0.3  (container B's)
    nftables: ip saddr 10.89.0.0/24 ip daddr != 10.89.0.0/24 masquerade

The container's network namespace is made before it starts, kept by a
bind mount under the runtime's state directory, and named in config.json
(linux.namespaces: network, path), so any OCI runtime joins it.  Addresses
are leased in the store (one table, under its lock), so two containers
never get one address, and a lease goes with the container.

A plain user's bridges are the same, inside a network namespace of the
user's own (engine/network/rootlessnet).  The other private modes, slirp4netns
and pasta, connect the container's namespace through a process of ours
(engine/network/usernet); they are a plain user's default, as podman's.
:func:`connect` sets up whichever a container asked for, before it starts.
"""
import os
import re

from minirun import explain
from minirun.engine.store import Store, container_dir, now
from minirun.errors import MiniRunError

DEFAULT = "minirun"
DEFAULT_SUBNET = "10.89.0.0/24"


class NetworkError(MiniRunError):
    """A network cannot be made, found or joined."""


_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")


def netns_path(cid: str) -> str:
    """Where root keeps a container's network namespace: beside `ip netns`'s
    (so `ip netns list` shows them), in a directory pasta, which drops to
    nobody, may open."""
    return f"/run/netns/minirun-{cid}"


def host_interface(cid: str) -> str:
    return "mr" + cid[:11]          # interface names are at most 15 bytes


BUILTIN = ("none", "host", "slirp4netns", "pasta")


def bridged(mode: str | None) -> bool:
    """Whether a container's --network is a bridge network of ours."""
    return bool(mode) and mode not in BUILTIN


def private(mode: str | None) -> bool:
    """Whether a container's --network gives it a network namespace of ours
    to set up (and take down)."""
    return bool(mode) and mode not in ("none", "host")


def default_mode() -> str:
    """What --network is when not given, as podman chooses: the default
    bridge as root; a plain user's, pasta if installed, else slirp4netns."""
    import shutil
    if os.geteuid() == 0:
        return DEFAULT
    return check_mode("pasta" if shutil.which("pasta") else "slirp4netns")


def check_mode(mode: str) -> str:
    """--network: none, host, slirp4netns, pasta, or a bridge network."""
    import shutil
    if mode in ("none", "host"):
        return mode
    if mode in ("slirp4netns", "pasta"):
        if shutil.which(mode) is None:
            raise NetworkError(f"--network {mode}: `{mode}` is not installed (apt-get install "
                               f"{'passt' if mode == 'pasta' else mode})")
        if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
            raise NetworkError(f"--network {mode}: /dev/net/tun is not usable by this user "
                               "(it is mode 0600 here: chmod 0666 /dev/net/tun, as "
                               "scripts/setup-host does), and user-mode networking needs a "
                               "tap device; --network none runs without a network")
        return mode
    if os.geteuid() != 0:
        check_mode("slirp4netns")      # a plain user's bridges reach the host through it
    if mode in ("bridge", DEFAULT):
        return DEFAULT
    if not _NAME.match(mode):
        raise NetworkError(f"--network {mode}: use none, host, bridge, slirp4netns, pasta or "
                           "the name of a network (minirun network ls)")
    return mode


def parse_rate(text: str) -> int:
    """--network-bandwidth: ``10mbit`` (tc's units: bit, kbit, mbit, gbit) -> bits/s."""
    m = re.match(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)?$", text.strip().lower())
    if not m:
        raise NetworkError(f"--network-bandwidth {text}: give a rate such as 10mbit "
                           "(units: bit, kbit, mbit, gbit)")
    rate = int(float(m.group(1)) * {"bit": 1, None: 1, "kbit": 1000, "mbit": 10 ** 6,
                                    "gbit": 10 ** 9}[m.group(2)])
    if rate < 8000:
        raise NetworkError(f"--network-bandwidth {text}: at least 8kbit")
    return rate


# --- published ports ------------------------------------------------------------

def parse_publish(specs: list[str], exposed: list[str] | None = None) -> list[dict]:
    """-p [IP:][HOST:]CONTAINER[/tcp|/udp] (and -P: the image's exposed ports,
    on free host ports), as podman reads them."""
    import ipaddress
    out = []
    for spec in specs:
        text, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = text.rsplit(":", 2)
        ip = parts[0] if len(parts) == 3 else ""
        host = parts[-2] if len(parts) >= 2 else ""
        try:
            if ip:
                ipaddress.IPv4Address(ip)
            container = int(parts[-1])
            host_port = int(host) if host else 0
            if proto not in ("tcp", "udp") or not (0 < container < 65536) or \
                    not (0 <= host_port < 65536):
                raise ValueError
        except ValueError:
            raise NetworkError(f"-p {spec}: give [IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp], "
                               "e.g. 8080:80 or 127.0.0.1:8080:80/udp") from None
        out.append({"host_ip": ip, "host_port": host_port, "container_port": container,
                    "protocol": proto})
    for port in exposed or []:
        number, _, proto = port.partition("/")
        out.append({"host_ip": "", "host_port": 0, "container_port": int(number),
                    "protocol": proto or "tcp"})
    return out


def claim_ports(store: Store, ports: list[dict], cid: str = "") -> list[dict]:
    """Check each host port is free (no other container's, no process's on
    the host) and pick free ones where none was named."""
    import socket
    taken = set()
    for (options,) in store.db.execute("SELECT options FROM containers WHERE id != ?", (cid,)):
        for p in (__import__("json").loads(options or "{}").get("ports") or []):
            taken.add((p["host_port"], p["protocol"]))
    out = []
    for p in ports:
        kind = socket.SOCK_STREAM if p["protocol"] == "tcp" else socket.SOCK_DGRAM
        if (p["host_port"], p["protocol"]) in taken and p["host_port"]:
            raise NetworkError(f"port {p['host_port']}/{p['protocol']} is published by another "
                               "container already")
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((p["host_ip"] or "0.0.0.0", p["host_port"]))
            except OSError as e:
                raise NetworkError(f"port {p['host_port']}/{p['protocol']} on the host: "
                                   f"{e.strerror} (something else listens there?)") from None
            out.append({**p, "host_port": probe.getsockname()[1]})
        taken.add((out[-1]["host_port"], p["protocol"]))
    return out


def _port_rules(store: Store, rootless: bool) -> tuple[str, str, str]:
    """nftables lines for every running container's published ports: DNAT
    from outside (prerouting) and from this host (output), and masquerade
    for what comes from 127.0.0.1 (it cannot be answered otherwise).  In a
    plain user's namespace everything arrives from slirp4netns, to its
    own address, whatever the host address was."""
    import json
    pre, out, post = [], [], []
    rows = store.db.execute("SELECT l.address, c.options FROM leases l JOIN containers c "
                            "ON c.id = l.container")
    for address, options in rows:
        for p in json.loads(options or "{}").get("ports") or []:
            match = (f"ip daddr {p['host_ip']} " if p["host_ip"] and not rootless else "") + \
                f"{p['protocol']} dport {p['host_port']}"
            target = f"dnat to {address}:{p['container_port']}"
            pre.append(f"    {match} {target}\n")
            out.append(f"    fib daddr type local {match} {target}\n")
            post.append(f"    ip saddr 127.0.0.0/8 ip daddr {address} masquerade\n")
    return "".join(pre), "".join(out), "".join(dict.fromkeys(post))


def _network(store: Store, name: str) -> dict:
    row = store.db.execute("SELECT name, subnet, gateway, bridge FROM networks WHERE name=?",
                           (name,)).fetchone()
    if row is None:
        if name != DEFAULT:
            raise NetworkError(f"no network `{name}`")
        with store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO networks (name, subnet, gateway, bridge, created) "
                       "VALUES (?, ?, ?, ?, ?)", (DEFAULT, DEFAULT_SUBNET, "10.89.0.1",
                                                   "minirun0", now()))
        return _network(store, name)
    return dict(zip(("name", "subnet", "gateway", "bridge"), row))


# --- what several stores share: the host ------------------------------------------
#
# Networks and leases live in the store; but two stores (minirun --root) used
# at once as root share the host's devices and addresses: minirun0 is every
# store's default bridge.  So whatever must be unique on the host is claimed
# there too, by creating a file that must not exist yet (CNI's host-local
# IPAM does the same): an address on a bridge (runtime: /run/minirun/ipam),
# a named network's bridge and subnet (as long as the network lives:
# /etc/minirun/networks, where podman keeps its networks too).  These stay
# host-wide on purpose, not under --runroot (MINIRUN_RUNROOT): they claim the
# host's bridge names and addresses, which every runroot shares.  A plain
# user's bridges live in a namespace of the store's own, and claim nothing.

def _claims(kind: str) -> str:
    return "/run/minirun/ipam/leases" if kind == "leases" else "/etc/minirun/networks"


def _claim(kind: str, key: str, owner: str) -> bool:
    """Claim ``key`` on this host for ``owner``; False if another holds it."""
    if os.geteuid() != 0:
        return True
    path = os.path.join(_claims(kind), key)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with open(path) as f:
            return f.read() == owner        # ours already (a monitor that died)
    with os.fdopen(fd, "w") as f:
        f.write(owner)
    return True


def _unclaim(kind: str, key: str) -> None:
    if os.geteuid() == 0:
        try:
            os.unlink(os.path.join(_claims(kind), key))
        except FileNotFoundError:
            pass


def _claimed_subnets(store: Store) -> list:
    """Subnets that other stores' networks hold on this host."""
    import ipaddress
    d, out = _claims("networks"), []
    for name in os.listdir(d) if os.path.isdir(d) and os.geteuid() == 0 else []:
        with open(os.path.join(d, name)) as f:
            subnet, _, owner = f.read().partition(" ")
        if not owner.startswith(store.root + " "):
            out.append(ipaddress.ip_network(subnet))
    return out


def _table(store: Store) -> str:
    """This store's nftables table: each store's rules, side by side."""
    st = os.stat(store.root)
    return f"minirun_{st.st_dev:x}_{st.st_ino:x}"


# --- named networks ---------------------------------------------------------------

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


def create(store: Store, name: str, subnet: str | None = None) -> dict:
    """A named network: its own bridge and subnet (the next free 10.89.N.0/24
    unless one is given), refused if it overlaps a network of ours or one
    this host routes."""
    import ipaddress
    if not _NAME.match(name) or name in BUILTIN + ("bridge",):
        raise NetworkError(f"network create {name}: not a name for a network (letters, digits, "
                           "_ . -; not none, host, bridge, slirp4netns or pasta)")
    _network(store, DEFAULT)                      # the default one exists first
    rows = store.db.execute("SELECT name, subnet, bridge FROM networks").fetchall()
    if any(r[0] == name for r in rows):
        raise NetworkError(f"network `{name}` exists already")
    ours = [ipaddress.ip_network(r[1]) for r in rows] + _claimed_subnets(store)
    own = {r[2] for r in rows}
    routed = [n for dev, n in _host_routes() if dev not in own]
    if subnet:
        try:
            net = ipaddress.ip_network(subnet)
        except ValueError as e:
            raise NetworkError(f"--subnet {subnet}: {e}") from None
        if net.version != 4 or net.prefixlen > 29:
            raise NetworkError(f"--subnet {subnet}: give an IPv4 network of /29 or larger")
        for other in ours + routed:
            if net.overlaps(other):
                raise NetworkError(f"--subnet {subnet} overlaps {other}, which is in use "
                                   "(minirun network ls; ip route)")
    else:
        net = next((c for c in (ipaddress.ip_network(f"10.89.{i}.0/24") for i in range(1, 255))
                    if not any(c.overlaps(o) for o in ours + routed)), None)
        if net is None:
            raise NetworkError("no free 10.89.N.0/24 left: give --subnet")
    bridge = next(f"minirun{i}" for i in range(1, 10000) if f"minirun{i}" not in own and
                  _claim("networks", f"minirun{i}", f"{net} {store.root} {name}"))
    with store.transaction() as db:
        db.execute("INSERT INTO networks (name, subnet, gateway, bridge, created) "
                   "VALUES (?, ?, ?, ?, ?)", (name, str(net), str(next(net.hosts())), bridge,
                                              now()))
    return inspect(store, name)


def listing(store: Store) -> list[dict]:
    _network(store, DEFAULT)
    return [inspect(store, n) for (n,) in
            store.db.execute("SELECT name FROM networks ORDER BY created, name")]


def inspect(store: Store, name: str) -> dict:
    net = _network(store, name)
    members = []
    for cid, address in _members(store, name):
        names = _name_of(store, cid).split()
        members.append({"container": cid[:12], "name": names[0], "aliases": names[1:],
                        "address": address})
    return {"name": net["name"], "driver": "bridge", "subnet": net["subnet"],
            "gateway": net["gateway"], "interface": net["bridge"], "containers": members}


def remove(store: Store, name: str, force: bool = False, remove_container=None) -> None:
    """Remove a network; with containers on it only with force: they go,
    through ``remove_container(store, cid)`` (the containers room's, which
    the caller passes: this room never reaches up into that one)."""
    from minirun.kernel import netlink
    net = _network(store, name)
    import json
    users = [r[0] for r in store.db.execute("SELECT id, options FROM containers").fetchall()
             if json.loads(r[1] or "{}").get("network") == name]
    if users and not force:
        raise NetworkError(f"network `{name}` is used by {len(users)} container(s): remove "
                           "them first, or use network rm -f")
    for cid in users:
        remove_container(store, cid)
    if os.geteuid() != 0:
        from minirun.engine.network import rootlessnet
        if rootlessnet.running(store):
            rootlessnet.run(store, netlink.delete_link, net["bridge"])
    elif netlink_exists(net["bridge"]):
        netlink.delete_link(net["bridge"])
    with store.transaction() as db:
        gone = db.execute("SELECT address FROM leases WHERE network=?", (name,)).fetchall()
        db.execute("DELETE FROM leases WHERE network=?", (name,))
        db.execute("DELETE FROM networks WHERE name=?", (name,))
    for (address,) in gone:
        _unclaim("leases", f"{net['bridge']}/{address}")
    if name != DEFAULT:
        _unclaim("networks", net["bridge"])
    _nat(store)


def prune(store: Store) -> list[str]:
    """Remove the networks no container uses (the default one stays)."""
    import json
    used = {json.loads(o or "{}").get("network") for (o,) in
            store.db.execute("SELECT options FROM containers")}
    gone = []
    for (name,) in store.db.execute("SELECT name FROM networks").fetchall():
        if name != DEFAULT and name not in used:
            remove(store, name)
            gone.append(name)
    return gone


def _lease(store: Store, net: dict, cid: str) -> str:
    """The lowest free address of the subnet, recorded for ``cid``."""
    import ipaddress
    subnet = ipaddress.ip_network(net["subnet"])
    with store.transaction() as db:
        taken = {r[0] for r in db.execute("SELECT address FROM leases WHERE network=?",
                                          (net["name"],))}
        for host in subnet.hosts():
            address = str(host)
            if address != net["gateway"] and address not in taken and \
                    _claim("leases", f"{net['bridge']}/{address}", f"{store.root} {cid}"):
                db.execute("INSERT INTO leases (network, address, container) VALUES (?, ?, ?)",
                           (net["name"], address, cid))
                return address
    raise NetworkError(f"network `{net['name']}` ({net['subnet']}) has no free address left")


def _nat(store: Store) -> None:
    """One nftables table of ours: masquerade each network's traffic out,
    published ports, isolation; on the host, or in a plain user's network
    namespace (if it runs: it holds the only containers to route)."""
    rootless = os.geteuid() != 0
    rules = "".join(f"    ip saddr {s} ip daddr != {s} masquerade\n" for (s,) in
                    store.db.execute("SELECT subnet FROM networks"))
    pre, out, post = _port_rules(store, rootless)
    bridges = [b for (b,) in store.db.execute("SELECT bridge FROM networks")]
    # networks do not reach each other: one network's bridge to another's is dropped
    isolation = "".join(f'    iifname "{b}" oifname "minirun*" oifname != "{b}" drop\n'
                        for b in bridges)
    table = _table(store)
    script = f"table ip {table}\ndelete table ip {table}\n"
    if store.db.execute("SELECT 1 FROM leases LIMIT 1").fetchone():   # else: no table at all
        script += (f"table ip {table} {{\n"
                   "  chain prerouting {\n    type nat hook prerouting priority -100;\n"
                   f"{pre}  }}\n"
                   "  chain output {\n    type nat hook output priority -100;\n"
                   f"{out}  }}\n"
                   "  chain postrouting {\n    type nat hook postrouting priority srcnat;\n"
                   f"{rules}{post}  }}\n"
                   "  chain forward {\n    type filter hook forward priority filter;\n"
                   f"{isolation}  }}\n}}\n")
    if not rootless:
        _apply(script, bridges)
        return
    from minirun.engine.network import rootlessnet
    if rootlessnet.running(store):
        rootlessnet.run(store, _apply, script, bridges)


def _apply(script: str, bridges: list[str]) -> None:
    """Load the table, and turn on forwarding (as podman does) and, on each
    bridge, routing of 127.0.0.1 (so that a port published on the host's
    loopback reaches a container)."""
    import subprocess
    explain.say("nft -f - (NAT out, published ports, networks kept apart)")
    r = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        raise NetworkError(f"nftables: {r.stderr.strip()}")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")
    for bridge in bridges:
        path = f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet"
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write("1")


def _attach(bridge: str, gateway: str, prefix: int, netns: str, host_if: str, address: str,
            rate: int) -> None:
    from minirun.kernel import netlink
    netlink.ensure_bridge(bridge, gateway, prefix)
    netlink.attach(netns, bridge, host_if, address, prefix, gateway, rate=rate)


def setup(store: Store, rec: dict, bundle: str, links: "Links") -> str:
    """Before the container starts: its namespace, veth, address, route;
    its name in its own /etc/hosts and in its neighbours'.  Its address.
    As root the namespace is a file; a plain user's is held by a process in
    the user's network namespace (its stop fd goes to ``links``)."""
    from minirun.kernel import netlink
    cid = rec["id"]
    net = _network(store, rec["options"]["network"])
    teardown(store, cid, last=False)      # what a killed monitor left, if anything
    prefix = int(net["subnet"].split("/")[1])
    address = _lease(store, net, cid)     # first: a lease keeps the user's namespace running
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
            rootlessnet.run(store, _attach, *args)
            _nat(store)
            for p in rec["options"].get("ports") or []:
                usernet.slirp_forward(rootlessnet.api_socket(store), p, guest_port=p["host_port"])
        else:
            os.makedirs(os.path.dirname(netns), mode=0o755, exist_ok=True)
            netlink.make_netns(netns)
            _attach(*args)
            _nat(store)
    except BaseException:
        teardown(store, cid)
        raise
    _hosts_join(store, rec, net["name"], address)
    return address


def teardown(store: Store, cid: str, last: bool = True) -> None:
    """Remove the namespace (its veth goes with it), the lease, the names,
    the published ports; a plain user's network namespace with its ``last``
    container."""
    import json
    from minirun.kernel import netlink
    rootless = os.geteuid() != 0
    path = netns_path(cid)
    if os.path.exists(path):
        netlink.remove_netns(path)
    for _ in range(0 if rootless else 50):   # the veth leaves with the namespace, a moment later
        if not netlink_exists(host_interface(cid)):
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
    for name, address, bridge in rows:
        _unclaim("leases", f"{bridge}/{address}")
        _hosts_leave(store, cid, name)
    if rows:
        _nat(store)          # its published ports go
    if rootless:
        from minirun.engine.network import rootlessnet, usernet
        ports = json.loads((options or ["{}"])[0] or "{}").get("ports") or []
        if rows and ports and rootlessnet.running(store):
            usernet.slirp_unforward(rootlessnet.api_socket(store), ports)
        if last:
            rootlessnet.stop_if_idle(store)


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


def connect(store: Store, rec: dict, bundle: str) -> Links:
    """Give the container its network, before it starts: a bridge's veth, or
    slirp4netns/pasta in its namespace.  As root the namespace is a file
    (config.json names it); a plain user's is held by a process, and the
    bundle is pointed at it."""
    from minirun.engine import userns
    from minirun.engine.network import usernet
    mode = rec["options"].get("network")
    links = Links()
    if not private(mode):
        return links
    rootless = os.geteuid() != 0
    ports = rec["options"].get("ports")
    try:
        if bridged(mode):
            setup(store, rec, bundle, links)
        else:
            if rootless:
                pid, fd = userns.hold(rec["options"].get("userns") == "keep-id")
                links.fds.append(fd)
                _join(bundle, f"/proc/{pid}/ns/user", f"/proc/{pid}/ns/net")
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


def _join(bundle: str, user: str, net: str) -> None:
    """Point the bundle's user and network namespaces at held ones (the
    runtime joins them, and writes no id maps of its own)."""
    import json
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


def netlink_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


# --- names: each container's /etc/hosts lists its neighbours ---------------------

def _members(store: Store, network: str) -> list[tuple[str, str]]:
    return store.db.execute("SELECT container, address FROM leases WHERE network=?",
                            (network,)).fetchall()


def _name_of(store: Store, cid: str) -> str:
    """A container's names on its network: its name, then its aliases."""
    import json
    row = store.db.execute("SELECT name, options FROM containers WHERE id=?", (cid,)).fetchone()
    if row is None:
        return cid[:12]
    return " ".join([row[0]] + (json.loads(row[1] or "{}").get("aliases") or []))


def require(store: Store, name: str) -> None:
    """An error unless network ``name`` exists (the default one always does)."""
    _network(store, name)


def _rewrite_hosts(store: Store, cid: str, network: str) -> None:
    """The container's hosts file: its base (host entries, itself) and a
    line per neighbour, written in place (the bind mount keeps the inode)."""
    path = os.path.join(container_dir(store, cid), "hosts")
    try:
        with open(path) as f:
            base = f.read().split("# minirun network\n")[0]
    except FileNotFoundError:
        return
    lines = [f"{address}\t{_name_of(store, other)}\n" for other, address in
             _members(store, network) if other != cid]
    with open(path, "r+") as f:
        f.write(base + "# minirun network\n" + "".join(lines))
        f.truncate()


def _hosts_join(store: Store, rec: dict, network: str, address: str) -> None:
    path = os.path.join(container_dir(store, rec["id"]), "hosts")
    with open(path) as f:
        text = f.read().split("# minirun network\n")[0]
    hostname = (rec["options"].get("hostname") or rec["id"][:12])
    own = f"{address}\t{hostname} {rec['name']}\n"
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("127.0.0.1\t" + hostname)) + own
    with open(path, "r+") as f:
        f.write(text)
        f.truncate()
    for other, _ in _members(store, network):
        _rewrite_hosts(store, other, network)


def _hosts_leave(store: Store, cid: str, network: str) -> None:
    for other, _ in _members(store, network):
        _rewrite_hosts(store, other, network)
