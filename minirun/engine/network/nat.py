"""NAT and port rules: one nftables table per store, rewritten whole from
the store's rows whenever a network, a lease or a published port changes.

    table ip minirun_<dev>_<ino>
      prerouting   dnat to a container's address, for each published port
      output       the same, for connections from this host
      postrouting  masquerade each network's traffic out (and 127.0.0.1's)
      forward      drop one network's bridge to another's (kept apart)

As root the table is on the host; a plain user's goes in the user's network
namespace (rootlessnet.py), where their bridges are, while it runs.  With
no lease left there is no table at all.

Why (``--explain`` prints the item under it):

- nft: the container's address is private to its bridge: what leaves is
  rewritten to the host's (masquerade), a published port is sent on to
  the container (dnat), and two networks' bridges cannot reach each other (nft(8))
"""
import json
import os

from minirun import explain
from minirun.engine.network.modes import NetworkError
from minirun.engine.store import Store


def table(store: Store) -> str:
    """This store's nftables table: each store's rules, side by side."""
    st = os.stat(store.root)
    return f"minirun_{st.st_dev:x}_{st.st_ino:x}"


def _port_rules(store: Store, rootless: bool) -> tuple[str, str, str]:
    """nftables lines for every running container's published ports: DNAT
    from outside (prerouting) and from this host (output), and masquerade
    for what comes from 127.0.0.1 (it cannot be answered otherwise).  In a
    plain user's namespace everything arrives from slirp4netns, to its
    own address, whatever the host address was."""
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


def update(store: Store) -> None:
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
    name = table(store)
    script = f"table ip {name}\ndelete table ip {name}\n"
    if store.db.execute("SELECT 1 FROM leases LIMIT 1").fetchone():   # else: no table at all
        script += (f"table ip {name} {{\n"
                   "  chain prerouting {\n    type nat hook prerouting priority -100;\n"
                   f"{pre}  }}\n"
                   "  chain output {\n    type nat hook output priority -100;\n"
                   f"{out}  }}\n"
                   "  chain postrouting {\n    type nat hook postrouting priority srcnat;\n"
                   f"{rules}{post}  }}\n"
                   "  chain forward {\n    type filter hook forward priority filter;\n"
                   f"{isolation}  }}\n}}\n")
    if not rootless:
        apply(script, bridges)
        return
    from minirun.engine.network import rootlessnet
    if rootlessnet.running(store):
        rootlessnet.run(store, apply, script, bridges)


def apply(script: str, bridges: list[str]) -> None:
    """Load the table, and turn on forwarding (as podman does) and, on each
    bridge, routing of 127.0.0.1 (so that a port published on the host's
    loopback reaches a container).  Runs where the bridges are: on the
    host, or inside a plain user's network namespace."""
    import subprocess
    explain.say("nft -f - (NAT out, published ports, networks kept apart)", why="nft")
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
