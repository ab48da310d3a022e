"""What several stores share: the host.

Networks and leases live in the store; but two stores (minirun --root) used
at once as root share the host's devices and addresses: minirun0 is every
store's default bridge.  So whatever must be unique on the host is claimed
there too, by creating a file that must not exist yet (CNI's host-local
IPAM does the same):

    /run/minirun/ipam/leases/<bridge>/<address>   an address on a bridge
    /etc/minirun/networks/<bridge>                a named network's bridge
                                                  and subnet, while it lives
                                                  (podman keeps its networks
                                                  under /etc too)

These stay host-wide on purpose, not under --runroot (MINIRUN_RUNROOT): they
claim the host's bridge names and addresses, which every runroot shares.  A
plain user's bridges live in a namespace of the store's own, and claim
nothing: for a plain user every call here is a no-op.
"""
import os

from minirun.engine.store import Store


def _claims(kind: str) -> str:
    return "/run/minirun/ipam/leases" if kind == "leases" else "/etc/minirun/networks"


def claim(kind: str, key: str, owner: str) -> bool:
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


def unclaim(kind: str, key: str) -> None:
    if os.geteuid() == 0:
        try:
            os.unlink(os.path.join(_claims(kind), key))
        except FileNotFoundError:
            pass


def claimed_subnets(store: Store) -> list:
    """Subnets that other stores' networks hold on this host."""
    import ipaddress
    d, out = _claims("networks"), []
    for name in os.listdir(d) if os.path.isdir(d) and os.geteuid() == 0 else []:
        with open(os.path.join(d, name)) as f:
            subnet, _, owner = f.read().partition(" ")
        if not owner.startswith(store.root + " "):
            out.append(ipaddress.ip_network(subnet))
    return out
