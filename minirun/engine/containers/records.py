"""Containers of the engine: an image and flags become a record in the
store and an OCI bundle, which the runtime runs in-process.

    <store>/containers/<id>/config.json   the bundle's config (the one currency)
    <store>/containers/<id>/rootfs/       where the overlay of the image is mounted
    <store>/containers/<id>/upper, work/  the container's own writable layer
    <store>/containers/<id>/hosts, hostname, resolv.conf   bound into it
    <store>/containers/<id>/ctr.log       its output, one record a line

The rootfs overlay is mounted by the runtime inside the container's own
mount namespace (annotation ``org.minirun.rootfs.overlay``), so that no
mount of a container ever exists on the host to be leaked.
"""
import json
import os

from minirun.engine.store import (Store, check_name, container_dir, hex_of,  # noqa: F401
                                  now)                     # (the records' own)
from minirun.errors import MiniRunError

_ADJ = ["brave", "calm", "eager", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty",
        "quirky", "serene", "sharp", "tender", "vivid", "witty"]
_NOUN = ["turing", "hopper", "lovelace", "knuth", "ritchie", "thompson", "torvalds", "liskov",
         "dijkstra", "hamilton", "shannon", "babbage", "noether", "curie", "lamarr", "cerf"]


class ContainerError(MiniRunError):
    """A container operation was refused: no such container, a name taken,
    a running container removed without -f, ..."""


class NoSuchContainer(ContainerError):
    """No container by that name or id: `minirun ps -a` lists them."""


def find(store: Store, text: str) -> dict:
    """A container by name, full id or id prefix."""
    rows = store.db.execute("SELECT id FROM containers WHERE name=? OR id=?",
                            (text, text)).fetchall()
    if not rows and len(text) >= 3 and all(c in "0123456789abcdef" for c in text):
        rows = store.db.execute("SELECT id FROM containers WHERE id LIKE ?",
                                (f"{text}%",)).fetchall()
        if len(rows) > 1:
            raise ContainerError(f"container id prefix `{text}` is ambiguous")
    if not rows:
        raise NoSuchContainer(f"no container with name or id `{text}` (minirun ps -a lists "
                              "them)")
    return record(store, rows[0][0])


def rename(store: Store, name: str, new_name: str) -> None:
    """Container ``name`` is called ``new_name`` from now on (a name in use,
    or not a name, is refused)."""
    check_name(new_name, "container")
    rec = find(store, name)
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM containers WHERE name=? AND id<>?",
                      (new_name, rec["id"])).fetchone():
            raise ContainerError(f"the name `{new_name}` is in use by another container: "
                                 "choose another name")
        db.execute("UPDATE containers SET name=? WHERE id=?", (new_name, rec["id"]))


def record(store: Store, cid: str) -> dict:
    cols = ("id", "name", "image_id", "created", "state", "pid", "exit_code", "started",
            "finished", "monitor", "options", "usage")
    row = store.db.execute(f"SELECT {', '.join(cols)} FROM containers WHERE id=?",
                           (cid,)).fetchone()
    if row is None:
        raise ContainerError(f"no container `{cid}`")
    rec = dict(zip(cols, row))
    rec["options"] = json.loads(rec["options"] or "{}")
    rec["usage"] = json.loads(rec["usage"] or "{}")
    return rec


def update(store: Store, cid: str, **fields) -> None:
    with store.transaction() as db:
        db.execute(f"UPDATE containers SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?",
                   (*fields.values(), cid))


def all_records(store: Store) -> list[dict]:
    return [record(store, r[0]) for r in
            store.db.execute("SELECT id FROM containers ORDER BY created DESC")]


def random_name(store: Store) -> str:
    """adjective_scientist, as podman names containers; a number if taken."""
    r = os.urandom(3)
    name = f"{_ADJ[r[0] % len(_ADJ)]}_{_NOUN[r[1] % len(_NOUN)]}"
    if store.db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone():
        name += f"_{r[2]}"
    return name


def remove_upper(store: Store, cid: str) -> None:
    """A stopped container's writable layer, removed ahead of the rest: the
    space a container that filled the disk holds (see lifecycle.remove)."""
    from minirun.engine import userns
    userns.remove_tree(os.path.join(container_dir(store, cid), "upper"))


def remove_files(store: Store, cid: str) -> None:
    """The container's directory (its upper layer holds files of every id the
    container used: rootless, only root of the user namespace may remove
    them) and its record."""
    from minirun.engine import userns
    userns.remove_tree(container_dir(store, cid))
    with store.transaction() as db:
        row = db.execute("SELECT image_id, options FROM containers WHERE id=?",
                         (cid,)).fetchone()
        db.execute("DELETE FROM containers WHERE id=?", (cid,))
    if row and json.loads(row[1] or "{}").get("lazy"):   # its lazy mount, if it was the last
        from minirun.engine.lazy import mount
        mount.release_unused(store, row[0])


def image_name(store: Store, image_id: str) -> str:
    names = store.names_of(image_id)
    return names[0] if names else hex_of(image_id)[:12]


def runtime_store():
    from minirun.runtime.state import Store as RuntimeStore, default_root
    return RuntimeStore(os.path.join(default_root(), "engine"))


def alive(owner: str | None) -> bool:
    """Is the process ``PID:STARTTIME`` still alive (the same one, not a
    later process given the same pid)?  An owner, or a monitor."""
    from minirun.runtime.state import proc_start_time
    pid, _, start = (owner or "").partition(":")
    if not pid.isdigit() or not start.isdigit():
        return False
    return proc_start_time(int(pid)) == int(start)
