"""OCI and Docker image documents: manifests, indexes and configs.

Four media types name the same two shapes: an image *manifest* (a config
blob and an ordered list of layer blobs) and an *index* / manifest list
(one manifest per platform).  Documents are parsed strictly: an unknown or
missing media type, a document that is both a manifest and an index, a
malformed digest, an oversized document are refused, because each of these
is a way to make two tools disagree about what an image contains.

See: image-spec manifest.md, image-index.md, config.md; Docker's
"Image Manifest V2, Schema 2".
"""
import json
import platform as _platform

from minirun.engine import digest as dg
from minirun.errors import MiniRunError
from minirun.records import record

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFESTS + INDEXES)

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}
MAX_DOCUMENT = 4 << 20   # what the distribution registry itself accepts for a manifest


class ManifestError(MiniRunError):
    """A manifest, index or config is malformed or ambiguous.  The image
    (or the registry serving it) is broken or hostile."""


@record
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None = None
    annotations: dict | None = None


@record
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@record
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _descriptor(d, where: str) -> Descriptor:
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: expected an object")
    mt, size = d.get("mediaType"), d.get("size")
    if not isinstance(mt, str) or not mt:
        raise ManifestError(f"{where}.mediaType: missing")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{where}.size: expected a non-negative integer")
    dg.parse(d.get("digest"), f"{where}.digest")
    return Descriptor(media_type=mt, digest=d["digest"], size=size, platform=d.get("platform"),
                      annotations=d.get("annotations"))


def parse(data: bytes, content_type: str | None = None) -> Manifest | Index:
    """A manifest or an index from its bytes (and the Content-Type it came with)."""
    if len(data) > MAX_DOCUMENT:
        raise ManifestError(f"manifest: {len(data)} bytes, more than the {MAX_DOCUMENT} allowed")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"manifest: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ManifestError("manifest: expected a JSON object")
    if doc.get("schemaVersion") != 2:
        raise ManifestError(f"manifest: schemaVersion {doc.get('schemaVersion')!r} is not "
                            "supported (only 2; schema 1 images must be converted)")
    mt = doc.get("mediaType") or content_type
    if "layers" in doc and "manifests" in doc:
        raise ManifestError("manifest: has both `layers` and `manifests`: it is ambiguous "
                            "(a manifest and an index at once)")
    if mt and content_type and doc.get("mediaType") and content_type.split(";")[0] != mt \
            and content_type.split(";")[0] in MANIFESTS + INDEXES:
        raise ManifestError(f"manifest: mediaType {mt} but served as {content_type}")
    if mt in INDEXES or (mt is None and "manifests" in doc):
        if "manifests" not in doc or not isinstance(doc["manifests"], list):
            raise ManifestError("index: `manifests` must be a list")
        return Index(media_type=mt or OCI_INDEX,
                     manifests=tuple(_descriptor(d, f"manifests[{i}]")
                                     for i, d in enumerate(doc["manifests"])))
    if mt in MANIFESTS or (mt is None and "layers" in doc):
        if not isinstance(doc.get("layers"), list):
            raise ManifestError("manifest: `layers` must be a list")
        layers = tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(doc["layers"]))
        for i, layer in enumerate(layers):
            if layer.media_type not in LAYER_TYPES:
                raise ManifestError(f"layers[{i}].mediaType: {layer.media_type} is not a "
                                    "layer type minirun can unpack")
        config = _descriptor(doc.get("config"), "config")
        if config.media_type not in (OCI_CONFIG, DOCKER_CONFIG):
            raise ManifestError(f"config.mediaType: {config.media_type} is not an image "
                                "config (is this an artifact rather than an image?)")
        return Manifest(media_type=mt or OCI_MANIFEST, config=config, layers=layers)
    raise ManifestError(f"manifest: media type {mt!r} is not an image manifest or index")


def host_platform() -> dict:
    machine = _platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return {"os": "linux", "architecture": arch}


def choose(index: Index, want: dict | None = None) -> Descriptor:
    """The manifest of an index for this host's platform (or ``want``)."""
    want = want or host_platform()
    for d in index.manifests:
        p = d.platform or {}
        if p.get("os") == want["os"] and p.get("architecture") == want["architecture"] \
                and d.media_type in MANIFESTS:
            return d
    have = ", ".join(f"{(d.platform or {}).get('os')}/{(d.platform or {}).get('architecture')}"
                     for d in index.manifests) or "none"
    raise ManifestError(f"no image for {want['os']}/{want['architecture']} in the index "
                        f"(it has: {have})")


@record
class Config:
    """The parts of an image config that minirun uses."""
    raw: dict
    diff_ids: tuple[str, ...]
    architecture: str
    os: str


def parse_config(data: bytes) -> Config:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"config: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rootfs"), dict):
        raise ManifestError("config: expected an object with `rootfs`")
    diff_ids = doc["rootfs"].get("diff_ids")
    if not isinstance(diff_ids, list):
        raise ManifestError("config.rootfs.diff_ids: must be a list")
    for i, d in enumerate(diff_ids):
        dg.parse(d, f"config.rootfs.diff_ids[{i}]")
    return Config(raw=doc, diff_ids=tuple(diff_ids), architecture=doc.get("architecture", ""),
                  os=doc.get("os", ""))


def chain_ids(diff_ids: tuple[str, ...]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out = []
    for d in diff_ids:
        out.append(d if not out else dg.of_bytes(f"{out[-1]} {d}".encode()))
    return out
