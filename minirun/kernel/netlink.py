"""rtnetlink: network devices, addresses and routes, as netlink messages.

What `ip link add ... type veth`, `ip addr add` and `ip route add` do:
messages to the kernel on a NETLINK_ROUTE socket (RTM_NEWLINK, RTM_NEWADDR,
RTM_NEWROUTE, RTM_NEWQDISC), each answered with an acknowledgement or an
errno.  pyroute2 builds the messages (its ``ifinfmsg``, ``ifaddrmsg``,
``rtmsg`` and ``tcmsg`` classes know every attribute's layout); this module
sends them.  A container's network is: a bridge on the host (its gateway
address on it), a veth pair per container (one end on the bridge, the
other moved into the container's network namespace as eth0), an address
and a default route inside.  A network namespace outlives its processes
while a file is bind-mounted on it (:func:`make_netns`), as `ip netns add`
does, so it can be set up before the container starts.  A socket talks to
the namespace it was made in: to work inside another, we enter it, make
the socket, and come back (:class:`Socket`).

pyroute2's package ``__init__`` imports every subsystem it has (NDB, IPDB,
conntrack, asyncio, ...), about 200 ms; the message modules alone take a
fifth of that, so :func:`_messages` loads only them (it falls back to the
ordinary import if pyroute2's layout ever changes).

A bandwidth limit is a token bucket filter (tbf) on the sending side of
each end of the veth: the host's end limits what the container receives,
the container's end what it sends.

Why each step is taken (``--explain`` prints the item under it):

- netns: a network namespace for the container, made before it starts: a
  helper unshares it, and a bind mount of its /proc/PID/ns/net keeps it
  alive with no process in it, as `ip netns add` does (ip-netns(8))
- bridge: the network's bridge, a virtual switch on the host with the
  gateway's address: made once, for every container of the network (ip-link(8))
- del: the bridge goes when its network is removed (ip-link(8))
- veth: a pair of linked interfaces, a virtual cable: one end stays on the
  host, the other is moved into the container's namespace as its eth0 (veth(4))
- master: plug the host's end into the bridge and switch it on (ip-link(8))
- address: inside the container's namespace: loopback up, its address on
  eth0 and a default route through the gateway, so that it reaches the
  other containers and, through NAT, the world (rtnetlink(7))
- rate: a token bucket filter: the interface sends no faster than the
  rate asked for (tc-tbf(8))

See: netlink(7), rtnetlink(7), veth(4), ip-link(8), ip-netns(8), tc-tbf(8)
"""
import os
import socket
import struct
import sys

from minirun import explain

NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWQDISC = 16, 17, 20, 24, 36
IFF_UP = 0x1
TC_H_ROOT = 0xFFFFFFFF


def _messages():
    """pyroute2's rtnetlink message classes, without its package __init__."""
    if "pyroute2" not in sys.modules:
        import importlib.util
        import types
        spec = importlib.util.find_spec("pyroute2")
        if spec is None:
            raise OSError(2, "pyroute2 is not installed (pip install pyroute2)")
        package = types.ModuleType("pyroute2")
        package.__path__, package.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["pyroute2"] = package
    try:
        from pyroute2.netlink.rtnl import ifaddrmsg, ifinfmsg, rtmsg
    except ImportError:           # another layout: pay for the whole package
        del sys.modules["pyroute2"]
        from pyroute2.netlink.rtnl import ifaddrmsg, ifinfmsg, rtmsg
    return ifinfmsg.ifinfmsg, ifaddrmsg.ifaddrmsg, rtmsg.rtmsg


class Socket:
    """A NETLINK_ROUTE socket, in our network namespace or in ``netns`` (a
    namespace file): ``request`` sends one message and waits for its
    acknowledgement, raising OSError with the kernel's errno."""

    def __init__(self, netns: str = ""):
        if netns:
            from minirun.kernel import namespaces
            ours = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            theirs = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                namespaces.setns(theirs, namespaces.CLONE_NEWNET, netns)
                try:
                    self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                              socket.NETLINK_ROUTE)
                finally:
                    namespaces.setns(ours, namespaces.CLONE_NEWNET, "our own")
            finally:
                os.close(ours), os.close(theirs)
        else:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def request(self, msg, kind: int, flags: int = 0, what: str = "") -> None:
        self.seq += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind_, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
                if kind_ == NLMSG_ERROR and seq == self.seq:
                    (error,) = struct.unpack_from("=i", data, offset + 16)
                    if error:
                        raise OSError(-error, os.strerror(-error), what or None)
                    return
                offset += (length + 3) & ~3

    def index(self, name: str) -> int:
        """A device's index in this socket's namespace (0 if there is none):
        SIOCGIFINDEX, which any socket answers for the namespace it was made in."""
        import fcntl
        try:
            answer = fcntl.ioctl(self.sock.fileno(), 0x8933, struct.pack("16s16x", name.encode()))
        except OSError:
            return 0
        return struct.unpack_from("16xi", answer)[0]


def _link(attrs: list, index: int = 0, up: bool | None = None):
    ifinfmsg = _messages()[0]
    msg = ifinfmsg()
    msg["index"] = index
    if up is not None:
        msg["flags"], msg["change"] = (IFF_UP if up else 0), IFF_UP
    msg["attrs"] = attrs
    return msg


def make_netns(path: str) -> None:
    """A new network namespace, kept by a bind mount on ``path`` (a file)."""
    from minirun.kernel import mounts, namespaces
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    os.close(fd)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:                    # a child unshares, and waits while we bind it
        code = 1
        try:
            os.close(ready_r), os.close(done_w)
            explain.set_actor("netns holder", "a fork that makes the network namespace")
            namespaces.unshare(namespaces.CLONE_NEWNET)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w), os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "could not create a network namespace", path)
        explain.say(f"unshare(CLONE_NEWNET); mount --bind /proc/{pid}/ns/net {path}",
                    why="netns")
        mounts.mount(f"/proc/{pid}/ns/net", path, None, mounts.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(ready_r), os.close(done_w)
        os.waitpid(pid, 0)


def remove_netns(path: str) -> None:
    """Unmount and remove a kept namespace: with its last user it goes,
    and the veth end inside it with it (the host end too)."""
    from minirun.kernel import mounts
    try:
        mounts.umount2(path, mounts.MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def ensure_bridge(name: str, address: str, prefixlen: int) -> int:
    """The bridge ``name``, up, with ``address`` on it (made if missing)."""
    import errno
    with Socket() as nl:
        index = nl.index(name)
        if not index:
            explain.say(f"ip link add {name} type bridge; ip addr add {address}/{prefixlen}",
                        why="bridge")
            try:
                nl.request(_link([("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [
                    ("IFLA_INFO_KIND", "bridge")]})]), RTM_NEWLINK,
                    NLM_F_CREATE | NLM_F_EXCL, name)
            except OSError as e:
                if e.errno != errno.EEXIST:      # another container made it first
                    raise
            index = nl.index(name)
        _address(nl, index, address, prefixlen)
        nl.request(_link([], index, up=True), RTM_NEWLINK, 0, name)
        return index


def _address(nl: Socket, index: int, address: str, prefixlen: int) -> None:
    """ip addr add ADDRESS/PREFIX dev INDEX (there already is no error)."""
    import errno
    msg = _messages()[1]()
    msg["family"], msg["prefixlen"], msg["index"] = socket.AF_INET, prefixlen, index
    msg["attrs"] = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
    try:
        nl.request(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, address)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def delete_link(name: str) -> None:
    """Delete a device; one that is gone already (a veth goes with its
    peer's namespace, a moment after) is no error."""
    import errno
    with Socket() as nl:
        index = nl.index(name)
        if index:
            explain.say(f"ip link del {name}", why="del")
            try:
                nl.request(_link([], index), RTM_DELLINK, 0, name)
            except OSError as e:
                if e.errno not in (errno.ENODEV, errno.EINVAL):
                    raise


def set_up(name: str) -> None:
    """ip link set NAME up"""
    with Socket() as nl:
        nl.request(_link([], nl.index(name), up=True), RTM_NEWLINK, 0, name)


def _tbf(nl: Socket, index: int, rate: int) -> None:
    """tc qdisc add dev IF root tbf rate RATE burst B latency 50ms: a bucket
    of 1/50 s of traffic (at least a few packets), so that a transfer of a
    second or more is within a few percent of the rate."""
    _messages()
    from pyroute2.netlink.rtnl.tcmsg import sched_tbf, tcmsg
    burst = max(rate // 8 // 50, 16 * 1514)
    msg = tcmsg()
    msg["index"], msg["handle"], msg["parent"] = index, 0x10000, TC_H_ROOT
    msg["attrs"] = [("TCA_KIND", "tbf"), ("TCA_OPTIONS", sched_tbf.get_parameters(
        {"rate": f"{rate}bit", "burst": burst, "latency": "50ms"}))]
    nl.request(msg, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, "tbf")


def attach(netns: str, bridge: str, host_if: str, address: str, prefixlen: int,
           gateway: str | None, mtu: int = 1500, rate: int = 0, peer: str = "eth0") -> None:
    """A veth pair: ``host_if`` on ``bridge``, ``peer`` (eth0) in ``netns``
    with ``address``, a default route through ``gateway`` (None: none, for
    a second network), and lo up."""
    with Socket() as nl:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            explain.say(f"ip link add {host_if} type veth peer name {peer} netns {netns}",
                        why="veth")
            nl.request(_link([("IFLA_IFNAME", host_if), ("IFLA_MTU", mtu), (
                "IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), (
                    "IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": [
                        ("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", fd),
                        ("IFLA_MTU", mtu)]})]})]})]), RTM_NEWLINK,
                NLM_F_CREATE | NLM_F_EXCL, host_if)
        finally:
            os.close(fd)
        index = nl.index(host_if)
        explain.say(f"ip link set {host_if} master {bridge} up", why="master")
        nl.request(_link([("IFLA_MASTER", nl.index(bridge))], index, up=True), RTM_NEWLINK, 0,
                   host_if)
        if rate:
            explain.say(f"tc qdisc add dev {host_if} root tbf rate {rate}bit (into the "
                        "container)", why="rate")
            _tbf(nl, index, rate)
    explain.say(f"in {netns}: ip link set lo up; ip addr add {address}/{prefixlen} dev {peer}"
                + (f"; ip route add default via {gateway}" if gateway else ""), why="address")
    with Socket(netns) as ns:
        ns.request(_link([], ns.index("lo"), up=True), RTM_NEWLINK, 0, "lo")
        eth0 = ns.index(peer)
        _address(ns, eth0, address, prefixlen)
        ns.request(_link([], eth0, up=True), RTM_NEWLINK, 0, peer)
        if gateway is None:
            return
        route = _messages()[2]()
        route["family"], route["table"], route["proto"] = socket.AF_INET, 254, 3  # main, boot
        route["scope"], route["type"] = 0, 1                                       # global, unicast
        route["attrs"] = [("RTA_GATEWAY", gateway)]
        ns.request(route, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, "default route")
        if rate:
            explain.say(f"in {netns}: tc qdisc add dev {peer} root tbf rate {rate}bit (out)",
                        why="rate")
            _tbf(ns, eth0, rate)
