"""What a container's --network can be, checked before anything is made:
none, host, a bridge network of ours (``bridge`` is the default one),
slirp4netns or pasta; and the words the whole room shares (its error,
the default network, where a container's namespace and veth are named).

    none          a network namespace with only lo
    host          the host's network namespace
    bridge, NAME  a veth on a bridge of ours (bridge.py, connect.py)
    slirp4netns   a tap device in the container, a process of ours outside
    pasta         (usernet.py; a plain user's default, as podman's)

Nothing here touches the store or changes the kernel: the containers room
checks a spec with it, before it writes a bundle.
"""
import os
import re

from minirun.errors import MiniRunError

DEFAULT = "minirun"
DEFAULT_SUBNET = "10.89.0.0/24"
BUILTIN = ("none", "host", "slirp4netns", "pasta")
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")


class NetworkError(MiniRunError):
    """A network cannot be made, found or joined."""


class NoSuchNetwork(NetworkError):
    """No network by that name: `minirun network ls` lists them."""


def netns_path(cid: str) -> str:
    """Where root keeps a container's network namespace: beside `ip netns`'s
    (so `ip netns list` shows them), in a directory pasta, which drops to
    nobody, may open."""
    return f"/run/netns/minirun-{cid}"


def host_interface(cid: str) -> str:
    return "mr" + cid[:11]          # interface names are at most 15 bytes


def link_exists(name: str) -> bool:
    """Whether network device ``name`` is in this network namespace."""
    return os.path.exists(f"/sys/class/net/{name}")


def joined(mode: str | None) -> bool:
    """Whether a container's network is another's (``container:ID``: a pod's
    containers join its infra container's), set up and taken down by that one."""
    return bool(mode) and mode.startswith("container:")


def bridged(mode: str | None) -> bool:
    """Whether a container's --network is a bridge network of ours."""
    return bool(mode) and mode not in BUILTIN and not joined(mode)


def private(mode: str | None) -> bool:
    """Whether a container's --network gives it a network namespace of ours
    to set up (and take down)."""
    return bool(mode) and mode not in ("none", "host") and not joined(mode)


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
    if not NAME.match(mode):
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
