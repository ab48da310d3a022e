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


def netns_path(cid: str) -> str:
    from minirun.runtime.state import default_root
    return os.path.join(default_root(), "netns", cid)


def host_interface(cid: str) -> str:
    return "mr" + cid[:11]          # interface names are at most 15 bytes


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
    raise NetworkError(f"--network {mode}: use none, host or bridge (named networks come "
                       "with the rest of the networking issue)")


SLIRP_ADDRESS, SLIRP_GATEWAY, SLIRP_DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"


def start_slirp(pid: int, in_userns: bool):
    """slirp4netns in the network namespace of ``pid`` (a container's pid 1,
    or the namespace holder of a rootless one): user-mode networking, a tap
    device in the namespace, NAT in a process of ours.  It stops when the
    returned fd closes: when the monitor exits, however it exits."""
    import subprocess
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(exit_r, True)
    args = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
            f"--ready-fd={ready_w}", f"--exit-fd={exit_r}"]
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
    return exit_w


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
    script = ("table ip minirun\ndelete table ip minirun\ntable ip minirun {\n"
              "  chain postrouting {\n    type nat hook postrouting priority srcnat;\n"
              f"{rules}  }}\n}}\n")
    r = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        raise NetworkError(f"nftables: {r.stderr.strip()}")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:      # as podman does
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
                       net["gateway"])
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


def netlink_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


# --- names: each container's /etc/hosts lists its neighbours ---------------------

def _members(store: Store, network: str) -> list[tuple[str, str]]:
    return store.db.execute("SELECT container, address FROM leases WHERE network=?",
                            (network,)).fetchall()


def _name_of(store: Store, cid: str) -> str:
    row = store.db.execute("SELECT name FROM containers WHERE id=?", (cid,)).fetchone()
    return row[0] if row else cid[:12]


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
