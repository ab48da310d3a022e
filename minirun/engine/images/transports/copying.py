"""The copy: a source's image, or with --all its whole index, into a
destination.

``copy`` joins the two: each blob goes from one to the other in chunks of
a MiB, hashed on the way and refused at its last chunk if its digest or
size is wrong; the manifest goes last, so no reader sees an image whose
blobs are missing.  With --all an index goes across whole: each image it
lists, then the index's own bytes.

Nothing is unpacked or recompressed where both ends can hold the blob as
it is.  The manifest's bytes go across unchanged (so its digest stays)
unless the destination cannot hold its format, or --format asks for the
other one: an OCI layout holds OCI manifests only, so a Docker schema 2
one has its media types renamed (``convert``: the blobs stay the same),
and a docker-archive keeps no manifest, only its layers uncompressed.
"""
import json

from minirun.engine import digest as dg
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError
from minirun.engine.images.transports.base import Destination, Source, broken, verified

FORMATS = {"oci": mf.OCI_MANIFEST, "v2s2": mf.DOCKER_MANIFEST}
_TO_OCI = {mf.DOCKER_MANIFEST: mf.OCI_MANIFEST, mf.DOCKER_CONFIG: mf.OCI_CONFIG,
           "application/vnd.docker.image.rootfs.diff.tar.gzip":
               "application/vnd.oci.image.layer.v1.tar+gzip",
           "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"}


def convert(data: bytes, media_type: str) -> bytes:
    """The manifest with another format's media types (``media_type``: OCI's
    or Docker schema 2's), naming the same blobs.  Docker's format has no
    name for a zstd or an uncompressed layer: such a manifest is refused."""
    names = _TO_OCI if media_type == mf.OCI_MANIFEST else {v: k for k, v in _TO_OCI.items()}
    doc = json.loads(data)
    doc["mediaType"] = media_type
    for d in (doc["config"], *doc["layers"]):
        if d["mediaType"] not in names and d["mediaType"] not in names.values():
            raise TransportError(f"a blob of type {d['mediaType']} has no name in the "
                                 f"{'OCI' if media_type == mf.OCI_MANIFEST else 'v2s2'} "
                                 "format: copy it without --format v2s2")
        d["mediaType"] = names.get(d["mediaType"], d["mediaType"])
    return json.dumps(doc, separators=(",", ":")).encode()


def copy(src: Source, dst: Destination, say=lambda line: None, fmt: str | None = None,
         all_: bool = False) -> str:
    """Copy ``src``'s image to ``dst``, saying each step as skopeo does
    (``fmt``: the manifest's format there, oci or v2s2, as skopeo's
    --format; ``all_``: an index with every image it lists, as --all); the
    digest of the manifest (or index) written."""
    try:
        if fmt is not None and fmt not in FORMATS:
            raise TransportError(f"--format {fmt}: use oci or v2s2")
        with broken(src.label):
            if all_:
                return _copy_list(src, dst, say, fmt)
            return _copy(src, dst, say, fmt)
    except BaseException:
        dst.abort()
        raise
    finally:
        src.close()


def _copy(src: Source, dst: Destination, say, fmt: str | None) -> str:
    """One image: its blobs (layers, then the config), then its manifest."""
    if fmt is not None and FORMATS[fmt] not in dst.keeps:
        held = " and ".join(k for k, v in FORMATS.items() if v in dst.keeps)
        raise TransportError(f"--format {fmt}: the destination holds {held} manifests only")
    say("Getting image source signatures")
    data, doc = src.manifest()
    want = FORMATS[fmt] if fmt else doc.media_type if doc.media_type in dst.keeps \
        else mf.OCI_MANIFEST
    if want != doc.media_type:      # (before a blob moves: a refusal writes nothing)
        data = convert(data, want)
        doc = mf.parse(data)
    dst.reading(src)
    config = _blobs(src, dst, doc, say)
    say("Writing manifest to image destination")
    dst.finish(data, doc, config)
    say("Storing signatures")
    return dg.of_bytes(data)


def _blobs(src: Source, dst: Destination, doc: mf.Manifest, say) -> mf.Config:
    cfg = src.config(doc)
    config = mf.parse_config(cfg)
    if len(config.diff_ids) != len(doc.layers):
        raise mf.ManifestError(f"{len(doc.layers)} layers but {len(config.diff_ids)} "
                               "diff_ids in the config")
    for desc, diff_id in zip(doc.layers, config.diff_ids):
        say(f"Copying blob {desc.digest}")
        if not dst.has(desc):
            dst.put(desc, verified(src.chunks(desc), desc, f"blob {desc.digest}"),
                    diff_id)
    say(f"Copying config {doc.config.digest}")
    if not dst.has(doc.config):
        dst.put(doc.config, [cfg], None)
    return config


def _copy_list(src: Source, dst: Destination, say, fmt: str | None) -> str:
    """--all: every image an index lists, each manifest as it is, then the
    index, byte for byte (so its digest stays).  Not an index: one image."""
    top = src.top()
    index = mf.parse(top)
    if not isinstance(index, mf.Index):
        return _copy(src, dst, say, fmt)
    if fmt is not None:
        raise TransportError("--all keeps an index as it is: drop --format")
    if index.media_type not in dst.lists:
        raise TransportError(f"--all: the destination cannot hold an index (of type "
                             f"{index.media_type}): copy this platform's image, without --all")
    dst.reading(src)
    say("Getting image list signatures")
    n = len(index.manifests)
    say(f"Copying {n} of {n} images in list")
    for i, entry in enumerate(index.manifests, 1):
        say(f"Copying image {entry.digest} ({i}/{n})")
        say("Getting image source signatures")
        data = src.document(entry)
        doc = mf.parse(data, entry.media_type)
        if not isinstance(doc, mf.Manifest) or doc.media_type not in dst.keeps:
            raise TransportError(f"--all: {entry.digest} is of type {doc.media_type}, "
                                 "which the destination cannot hold as it is")
        _blobs(src, dst, doc, say)
        say("Writing manifest to image destination")
        dst.put_instance(data, doc)
        say("Storing signatures")
    say("Writing manifest list to image destination")
    dst.finish(top, index, None)
    say("Storing list signatures")
    return dg.of_bytes(top)
