"""`run --lazy`: an image recorded without waiting for its big layers.

The manifest and config are fetched, and each layer's index (the store's,
or the registry's artifact).  A layer with an index is left in the
registry, to be mounted lazily (lazy/mount.py); one without (not indexed,
zstd of one frame, uncompressed, or smaller than a few MiB) is fetched
whole as `pull` does.  The image is recorded with its lazy layers absent
from ``layers/``: `run` without --lazy fetches them (:func:`complete`)
before it uses the image.
"""
import json
import os

from minirun.engine.images import pull as pl
from minirun.engine.store import Store
from minirun.engine.lazy import artifact, index
from minirun.engine.lazy.build import index_dir


def min_size() -> int:
    """Layers smaller than this are fetched whole even with an index: a few
    MiB cost less at once than in spans (MINIRUN_LAZY_MIN_SIZE, bytes)."""
    return int(os.environ.get("MINIRUN_LAZY_MIN_SIZE", 4 << 20))


def pull_lazy(store: Store, text: str, tls_verify: bool | None = None,
              rootless: bool = False) -> str:
    """Record image ``text`` with its indexed layers left lazy; its id."""
    cand, client, data, mdigest, manifest = pl.resolve(text, tls_verify)
    found = artifact.fetch(client, cand.path, mdigest)
    cfg = manifest.config.digest
    if not store.has_blob(cfg):
        store.put_blob(client.blob(cand.path, cfg), cfg)
    from minirun.engine.images import manifest as mf
    config = mf.parse_config(store.read_blob(cfg))
    layers, progress = [], pl.Progress(True)
    for desc, diff_id in zip(manifest.layers, config.diff_ids):
        where = index_dir(store, desc.digest)
        if not os.path.isdir(where) and desc.digest in found:
            index.check(found[desc.digest][0], desc.size)
            os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
            index.save(where, *found[desc.digest])
        lazy = os.path.isdir(where) and not store.has_layer(diff_id) and \
            desc.size >= min_size()
        if not lazy:
            pl.fetch_layer(store, client, cand.path, desc, diff_id, progress, rootless)
        layers.append({"diff_id": diff_id, "digest": desc.digest, "size": desc.size,
                       "media_type": desc.media_type, "lazy": lazy})
    os.makedirs(os.path.dirname(store.lazy_record(cfg)), mode=0o755, exist_ok=True)
    with open(store.lazy_record(cfg), "w") as f:
        json.dump({"reference": str(cand), "tls_verify": tls_verify, "layers": layers}, f)
    store.put_blob(data, mdigest)
    store.add_image(cfg, mdigest, [(d["diff_id"], d["digest"]) for d in layers],
                    sum(d.size for d in manifest.layers), [str(cand)])
    return cfg


def lazy_layers(store: Store, image_id: str) -> dict[str, int]:
    """diff_id -> position (bottom first) of the image's layers that are
    still lazy (not unpacked in the store)."""
    try:
        with open(store.lazy_record(image_id)) as f:
            layers = json.load(f)["layers"]
    except FileNotFoundError:
        return {}
    return {d["diff_id"]: i for i, d in enumerate(layers)
            if d["lazy"] and not store.has_layer(d["diff_id"])}


def pull(root: str | None, name: str, *, tls_verify: bool | None = None) -> str:
    """`run --lazy` of an image not in the store: :func:`pull_lazy` where it
    may write the store (a plain user's: inside its user namespace)."""
    from minirun.engine.images.service import in_store
    from minirun.kernel.idmap import is_rootless
    def work(store: Store) -> str:
        with store.writing():
            return pull_lazy(store, name, tls_verify=tls_verify, rootless=is_rootless())
    return in_store(root, work)


def complete(root: str | None, image_id: str) -> None:
    """Fetch and unpack the layers of an image that were left lazy (`run`
    without --lazy of an image pulled with it)."""
    from minirun.engine.images import service
    with open(Store(root).lazy_record(image_id)) as f:
        reference = json.load(f)["reference"]
    service.pull(root, reference, quiet=True)
