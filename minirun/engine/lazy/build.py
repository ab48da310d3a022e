"""`minirun lazy index IMAGE`: index each gzip or zstd layer of an image in
a registry, and keep the indexes in the store, beside the image's blobs
(``lazy/v2/<algorithm>/<hex>/``: the index format's version first).

Each layer is indexed (lazy/index.py) from the store's blob where it has
one, else downloaded once to a temporary file (its digest checked as it
arrives) that goes after: the index is what is kept.  Layers that cannot
be read lazily (zstd of a single frame, which cannot be cut; uncompressed)
are named, and will be fetched whole at start.
"""
import os

from minirun.engine import digest as dg
from minirun.engine.images import pull as pl
from minirun.engine.store import Store
from minirun.engine.lazy import index


def index_dir(store: Store, digest: str) -> str:
    algorithm, hexa = digest.split(":", 1)
    return os.path.join(store.root, "lazy", "v2", algorithm, hexa)


def index_image(store: Store, text: str, spacing: int = index.DEFAULT_SPACING,
                tls_verify: bool | None = None, push: bool = False, say=print) -> list[dict]:
    """Index every layer of image ``text``; a line per layer through ``say``.
    A layer indexed already keeps its index; one the registry has an index
    artifact for takes that one (no layer is downloaded).  With ``push``,
    the indexes go to the registry as an artifact referring to the image."""
    index.check_spacing(spacing)                 # before anything is downloaded
    from minirun.engine.lazy import artifact
    cand, client, data, mdigest, manifest = pl.resolve(text, tls_verify, "index")
    found = artifact.fetch(client, cand.path, mdigest)
    out = [_layer(store, client, cand.path, desc, spacing, found, say)
           for desc in manifest.layers]
    if push:
        _push(store, client, cand.path, cand.name, data, mdigest, out, say)
    return out


def _push(store: Store, client, path: str, name: str, data: bytes, mdigest: str,
          out: list[dict], say) -> str:
    """The lazy layers' indexes (``out``: _layer's answers) to repository
    ``path``, as an artifact referring to manifest ``data``."""
    import json
    from minirun.engine.images import manifest as mf
    from minirun.engine.lazy import artifact
    subject = {"mediaType": json.loads(data).get("mediaType") or mf.parse(data).media_type,
               "digest": mdigest, "size": len(data)}
    digest = artifact.push(client, path, subject, {
        r["digest"]: index.load(index_dir(store, r["digest"])) for r in out if r["lazy"]})
    say(f"pushed the indexes: {name}@{digest}")
    return digest


def _layer(store: Store, client, name: str, desc, spacing: int, found: dict, say) -> dict:
    """Index one layer: kept from before, taken from the registry's
    artifact, or built from the blob (the store's, else downloaded)."""
    short = desc.digest[7:19]
    where = index_dir(store, desc.digest)
    if "gzip" not in desc.media_type and "zstd" not in desc.media_type:
        why = "uncompressed"
    elif os.path.exists(where + ".not-lazy"):          # found so before
        with open(where + ".not-lazy") as f:
            why = f.read()
    else:
        why = ""
    if why:
        say(f"{short}: not lazy ({why}: fetched whole at start)")
        return {"digest": desc.digest, "lazy": False, "reason": why}
    origin = ""
    if os.path.isdir(where):
        toc, _ = index.load(where)
    elif desc.digest in found:
        toc = found[desc.digest][0]
        index.check(toc, desc.size)
        os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
        index.save(where, *found[desc.digest])
        origin = " (the registry's index)"
    else:
        tmp = os.path.join(store.root, "blobs", "partial", f"lazy-{desc.digest[7:]}-{os.getpid()}")
        local = store.blob_path(desc.digest) if store.has_blob(desc.digest) else tmp
        try:
            if local == tmp:
                check = dg.Verifier(desc.digest, desc.size, f"layer {desc.digest}")
                with open(tmp, "wb") as f:
                    for chunk in client.blob_chunks(name, desc.digest):
                        check.update(chunk)
                        f.write(chunk)
                check.check()
            os.makedirs(os.path.dirname(where), mode=0o755, exist_ok=True)
            try:
                toc, windows = index.build(local, spacing)
            except index.NotLazy:
                with open(where + ".not-lazy", "w") as f:
                    f.write("zstd, one frame")
                return _layer(store, client, name, desc, spacing, found, say)
            index.save(where, toc, windows)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    say(f"{short}: lazy{origin}: {len(toc['entries'])} entries, "
        f"{len(toc['checkpoints'])} checkpoints every {toc['spacing'] >> 10} KiB of "
        f"{toc['uncompressedSize'] >> 10} KiB ({toc.get('compression', 'gzip')})")
    return {"digest": desc.digest, "lazy": True, "entries": len(toc["entries"]),
            "checkpoints": len(toc["checkpoints"])}


def push_indexes(store: Store, source: str, destination: str, client,
                 spacing: int = index.DEFAULT_SPACING, say=print) -> str:
    """`minirun push --lazy-index`: index the image's layers from the
    store's blobs where they are not yet, and push the indexes as an
    artifact referring to the manifest just pushed to ``destination``."""
    from minirun.engine.images import manifest as mf
    from minirun.engine import reference
    mdigest = store.db.execute("SELECT manifest_digest FROM images WHERE id=?",
                               (store.lookup(source),)).fetchone()[0]
    data = store.read_blob(mdigest)
    path = reference.parse(destination).path
    out = [_layer(store, client, path, desc, spacing, {}, say)
           for desc in mf.parse(data).layers]
    return _push(store, client, path, destination, data, mdigest, out, say)


def record(store: Store, text: str, command: list[str], tls_verify: bool | None = None,
           say=print) -> dict[str, int]:
    """`minirun lazy record IMAGE -- CMD`: run CMD once, lazily, from an empty
    scratch store, note the spans its start reads, in order, and keep them
    in each layer's table of contents (``prefetch``): a cold start fetches
    them first, in parallel, and `lazy index --push` carries them.  Spans,
    not files: a start reads a fifth of a big library, not all of it."""
    import json
    import subprocess
    import sys
    import tempfile
    from minirun.engine import userns
    digests = [r["digest"] for r in
               index_image(store, text, tls_verify=tls_verify, say=lambda line: None)]
    scratch = tempfile.mkdtemp(prefix="record-", dir=os.path.join(store.root, "lazy"))
    try:
        for digest in digests:
            if os.path.isdir(index_dir(store, digest)):
                index.save(index_dir(Store(scratch), digest),
                           *index.load(index_dir(store, digest)))
        profile = os.path.join(scratch, "profile")
        env = dict(os.environ, MINIRUN_LAZY_RECORD=profile, MINIRUN_LAZY_MIN_SIZE="0")
        run = subprocess.run([sys.argv[0], "--root", scratch, "run", "--rm", "--lazy", text,
                              *command], env=env)
        if run.returncode != 0:
            from minirun.errors import MiniRunError
            raise MiniRunError(f"lazy record: the command exited with {run.returncode}; "
                               "nothing recorded")
        read: dict[int, list[int]] = {}
        if os.path.exists(profile):
            with open(profile) as f:
                for line in f:
                    number, span = line.split()
                    read.setdefault(int(number), []).append(int(span))
    finally:
        userns.remove_tree(scratch)
    counts = {}
    for number, digest in enumerate(digests):
        where = index_dir(store, digest)
        if not os.path.isdir(where):
            continue
        toc_path = os.path.join(where, "toc.json")
        with open(toc_path) as f:
            toc = json.load(f)
        toc["prefetch"] = read.get(number, [])
        with open(toc_path + ".tmp", "w") as f:
            json.dump(toc, f, separators=(",", ":"))
        os.replace(toc_path + ".tmp", toc_path)
        counts[digest] = len(toc["prefetch"])
        say(f"{digest[7:19]}: {len(toc['prefetch'])} of {len(toc['checkpoints'])} spans "
            "read by the start, recorded")
    return counts
