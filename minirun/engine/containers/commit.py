"""commit and diff: a container's changes (its overlay upper directory) as
a list, and as a new image of one more layer (engine/images/layerdiff.py
writes it; engine/images/archive.commit_image adds it to the store).

A running container is paused while its layer is written (podman's
default, --pause), so that the layer is one moment of it.  A plain user's
upper directory holds files of the container's many owners: both are read
as root of the store's user namespace (engine/userns.as_root), where the
owners are the container's own.
"""
import os

from minirun.engine import userns
from minirun.engine.containers import records as ct
from minirun.engine.store import Store
from minirun.errors import MiniRunError


def diff(store: Store, name: str) -> list[list[str]]:
    """[kind, path] of each change: A added, C changed, D deleted."""
    from minirun.engine.images import layerdiff
    rec = ct.find(store, name)
    upper = os.path.join(ct.container_dir(store, rec["id"]), "upper")
    lowers = [store.layer_dir(d) for d, _ in store.image_layers(rec["image_id"])]
    if userns.needed():
        return userns.as_root(layerdiff.changes, upper, lowers)
    return layerdiff.changes(upper, lowers)


def commit(store: Store, name: str, target: str | None = None, *, changes=(),
           author: str = "", message: str = "", pause: bool = True) -> str:
    """A new image of the container's image and its changes (named
    ``target``); its id."""
    from minirun.engine.containers import lifecycle
    from minirun.engine.images import instructions, service
    rec = lifecycle.refresh(store, ct.find(store, name))
    base = {}
    for text in changes:                   # checked before anything is written
        base = instructions.apply(base, text)
    upper = os.path.join(ct.container_dir(store, rec["id"]), "upper")
    frozen = pause and rec["state"] == "running"
    if frozen:
        try:
            lifecycle.freeze(store, rec["id"], True)
        except MiniRunError:            # no freezer (a plain user's): as it runs
            frozen = False
    command = " ".join(rec["options"].get("command") or [])
    try:
        return service.commit(store.root, upper, rec["image_id"],
                              config_changes=list(changes), author=author, comment=message,
                              name=target,
                              created_by=f"/bin/sh -c #(nop) minirun commit {command}".rstrip())
    finally:
        if frozen:
            lifecycle.freeze(store, rec["id"], False)
