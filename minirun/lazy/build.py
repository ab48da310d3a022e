"""`minirun lazy index IMAGE`: index each gzip layer of an image in a
registry, and keep the indexes in the store, beside the image's blobs
(``lazy/<algorithm>/<hex>/``).

Each layer is downloaded once to a temporary file (its digest checked as it
arrives), indexed (lazy/index.py), and the file removed: the index is what
is kept.  Layers that cannot be read lazily (zstd: its frames do not allow
restarting inside them; uncompressed: a layer too small to matter) are
named, and will be fetched whole at start.
"""
import os

from minirun.engine import digest as dg
from minirun.engine import pull as pl
from minirun.engine.store import Store
from minirun.lazy import index


def index_dir(store: Store, digest: str) -> str:
    algorithm, hexa = digest.split(":", 1)
    return os.path.join(store.root, "lazy", algorithm, hexa)


def index_image(store: Store, text: str, spacing: int = index.DEFAULT_SPACING,
                tls_verify: bool | None = None, push: bool = False, say=print) -> list[dict]:
    """Index every gzip layer of image ``text``; a line per layer through ``say``.
    A layer indexed already keeps its index; one the registry has an index
    artifact for takes that one (no layer is downloaded).  With ``push``,
    the indexes go to the registry as an artifact referring to the image."""
    if spacing < index.MIN_SPACING:
        raise index.LazyIndexError(f"--spacing {spacing}: at least {index.MIN_SPACING} bytes "
                                   "(each checkpoint keeps a 32 KiB window)")
    from minirun.lazy import artifact
    cand, client, data, mdigest, manifest = pl.resolve(text, tls_verify, "index")
    found = artifact.fetch(client, cand.path, mdigest)
    out = [_layer(store, client, cand.path, desc, spacing, found, say)
           for desc in manifest.layers]
    if push:
        import json
        subject = {"mediaType": json.loads(data).get("mediaType") or manifest.media_type,
                   "digest": mdigest, "size": len(data)}
        digest = artifact.push(client, cand.path, subject, {
            r["digest"]: index.load(index_dir(store, r["digest"])) for r in out
            if r["lazy"]})
        say(f"pushed the indexes: {cand.name}@{digest}")
    return out


def _layer(store: Store, client, name: str, desc, spacing: int, found: dict, say) -> dict:
    short = desc.digest[7:19]
    if "gzip" not in desc.media_type:
        kind = "zstd" if "zstd" in desc.media_type else "uncompressed"
        say(f"{short}: not lazy ({kind}: fetched whole at start)")
        return {"digest": desc.digest, "lazy": False, "reason": kind}
    where = index_dir(store, desc.digest)
    origin = ""
    if os.path.isdir(where):
        toc, _ = index.load(where)
    elif desc.digest in found:
        toc = found[desc.digest][0]
        os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
        index.save(where, *found[desc.digest])
        origin = " (the registry's index)"
    else:
        tmp = os.path.join(store.root, "blobs", "partial", f"lazy-{desc.digest[7:]}-{os.getpid()}")
        try:
            check = dg.Verifier(desc.digest, desc.size, f"layer {desc.digest}")
            with open(tmp, "wb") as f:
                for chunk in client.blob_chunks(name, desc.digest):
                    check.update(chunk)
                    f.write(chunk)
            check.check()
            toc, checkpoints = index.build(tmp, spacing)
            os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
            index.save(where, toc, checkpoints)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    say(f"{short}: lazy{origin}: {len(toc['entries'])} entries, {toc['checkpoints']} checkpoints "
        f"every {toc['spacing'] >> 10} KiB of {toc['uncompressedSize'] >> 10} KiB")
    return {"digest": desc.digest, "lazy": True, "entries": len(toc["entries"]),
            "checkpoints": toc["checkpoints"]}
