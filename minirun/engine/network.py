"""Private networks for containers (root): a bridge, a veth per container,
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
"""
import os

from minirun.engine import containers as ct
from minirun.engine.store import Store
from minirun.errors import MiniRunError

DEFAULT = "minirun"
DEFAULT_SUBNET = "10.89.0.0/24"


class NetworkError(MiniRunError):
    """A network cannot be made, found or joined."""


import re  # noqa: E402  (kept beside the one pattern it serves)

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")


def netns_path(cid: str) -> str:
    from minirun.runtime.state import default_root
    return os.path.join(default_root(), "netns", cid)


def host_interface(cid: str) -> str:
    return "mr" + cid[:11]          # interface names are at most 15 bytes


BUILTIN = ("none", "host", "slirp4netns", "pasta")


def bridged(mode: str | None) -> bool:
    """Whether a container's --network is a bridge network of ours."""
    return bool(mode) and mode not in BUILTIN


def check_mode(mode: str) -> str:
    """--network: none, host, slirp4netns, or the private bridge (root)."""
    import shutil
    if mode in ("none", "host"):
        return mode
    if mode in ("slirp4netns", "pasta"):
        if shutil.which(mode) is None:
            raise NetworkError(f"--network {mode}: `{mode}` is not installed (apt-get install "
                               f"{'passt' if mode == 'pasta' else mode})")
        if mode == "pasta":
            raise NetworkError("--network pasta: minirun drives slirp4netns so far; use "
                               "--network slirp4netns")
        if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
            raise NetworkError("--network slirp4netns: /dev/net/tun is not usable by this "
                               "user (it is mode 0600 here: chmod 0666 /dev/net/tun, as "
                               "scripts/setup-host does)")
        return mode
    if mode in ("bridge", DEFAULT):
        if os.geteuid() != 0:
            raise NetworkError(f"--network {mode}: a bridge and veth pairs need root (a "
                               "plain user cannot make network devices on the host); use "
                               "--network slirp4netns, user-mode networking")
        return DEFAULT
    if not _NAME.match(mode):
        raise NetworkError(f"--network {mode}: use none, host, bridge, slirp4netns or the "
                           "name of a network (minirun network ls)")
    if os.geteuid() != 0:
        raise NetworkError(f"--network {mode}: a named network is a bridge, which needs root; "
                           "use --network slirp4netns")
    return mode


SLIRP_ADDRESS, SLIRP_GATEWAY, SLIRP_DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"


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


def _port_rules(store: Store) -> tuple[str, str, str]:
    """nftables lines for every running container's published ports: DNAT
    from outside (prerouting) and from this host (output), and masquerade
    for what comes from 127.0.0.1 (it cannot be answered otherwise)."""
    import json
    pre, out, post = [], [], []
    rows = store.db.execute("SELECT l.address, c.options FROM leases l JOIN containers c "
                            "ON c.id = l.container")
    for address, options in rows:
        for p in json.loads(options or "{}").get("ports") or []:
            match = (f"ip daddr {p['host_ip']} " if p["host_ip"] else "") + \
                f"{p['protocol']} dport {p['host_port']}"
            target = f"dnat to {address}:{p['container_port']}"
            pre.append(f"    {match} {target}\n")
            out.append(f"    fib daddr type local {match} {target}\n")
            post.append(f"    ip saddr 127.0.0.0/8 ip daddr {address} masquerade\n")
    return "".join(pre), "".join(out), "".join(dict.fromkeys(post))


def start_slirp(pid: int, in_userns: bool, ports: list[dict] | None = None):
    """slirp4netns in the network namespace of ``pid`` (a container's pid 1,
    or the namespace holder of a rootless one): user-mode networking, a tap
    device in the namespace, NAT in a process of ours.  It stops when the
    returned fd closes: when the monitor exits, however it exits."""
    import subprocess
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(exit_r, True)
    api = None
    if ports:
        from minirun.runtime.state import default_root
        os.makedirs(default_root(), mode=0o700, exist_ok=True)
        api = os.path.join(default_root(), f"slirp-{os.getpid()}-{pid}.sock")
    args = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
            f"--ready-fd={ready_w}", f"--exit-fd={exit_r}"] + \
        ([f"--api-socket={api}"] if api else [])
    if in_userns:
        args.append(f"--userns-path=/proc/{pid}/ns/user")
    log = os.open(os.devnull, os.O_WRONLY)
    try:
        slirp = subprocess.Popen(args + [str(pid), "tap0"], pass_fds=[ready_w, exit_r],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.PIPE,
                                 start_new_session=True)
    finally:
        os.close(ready_w), os.close(exit_r), os.close(log)
    import select
    ready, _, _ = select.select([ready_r], [], [], 10)
    ok = bool(ready) and os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    if not ok:
        os.close(exit_w)
        why = slirp.stderr.read(4096).decode(errors="replace").strip() \
            if slirp.poll() is not None else "no answer within 10 s"
        raise NetworkError(f"slirp4netns did not bring the network up: {why}")
    slirp.stderr.close()
    try:
        for p in ports or []:
            _slirp_forward(api, p)
    except BaseException:
        os.close(exit_w)
        raise
    finally:
        if api and os.path.exists(api):
            os.unlink(api)
    return exit_w


def _slirp_forward(api: str, p: dict) -> None:
    """slirp4netns's API: forward a host port to the container."""
    import json
    import socket
    request = {"execute": "add_hostfwd", "arguments": {
        "proto": p["protocol"], "host_addr": p["host_ip"] or "0.0.0.0",
        "host_port": p["host_port"], "guest_port": p["container_port"]}}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(api)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        answer = json.loads(s.recv(65536) or b"{}")
    if "error" in answer:
        raise NetworkError(f"slirp4netns could not publish port {p['host_port']}: "
                           f"{answer['error'].get('desc', answer['error'])}")


def _network(store: Store, name: str) -> dict:
    row = store.db.execute("SELECT name, subnet, gateway, bridge FROM networks WHERE name=?",
                           (name,)).fetchone()
    if row is None:
        if name != DEFAULT:
            raise NetworkError(f"no network `{name}`")
        with store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO networks (name, subnet, gateway, bridge, created) "
                       "VALUES (?, ?, ?, ?, ?)", (DEFAULT, DEFAULT_SUBNET, "10.89.0.1",
                                                   "minirun0", ct.now()))
        return _network(store, name)
    return dict(zip(("name", "subnet", "gateway", "bridge"), row))


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
    if os.geteuid() != 0:
        raise NetworkError("network create: a network is a bridge on the host, which needs "
                           "root; a plain user's containers use --network slirp4netns")
    if not _NAME.match(name) or name in BUILTIN + ("bridge",):
        raise NetworkError(f"network create {name}: not a name for a network (letters, digits, "
                           "_ . -; not none, host, bridge, slirp4netns or pasta)")
    _network(store, DEFAULT)                      # the default one exists first
    rows = store.db.execute("SELECT name, subnet, bridge FROM networks").fetchall()
    if any(r[0] == name for r in rows):
        raise NetworkError(f"network `{name}` exists already")
    ours = [ipaddress.ip_network(r[1]) for r in rows]
    routed = [n for dev, n in _host_routes() if not dev.startswith("minirun")]
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
    used = {r[2] for r in rows}
    bridge = next(f"minirun{i}" for i in range(1, 10000) if f"minirun{i}" not in used)
    with store.transaction() as db:
        db.execute("INSERT INTO networks (name, subnet, gateway, bridge, created) "
                   "VALUES (?, ?, ?, ?, ?)", (name, str(net), str(next(net.hosts())), bridge,
                                              ct.now()))
    return inspect(store, name)


def listing(store: Store) -> list[dict]:
    _network(store, DEFAULT) if os.geteuid() == 0 else None
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


def remove(store: Store, name: str, force: bool = False) -> None:
    """Remove a network; with containers on it only with force (they go)."""
    from minirun.kernel import netlink
    net = _network(store, name)
    users = [r[0] for r in store.db.execute("SELECT id, options FROM containers").fetchall()
             if __import__("json").loads(r[1] or "{}").get("network") == name]
    if users and not force:
        raise NetworkError(f"network `{name}` is used by {len(users)} container(s): remove "
                           "them first, or use network rm -f")
    if users:
        from minirun.engine import lifecycle
        for cid in users:
            lifecycle.remove(store, cid, force=True)
    if netlink_exists(net["bridge"]):
        netlink.delete_link(net["bridge"])
    with store.transaction() as db:
        db.execute("DELETE FROM leases WHERE network=?", (name,))
        db.execute("DELETE FROM networks WHERE name=?", (name,))
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
            if address != net["gateway"] and address not in taken:
                db.execute("INSERT INTO leases (network, address, container) VALUES (?, ?, ?)",
                           (net["name"], address, cid))
                return address
    raise NetworkError(f"network `{net['name']}` ({net['subnet']}) has no free address left")


def _nat(store: Store) -> None:
    """One nftables table of ours: masquerade each network's traffic out."""
    import subprocess
    rules = "".join(f"    ip saddr {s} ip daddr != {s} masquerade\n" for (s,) in
                    store.db.execute("SELECT subnet FROM networks"))
    pre, out, post = _port_rules(store)
    # networks do not reach each other: one network's bridge to another's is dropped
    isolation = "".join(f'    iifname "{b}" oifname "minirun*" oifname != "{b}" drop\n'
                        for (b,) in store.db.execute("SELECT bridge FROM networks"))
    script = ("table ip minirun\ndelete table ip minirun\ntable ip minirun {\n"
              "  chain prerouting {\n    type nat hook prerouting priority -100;\n"
              f"{pre}  }}\n"
              "  chain output {\n    type nat hook output priority -100;\n"
              f"{out}  }}\n"
              "  chain postrouting {\n    type nat hook postrouting priority srcnat;\n"
              f"{rules}{post}  }}\n"
              "  chain forward {\n    type filter hook forward priority filter;\n"
              f"{isolation}  }}\n}}\n")
    r = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        raise NetworkError(f"nftables: {r.stderr.strip()}")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:      # as podman does
        f.write("1")
    for (bridge,) in store.db.execute("SELECT bridge FROM networks"):
        path = f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet"   # 127.0.0.1 -> a port
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write("1")


def setup(store: Store, rec: dict) -> str:
    """Before the container starts: its namespace, veth, address, route;
    its name in its own /etc/hosts and in its neighbours'.  Its address."""
    from minirun.kernel import netlink
    cid = rec["id"]
    net = _network(store, rec["options"]["network"])
    path = netns_path(cid)
    teardown(store, cid)                       # what a killed monitor left, if anything
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    prefix = int(net["subnet"].split("/")[1])
    address = _lease(store, net, cid)
    try:
        netlink.make_netns(path)
        netlink.ensure_bridge(net["bridge"], net["gateway"], prefix)
        netlink.attach(path, net["bridge"], host_interface(cid), address, prefix,
                       net["gateway"], rate=rec["options"].get("bandwidth") or 0)
        _nat(store)
    except BaseException:
        teardown(store, cid)
        raise
    _hosts_join(store, rec, net["name"], address)
    return address


def teardown(store: Store, cid: str) -> None:
    """Remove the namespace (its veth goes with it), the lease, the names."""
    from minirun.kernel import netlink
    path = netns_path(cid)
    if os.path.exists(path):
        netlink.remove_netns(path)
    for _ in range(50):        # the veth leaves with the namespace, a moment later
        if not netlink_exists(host_interface(cid)):
            break
        import time
        time.sleep(0.002)
    else:
        netlink.delete_link(host_interface(cid))
    with store.transaction() as db:
        rows = db.execute("SELECT network FROM leases WHERE container=?", (cid,)).fetchall()
        db.execute("DELETE FROM leases WHERE container=?", (cid,))
    for (name,) in rows:
        _hosts_leave(store, cid, name)
    if rows:
        _nat(store)          # its published ports go


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
    path = os.path.join(ct.container_dir(store, cid), "hosts")
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
    path = os.path.join(ct.container_dir(store, rec["id"]), "hosts")
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
