"""Indexes in the registry, beside the image: an OCI artifact whose
``subject`` is the image manifest, so that anyone who pulls the image can
find its indexes (SOCI's index manifest does the same).

    artifact manifest (artifactType application/vnd.minirun.lazy.index.v1)
      config: the empty descriptor ({})
      layers: per lazy layer, its toc.json (gzip-compressed) and its
              windows, each annotated org.minirun.lazy.layer = the image
              layer's digest
      subject: the image manifest

A registry with the referrers API (OCI distribution 1.1) lists it under
``/v2/NAME/referrers/DIGEST`` and answers the push with an ``OCI-Subject``
header.  One without it, such as the distribution registry here, gets the
fallback the spec describes: an image index tagged ``sha256-HEX`` (the
subject's digest) that lists the referrers, which we read and update.

A lazy start fetches the tables of contents only: the windows are read
from the registry a span at a time, as the spans are (lazy/serve.py).
"""
import gzip
import json

from minirun.engine import digest as dg
from minirun.engine.images.registry import NotFound
from minirun.engine.lazy import index

ARTIFACT_TYPE = "application/vnd.minirun.lazy.index.v2"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json",
         "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
         "size": 2, "data": "e30="}
LAYER = "org.minirun.lazy.layer"


def _blob(client, name: str, data: bytes | None, digest: str, size: int, media_type: str,
          layer: str) -> dict:
    if not client.has_blob(name, digest):
        if data is None:
            from minirun.errors import MiniRunError
            raise MiniRunError(f"the index of layer {layer} came from another repository and "
                               "its windows are not here: `minirun lazy index` it again")
        client.push_blob(name, digest, data, len(data))
    return {"mediaType": media_type, "digest": digest, "size": size,
            "annotations": {LAYER: layer}}


def push(client, name: str, subject: dict, indexes: dict[str, tuple[dict, bytes | None]]) -> str:
    """Push the indexes (layer digest -> (toc, windows; None where they are
    in the registry already)) as an artifact referring to ``subject`` (the
    image manifest's descriptor); its digest."""
    if not client.has_blob(name, EMPTY["digest"]):
        client.push_blob(name, EMPTY["digest"], b"{}", 2)
    layers = []
    for layer, (toc, windows) in indexes.items():
        data = gzip.compress(json.dumps(toc, separators=(",", ":")).encode(), 6, mtime=0)
        layers.append(_blob(client, name, data, dg.of_bytes(data), len(data),
                            index.TOC_BLOB_TYPE, layer))
        layers.append(_blob(client, name, windows, toc["windows"]["digest"],
                            toc["windows"]["size"], index.WINDOWS_TYPE, layer))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "artifactType": ARTIFACT_TYPE, "config": EMPTY, "layers": layers,
                           "subject": subject}, separators=(",", ":")).encode()
    digest = dg.of_bytes(manifest)
    headers = client.push_manifest(name, digest, manifest, OCI_MANIFEST)
    if "OCI-Subject" not in headers:           # no referrers API: the tag schema
        _tag_fallback(client, name, subject["digest"], {
            "mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
            "artifactType": ARTIFACT_TYPE})
    return digest


def _fallback_tag(subject: str) -> str:
    return subject.replace(":", "-")


def _referrers(client, name: str, subject: str) -> list[dict]:
    """The subject's referrers: the API's answer, else the fallback tag's index."""
    try:
        r = client.request("GET", f"/v2/{name}/referrers/{subject}",
                           f"repository:{name}:pull", headers={"Accept": OCI_INDEX})
        return json.loads(r.data).get("manifests", [])
    except NotFound:
        pass
    try:
        data, _ = client.manifest(name, _fallback_tag(subject), OCI_INDEX)
    except NotFound:
        return []
    return json.loads(data).get("manifests", [])


def _tag_fallback(client, name: str, subject: str, desc: dict) -> None:
    listed = [m for m in _referrers(client, name, subject) if m["digest"] != desc["digest"]]
    doc = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                      "manifests": listed + [desc]}, separators=(",", ":")).encode()
    client.push_manifest(name, _fallback_tag(subject), doc, OCI_INDEX)


def fetch(client, name: str, subject: str) -> dict[str, tuple[dict, None]]:
    """The newest index artifact referring to ``subject``, as layer digest ->
    (toc, None: the windows stay in the registry); {} if there is none.
    Every blob's digest is checked."""
    ours = [m for m in _referrers(client, name, subject)
            if m.get("artifactType") == ARTIFACT_TYPE]
    if not ours:
        return {}
    data, _ = client.manifest(name, ours[-1]["digest"], OCI_MANIFEST)
    if dg.of_bytes(data) != ours[-1]["digest"]:
        raise dg.DigestError(f"index artifact {ours[-1]['digest']}: the registry sent other "
                             "bytes")
    out = {}
    for desc in json.loads(data).get("layers", []):
        if desc.get("mediaType") != index.TOC_BLOB_TYPE:
            continue                  # the windows: read as needed
        blob = client.blob(name, desc["digest"])
        if dg.of_bytes(blob) != desc["digest"]:
            raise dg.DigestError(f"index blob {desc['digest']}: content does not match")
        try:
            out[desc["annotations"][LAYER]] = (json.loads(gzip.decompress(blob)), None)
        except (KeyError, TypeError, OSError, EOFError, ValueError):
            raise index.LazyIndexError(f"index blob {desc['digest']} of {name} is not a table "
                                       "of contents minirun can read: `minirun lazy index "
                                       "--push` the image again") from None
    return out
