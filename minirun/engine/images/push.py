"""push: an image of the store -> a registry, blob by blob, then its manifest.

Blobs the registry has already are skipped (HEAD); the manifest goes last,
so that a reader never sees a manifest whose blobs are missing.
"""
import json

from minirun.engine.images import manifest as mf
from minirun.engine import reference
from minirun.engine.images import registries
from minirun.engine.images.pull import client_for
from minirun.engine.store import Store


def push(root: str | None, source: str, destination: str, *,
         tls_verify: bool | None = None) -> str:
    store = Store(root)
    image_id = store.lookup(source)
    ref = reference.parse(destination)
    if ref.short:
        raise reference.InvalidReference(f"push needs a registry in the destination, such as "
                                       f"localhost:5000/{ref.path}")
    conf = registries.load()
    client = client_for(ref, conf, tls_verify)
    row = store.db.execute("SELECT manifest_digest FROM images WHERE id=?",
                           (image_id,)).fetchone()
    data = store.read_blob(row[0])
    doc = mf.parse(data)
    for desc in (*doc.layers, doc.config):
        if not client.has_blob(ref.path, desc.digest):
            with open(store.blob_path(desc.digest), "rb") as f:
                client.push_blob(ref.path, desc.digest, f, desc.size)
    client.push_manifest(ref.path, ref.tag or "latest", data,
                         json.loads(data).get("mediaType", doc.media_type))
    return row[0]
