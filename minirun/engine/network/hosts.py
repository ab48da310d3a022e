"""Names on a bridge network: each container's /etc/hosts lists its
neighbours.

A container's hosts file is written by the containers room when it is made
(the host's entries, the container itself); below a ``# minirun network``
line this module keeps one line per neighbour on the same network, and
rewrites every member's file when a container joins or leaves.  The files
are rewritten in place: each is bind-mounted into its container, and a
new inode would not be seen there.
"""
import json
import os

from minirun.engine.store import Store, container_dir

MARK = "# minirun network\n"


def members(store: Store, network: str) -> list[tuple[str, str]]:
    """(container id, address) of each container with a lease on ``network``."""
    return store.db.execute("SELECT container, address FROM leases WHERE network=?",
                            (network,)).fetchall()


def names_of(store: Store, cid: str) -> str:
    """A container's names on its network: its name, then its aliases."""
    row = store.db.execute("SELECT name, options FROM containers WHERE id=?", (cid,)).fetchone()
    if row is None:
        return cid[:12]
    return " ".join([row[0]] + (json.loads(row[1] or "{}").get("aliases") or []))


def _rewrite(store: Store, cid: str, network: str) -> None:
    """The container's hosts file: its base (host entries, itself) and a
    line per neighbour, written in place (the bind mount keeps the inode)."""
    path = os.path.join(container_dir(store, cid), "hosts")
    try:
        with open(path) as f:
            base = f.read().split(MARK)[0]
    except FileNotFoundError:
        return
    lines = [f"{address}\t{names_of(store, other)}\n" for other, address in
             members(store, network) if other != cid]
    with open(path, "r+") as f:
        f.write(base + MARK + "".join(lines))
        f.truncate()


def join(store: Store, rec: dict, network: str, address: str) -> None:
    """The container's own line (its address, in place of 127.0.0.1), and
    its name in every neighbour's file (theirs in its own)."""
    path = os.path.join(container_dir(store, rec["id"]), "hosts")
    with open(path) as f:
        text = f.read().split(MARK)[0]
    hostname = (rec["options"].get("hostname") or rec["id"][:12])
    own = f"{address}\t{hostname} {rec['name']}\n"
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("127.0.0.1\t" + hostname)) + own
    with open(path, "r+") as f:
        f.write(text)
        f.truncate()
    for other, _ in members(store, network):
        _rewrite(store, other, network)


def leave(store: Store, cid: str, network: str) -> None:
    """Rewrite the files of those left on ``network`` (after ``cid``'s lease
    went)."""
    for other, _ in members(store, network):
        _rewrite(store, other, network)
