"""rtnetlink: network devices, addresses and routes, through pyroute2.

What `ip link add ... type veth`, `ip addr add` and `ip route add` do, as
netlink messages to the kernel (RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE),
built by pyroute2.  A container's network is: a bridge on the host (its
gateway address on it), a veth pair per container (one end on the bridge,
the other moved into the container's network namespace as eth0), an
address and a default route inside.  A network namespace outlives its
processes while a file is bind-mounted on it (:func:`make_netns`), as
`ip netns add` does, so it can be set up before the container starts.

pyroute2 costs about 200 ms to import, so this module is loaded only when
a container has a network of its own.

A bandwidth limit is a token bucket filter (tbf) on the sending side of
each end of the veth: the host's end limits what the container receives,
the container's end what it sends.

See: rtnetlink(7), veth(4), ip-link(8), ip-netns(8), tc-tbf(8)
"""
import os

from minirun import explain


def _ipr():
    from pyroute2 import IPRoute
    return IPRoute()


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
        explain.say(f"unshare(CLONE_NEWNET); mount --bind /proc/{pid}/ns/net {path}")
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
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            explain.say(f"ip link add {name} type bridge; ip addr add {address}/{prefixlen}")
            ipr.link("add", ifname=name, kind="bridge")
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        if not any(a.get_attr("IFA_ADDRESS") == address for a in ipr.get_addr(index=index)):
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")
        return index


def delete_link(name: str) -> None:
    """Delete a device; one that is gone already (a veth goes with its
    peer's namespace, a moment after) is no error."""
    from pyroute2.netlink.exceptions import NetlinkError
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            explain.say(f"ip link del {name}")
            try:
                ipr.link("del", index=found[0])
            except NetlinkError as e:
                if e.code != 19:        # ENODEV
                    raise


def exists(name: str) -> bool:
    with _ipr() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def _tbf(ipr, index: int, rate: int) -> None:
    """tc qdisc add dev IF root tbf rate RATE burst B latency 50ms: a bucket
    of 1/50 s of traffic (at least a few packets), so that a transfer of a
    second or more is within a few percent of the rate."""
    burst = max(rate // 8 // 50, 16 * 1514)
    ipr.tc("add", "tbf", index, 0x10000, rate=f"{rate}bit", burst=burst, latency="50ms")


def attach(netns: str, bridge: str, host_if: str, address: str, prefixlen: int,
           gateway: str, mtu: int = 1500, rate: int = 0) -> None:
    """A veth pair: ``host_if`` on ``bridge``, eth0 in ``netns`` with
    ``address``, a default route through ``gateway``, and lo up."""
    from pyroute2 import NetNS
    with _ipr() as ipr:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            explain.say(f"ip link add {host_if} type veth peer name eth0 netns {netns}")
            ipr.link("add", ifname=host_if, kind="veth", mtu=mtu,
                     peer={"ifname": "eth0", "net_ns_fd": fd, "mtu": mtu})
        finally:
            os.close(fd)
        index = ipr.link_lookup(ifname=host_if)[0]
        master = ipr.link_lookup(ifname=bridge)[0]
        ipr.link("set", index=index, master=master, state="up")
        if rate:
            explain.say(f"tc qdisc add dev {host_if} root tbf rate {rate}bit (into the "
                        "container)")
            _tbf(ipr, index, rate)
    explain.say(f"in {netns}: ip link set lo up; ip addr add {address}/{prefixlen} dev eth0; "
                f"ip route add default via {gateway}")
    with NetNS(netns) as ns:
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        eth0 = ns.link_lookup(ifname="eth0")[0]
        ns.addr("add", index=eth0, address=address, prefixlen=prefixlen)
        ns.link("set", index=eth0, state="up")
        ns.route("add", dst="default", gateway=gateway)
        if rate:
            explain.say(f"in {netns}: tc qdisc add dev eth0 root tbf rate {rate}bit (out)")
            _tbf(ns, eth0, rate)
