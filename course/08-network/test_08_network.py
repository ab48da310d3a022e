"""Level 8's checks: a network namespace of the container's own; on the
bridge, eth0 with its address, a route, the bridge and the other
containers in reach; lo only with --network none and for a plain user,
whose bridge is refused in one line; nothing left on the host afterwards.

What the program inside sees is read from /proc/net/dev (the devices of
the reader's network namespace) and `ip`; what it reaches, with busybox's
ping and nc in a copy of the busybox rootfs.
"""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.usefixtures("shared_mounts")     # as on a systemd host (conftest.py)
COURSE = os.path.dirname(HERE)
BRIDGE, GATEWAY, LEASES = "course0", "10.77.0.1", "/run/course-network"
LOOPBACK_TALKS = ("import socket; s = socket.create_server(('127.0.0.1', 0)); "
                  "c = socket.create_connection(s.getsockname()); s.accept()[0].send(b'hi'); "
                  "print(c.recv(2).decode())")


@pytest.fixture
def bridge_free(root_only):
    """The bridge's subnet, 10.77.0.0/24, is not routed to another device here."""
    if shutil.which("ip") is None:
        pytest.skip("no `ip` here (iproute2): the level's program runs it")
    routes = subprocess.run(["ip", "-4", "route", "show", "match", GATEWAY],
                            capture_output=True, text=True).stdout.splitlines()
    taken = [r for r in routes if not r.startswith("default") and f"dev {BRIDGE}" not in r]
    if taken:
        pytest.skip(f"10.77.0.0/24 is this host's already ({taken[0]}): change SUBNET")


@pytest.fixture
def rootfs(busybox, scratch_dirs):
    """A copy of the busybox rootfs for this check alone."""
    top = scratch_dirs("course-network-")
    shutil.copytree(busybox, os.path.join(top, "rootfs"), symlinks=True)
    return os.path.join(top, "rootfs")


def devices(proc_net_dev: str) -> set[str]:
    """The device names in /proc/net/dev's text (after its two header lines)."""
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:]}


def plugged(stderr: str) -> tuple[str, str]:
    """(the container's address, the host's end of its veth), from the
    runtime's line ``container: eth0 ADDRESS/24 on course0 (host end NAME)``."""
    m = re.search(r"container: eth0 ([\d.]+)/24 on \S+ \(host end (\S+)\)", stderr)
    assert m, f"no 'container: eth0 ADDRESS/24 on course0 (host end NAME)' line in {stderr!r}"
    return m.group(1), m.group(2)


def in_namespace(inode: str) -> list[int]:
    """The processes whose network namespace is ``inode`` (net:[N])."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == inode:
                found.append(int(pid))
        except OSError:                     # gone meanwhile
            pass
    return found


def test_inside_there_are_lo_and_eth0_with_its_address(run, bridge_free):
    """On the bridge (root's default): eth0 has the leased address, and the
    default route goes through the bridge.
    Look at: set_up_inside(): ip address add ADDRESS/24 dev eth0, ip route add default."""
    r = run("run", "/bin/sh", "-c", "ip -o -4 address show; ip route show default")
    assert r.returncode == 0, r.stderr
    address, _ = plugged(r.stderr)
    addresses = dict(re.findall(r"^\d+: (\S+)\s+inet (\S+)", r.stdout, re.M))
    assert addresses == {"lo": "127.0.0.1/8", "eth0": f"{address}/24"}, r.stdout
    assert f"default via {GATEWAY} dev eth0" in r.stdout, r.stdout


def test_the_hosts_interfaces_are_not_visible(run, bridge_free):
    """A new network namespace holds only its own devices; --network host
    makes none, and sees the host's.
    Look at: enter_network_namespace(): unshare(CLONE_NEWNET), in the child."""
    r = run("run", "/bin/sh", "-c", "cat /proc/net/dev; readlink /proc/self/ns/net")
    assert r.returncode == 0, r.stderr
    assert devices(r.stdout.rsplit("\n", 2)[0]) == {"lo", "eth0"}, r.stdout
    assert r.stdout.split()[-1] != os.readlink("/proc/self/ns/net"), "the host's namespace"
    host = run("run", "--network", "host", "readlink", "/proc/self/ns/net")
    assert host.stdout.strip() == os.readlink("/proc/self/ns/net"), host.stderr


def test_it_can_ping_the_bridge(run, bridge_free, rootfs):
    """The veth's other end is on the bridge, whose address is the gateway.
    busybox's ping opens a raw socket: CAP_NET_RAW, given back with --cap-add.
    Look at: make_bridge() (its address, up) and make_veth() (the host end on it, up)."""
    r = run("run", "--rootfs", rootfs, "--cap-add", "CAP_NET_RAW",
            "ping", "-c", "1", "-W", "2", GATEWAY)
    assert r.returncode == 0 and "1 packets received" in r.stdout, r.stdout + r.stderr


def test_two_containers_reach_each_other(program, bridge_free, rootfs):
    """Two containers, two addresses on one bridge: one listens, the other
    connects to its address and sends a line.
    Look at: make_veth(): ip link set HOST_END master course0 up; the bridge up too."""
    env = dict(os.environ, PYTHONPATH=COURSE)
    server = subprocess.Popen([sys.executable, program, "run", "--rootfs", rootfs,
                               "timeout", "10", "nc", "-l", "-p", "7777"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = ""
        for line in server.stderr:
            seen += line
            if "container: eth0 " in line or "container: pid 1 " in line:
                break
        address, _ = plugged(seen)
        client = subprocess.run(
            [sys.executable, program, "run", "--rootfs", rootfs, "/bin/sh", "-c",
             f"for i in 1 2 3 4 5 6 7 8 9 10; do echo hi | nc {address} 7777 && exit; "
             "sleep 0.1; done; exit 1"], capture_output=True, text=True, timeout=30, env=env)
        client_address, _ = plugged(client.stderr)
        assert client_address != address, "two containers with one address"
        out, err = server.communicate(timeout=15)
        assert client.returncode == 0, client.stderr
        assert out == "hi\n", seen + err
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_network_none_is_loopback_only(run, root_only):
    """--network none: a namespace of its own with lo, up, and nothing else.
    Look at: set_up_inside(): ip link set lo up, for every network namespace."""
    r = run("run", "--network", "none", "/bin/sh", "-c",
            f"cat /proc/net/dev; {sys.executable} -c \"{LOOPBACK_TALKS}\"")
    assert r.returncode == 0, r.stderr
    assert devices(r.stdout.rsplit("\n", 2)[0]) == {"lo"}, r.stdout
    assert r.stdout.endswith("hi\n"), r.stdout
    assert "container: eth0" not in r.stderr


def test_nothing_is_left_after_exit(run, bridge_free):
    """The veth, the namespace, the lease: gone when the container is; the
    bridge too, unless another container still holds an address.
    Look at: unplug(): delete the host's end, the lease, the bridge with the last."""
    r = run("run", "readlink", "/proc/self/ns/net")
    assert r.returncode == 0, r.stderr
    address, host_end = plugged(r.stderr)
    assert not os.path.exists(f"/sys/class/net/{host_end}"), f"{host_end} is still there"
    assert not os.path.exists(os.path.join(LEASES, address)), f"the lease of {address} is left"
    deadline = time.monotonic() + 2         # the kernel frees a namespace from a worker
    while in_namespace(r.stdout.strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not in_namespace(r.stdout.strip()), "processes are left in its network namespace"
    others = os.listdir(LEASES) if os.path.isdir(LEASES) else []
    if not others:
        assert not os.path.exists(f"/sys/class/net/{BRIDGE}"), f"{BRIDGE} outlived its users"


def test_a_plain_user_gets_loopback_only(run, root_only):
    """Without root: a network namespace owned by the container's user
    namespace, whose root may bring its lo up; nothing else.
    Look at: child(): enter_network_namespace() after enter_user_namespace()."""
    r = run("run", "/bin/sh", "-c",
            f"cat /proc/net/dev; {sys.executable} -c \"{LOOPBACK_TALKS}\"; "
            "readlink /proc/self/ns/net", as_user=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert devices("\n".join(lines[:-2])) == {"lo"}, r.stdout
    assert lines[-2] == "hi", r.stdout
    assert lines[-1] != os.readlink("/proc/self/ns/net"), "the host's namespace"


def test_a_plain_user_is_refused_the_bridge_in_one_line(run, root_only):
    """A veth on the host's bridge needs root on the host: refused before
    anything is made, in one line that says what a plain user gets instead.
    Look at: main(): --network bridge when not root."""
    r = run("run", "--network", "bridge", "true", as_user=True)
    assert r.returncode == 125, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs root" in lines[0] and "--network none" in lines[0], \
        r.stderr
