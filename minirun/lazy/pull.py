"""`run --lazy`: an image recorded without waiting for its big layers.

The manifest and config are fetched, and each layer's index (the store's,
or the registry's artifact).  A layer with an index is left in the
registry, to be mounted lazily (lazy/mount.py); one without (not indexed,
zstd of one frame, uncompressed, or smaller than a few MiB) is fetched
whole as `pull` does.  The image is recorded with its lazy layers absent
from ``layers/``: `run` without --lazy fetches them (images.complete)
before it uses the image.
"""
import json
import os

from minirun.engine import pull as pl
from minirun.engine.store import Store
from minirun.lazy import artifact, index, source_path
from minirun.lazy.build import index_dir


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
    from minirun.engine import manifest as mf
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
    os.makedirs(os.path.dirname(source_path(store, cfg)), mode=0o755, exist_ok=True)
    with open(source_path(store, cfg), "w") as f:
        json.dump({"reference": str(cand), "tls_verify": tls_verify, "layers": layers}, f)
    store.put_blob(data, mdigest)
    store.add_image(cfg, mdigest, [(d["diff_id"], d["digest"]) for d in layers],
                    sum(d.size for d in manifest.layers), [str(cand)])
    return cfg


def lazy_layers(store: Store, image_id: str) -> dict[str, int]:
    """diff_id -> position (bottom first) of the image's layers that are
    still lazy (not unpacked in the store)."""
    try:
        with open(source_path(store, image_id)) as f:
            layers = json.load(f)["layers"]
    except FileNotFoundError:
        return {}
    return {d["diff_id"]: i for i, d in enumerate(layers)
            if d["lazy"] and not store.has_layer(d["diff_id"])}


def cache_path(store: Store, digest: str, part: str = "") -> str:
    """Where a lazy layer's fetched bytes (``part`` "") or its index's
    windows (".windows") are cached."""
    return os.path.join(store.root, "lazy", "cache", digest.replace(":", "-") + part)


def forget(store: Store, image_id: str) -> None:
    """After `rmi`: the image's lazy record, and the cached bytes of its
    layers that no image still has (the indexes stay: they are small, and
    a later pull of the same layers takes them)."""
    try:
        with open(source_path(store, image_id)) as f:
            layers = json.load(f)["layers"]
    except FileNotFoundError:
        return
    os.unlink(source_path(store, image_id))
    in_use = {blob for (blob,) in store.db.execute("SELECT blob_digest FROM image_layers")}
    cache = os.path.join(store.root, "lazy", "cache")
    for layer in layers:
        if layer["digest"] in in_use:
            continue
        prefix = os.path.basename(cache_path(store, layer["digest"]))
        for name in os.listdir(cache) if os.path.isdir(cache) else []:
            if name.startswith(prefix):
                os.unlink(os.path.join(cache, name))
