"""Images as files: docker-archive and oci-archive tarballs (what
``podman save``/``load`` read and write), OCI layout directories, and
``import`` of a plain root filesystem tarball.

    docker-archive: manifest.json [{Config, RepoTags, Layers}], the config,
                    and each layer as an uncompressed tar
    oci-archive:    an OCI image layout (oci-layout, index.json,
                    blobs/sha256/...) in a tar

Everything read from an archive is verified like a pull: every blob against
its digest, every layer against its diff_id.
"""
import contextlib
import errno
import gzip
import io
import json
import os
import tarfile
import time
import zlib

from minirun.engine import digest as dg
from minirun.engine.images import manifest as mf
from minirun.engine import reference
from minirun.engine.images.pull import Progress, fetch_layer
from minirun.engine.store import Store, hex_of
from minirun.errors import MiniRunError

REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(MiniRunError):
    """An archive is not one minirun can read; the message says what is wrong."""


# --- reading ---------------------------------------------------------------

class _Source:
    """Files of an OCI layout directory or of a tar archive, by name."""

    def __init__(self, path: str):
        self.dir = path if os.path.isdir(path) else None
        self.tar = None
        self.members = {}
        if self.dir is None:
            try:
                self.tar = tarfile.open(path, "r:*")
            except OSError as e:
                raise ArchiveError(f"cannot read `{path}`: {e.strerror or e}") from None
            except tarfile.TarError as e:
                raise ArchiveError(f"`{path}` is not an image archive: {e}") from None
            for m in self.tar.getmembers():
                if m.isreg():
                    self.members[os.path.normpath(m.name).lstrip("/")] = m

    def has(self, name: str) -> bool:
        if self.dir:
            return os.path.isfile(os.path.join(self.dir, name))
        return name in self.members

    def open(self, name: str):
        if self.dir:
            if ".." in name.split("/"):
                raise ArchiveError(f"archive names a file outside it: `{name}`")
            return open(os.path.join(self.dir, name), "rb")
        if name not in self.members:
            raise ArchiveError(f"the archive has no file `{name}`")
        return self.tar.extractfile(self.members[name])

    def size(self, name: str) -> int:
        if self.dir:
            return os.path.getsize(os.path.join(self.dir, name))
        if name not in self.members:
            raise ArchiveError(f"the archive has no file `{name}`")
        return self.members[name].size

    def read(self, name: str, limit: int = mf.MAX_DOCUMENT) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ArchiveError(f"`{name}` in the archive is too large")
        return data


def _copy_blob(store: Store, src: _Source, name: str, digest: str, size: int | None) -> None:
    if store.has_blob(digest):
        return
    v = dg.Verifier(digest, size, f"blob {name}")
    tmp = store.partial_path(digest)
    with _removed_on_failure(tmp):
        with src.open(name) as f, open(tmp, "wb") as out:
            while chunk := f.read(1 << 20):
                v.update(chunk)
                out.write(chunk)
        v.check()
        store.commit_partial(digest)


@contextlib.contextmanager
def _removed_on_failure(path: str):
    """A file being copied out of an archive: gone if the copy fails (an
    archive is read again whole, never resumed)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


# what a truncated or corrupt archive raises while it is read
_BROKEN = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def load(store: Store, path: str, rootless: bool = False) -> list[str]:
    """Load every image of an archive or layout; return the names loaded."""
    try:
        src = _Source(path)
        if src.has("index.json"):
            return _load_oci(store, src, rootless)
        if src.has("manifest.json"):
            return _load_docker(store, src, rootless)
    except _BROKEN as e:
        raise ArchiveError(f"`{path}` is truncated or corrupt: {e}") from None
    except (KeyError, TypeError, IndexError) as e:
        raise ArchiveError(f"`{path}`: manifest.json is not a docker-archive's "
                           f"({type(e).__name__}: {e})") from None
    raise ArchiveError(f"`{path}` is neither an OCI layout/archive (index.json) nor a "
                       "docker-archive (manifest.json)")


def _finish(store: Store, manifest_bytes: bytes, doc: mf.Manifest, config: mf.Config,
            names: list[str], rootless: bool) -> None:
    if len(config.diff_ids) != len(doc.layers):
        raise mf.ManifestError("the config's diff_ids do not match the manifest's layers")
    progress = Progress(quiet=True)
    for desc, diff_id in zip(doc.layers, config.diff_ids):
        fetch_layer(store, None, "", desc, diff_id, progress, rootless)
    mdigest = store.put_blob(manifest_bytes)
    store.add_image(doc.config.digest, mdigest,
                    [(d, desc.digest) for desc, d in zip(doc.layers, config.diff_ids)],
                    sum(d.size for d in doc.layers), names)


def _load_oci(store: Store, src: _Source, rootless: bool) -> list[str]:
    index = mf.parse(src.read("index.json"))
    if not isinstance(index, mf.Index):
        raise ArchiveError("index.json is not an image index")
    loaded = []
    for entry in index.manifests:
        data, doc = image_manifest(src, entry)
        for blob in (doc.config, *doc.layers):
            _copy_blob(store, src, f"blobs/sha256/{hex_of(blob.digest)}", blob.digest,
                       blob.size)
        config = mf.parse_config(store.read_blob(doc.config.digest))
        names = []
        ref_name = (entry.annotations or {}).get(REF_NAME)
        if ref_name:
            full = ref_name if ("/" in ref_name or ":" not in ref_name and "." in ref_name) \
                else f"localhost/unnamed:{ref_name}"
            try:
                r = reference.parse(full)
                names.append(str(r.with_domain("localhost") if r.short else r))
            except MiniRunError:
                pass
        _finish(store, data, doc, config, names, rootless)
        loaded.extend(names or [doc.config.digest])
    return loaded


def document(src: _Source, desc: mf.Descriptor) -> tuple[bytes, mf.Manifest | mf.Index]:
    """The manifest or index ``desc`` names in a layout, checked against its digest."""
    name = f"blobs/sha256/{hex_of(desc.digest)}"
    data = src.read(name)
    if dg.of_bytes(data) != desc.digest:
        raise dg.DigestError(f"{name}: content does not match its digest")
    return data, mf.parse(data, desc.media_type)


def image_manifest(src: _Source, entry: mf.Descriptor) -> tuple[bytes, mf.Manifest]:
    """index.json's ``entry`` -> the image manifest for this platform (an
    entry may be an index of its own, as skopeo --all writes them)."""
    data, doc = document(src, entry)
    if isinstance(doc, mf.Index):
        data, doc = document(src, mf.choose(doc))
    if not isinstance(doc, mf.Manifest):
        raise mf.ManifestError(f"{entry.digest}: an index points to another index")
    return data, doc


def _load_docker(store: Store, src: _Source, rootless: bool) -> list[str]:
    try:
        entries = json.loads(src.read("manifest.json"))
    except ValueError as e:
        raise ArchiveError(f"manifest.json: not valid JSON: {e}") from None
    loaded = []
    for entry in entries:
        cfg_bytes = src.read(entry["Config"])
        cfg_digest = dg.of_bytes(cfg_bytes)
        store.put_blob(cfg_bytes, cfg_digest)
        config = mf.parse_config(cfg_bytes)
        layers = []
        for i, name in enumerate(entry["Layers"]):
            layers.append(_docker_layer(store, src, name, config.diff_ids[i]
                                        if i < len(config.diff_ids) else None))
        data = oci_manifest(cfg_digest, len(cfg_bytes), layers)
        names = []
        for tag in entry.get("RepoTags") or []:
            r = reference.parse(tag)
            names.append(str(r.with_domain("localhost") if r.short else r))
        _finish(store, data, mf.parse(data), config, names, rootless)
        loaded.extend(names or [cfg_digest])
    return loaded


def oci_manifest(cfg_digest: str, cfg_size: int, layers: list[dict]) -> bytes:
    """The OCI manifest of a config and layer descriptors (as dicts), as
    load, import and commit make one (and a docker-archive read by
    the transports package)."""
    return json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                       "config": {"mediaType": mf.OCI_CONFIG, "digest": cfg_digest,
                                  "size": cfg_size}, "layers": layers}).encode()


def _docker_layer(store: Store, src: _Source, name: str, diff_id: str | None) -> dict:
    """A docker-archive layer (a tar, maybe gzipped) becomes a blob as it is."""
    with src.open(name) as f:
        head = f.read(2)
    media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if head == b"\x1f\x8b" else "")
    h = dg.Verifier("sha256:" + "0" * 64, None, name)
    tmp = os.path.join(store.root, "blobs", "partial", f"load-{os.getpid()}")
    with _removed_on_failure(tmp):
        with src.open(name) as f, open(tmp, "wb") as out:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        digest = f"sha256:{h.hash.hexdigest()}"
        os.replace(tmp, store.blob_path(digest))
    return {"mediaType": media, "digest": digest, "size": h.count}


# --- writing ---------------------------------------------------------------

def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, path: str | None = None):
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    info.mode = 0o644
    if path is not None:
        info.size = os.path.getsize(path)
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def save(store: Store, names: list[str], output: str, fmt: str = "docker-archive") -> None:
    """Write the images to ``output``: whole, or not at all."""
    if fmt not in ("docker-archive", "oci-archive"):
        raise ArchiveError(f"format {fmt!r}: use docker-archive or oci-archive")
    for name in names:
        store.lookup(name)              # every image there, before a file is made
    tmp = f"{output}.{os.getpid()}.tmp"
    try:
        with tarfile.open(tmp, "w") as tar:
            (_save_oci if fmt == "oci-archive" else _save_docker)(store, names, tar)
        os.replace(tmp, output)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ArchiveError(f"cannot write `{output}`: no space left on its "
                               "filesystem") from None
        raise ArchiveError(f"cannot write `{output}`: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _image(store: Store, name: str) -> tuple[str, bytes, mf.Manifest]:
    image_id = store.lookup(name)
    row = store.db.execute("SELECT manifest_digest FROM images WHERE id=?",
                           (image_id,)).fetchone()
    data = store.read_blob(row[0])
    return image_id, data, mf.parse(data)


def _save_oci(store: Store, names: list[str], tar: tarfile.TarFile) -> None:
    index = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": []}
    written = set()
    for name in names:
        image_id, data, doc = _image(store, name)
        mdigest = dg.of_bytes(data)
        for d, _path in ((mdigest, None), (doc.config.digest, None),
                        *((layer.digest, None) for layer in doc.layers)):
            if d not in written:
                _add(tar, f"blobs/sha256/{hex_of(d)}", path=store.blob_path(d))
                written.add(d)
        tags = _asked(store, name, image_id)
        entry = {"mediaType": doc.media_type, "digest": mdigest, "size": len(data)}
        if tags:   # the full name, as podman writes it
            entry["annotations"] = {REF_NAME: tags[0]}
        index["manifests"].append(entry)
    _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _add(tar, "index.json", json.dumps(index).encode())


def _save_docker(store: Store, names: list[str], tar: tarfile.TarFile) -> None:
    entries, written = [], set()
    for name in names:
        image_id, _, doc = _image(store, name)
        cfg = f"{hex_of(image_id)}.json"
        if cfg not in written:
            _add(tar, cfg, store.read_blob(image_id))
            written.add(cfg)
        layers = []
        for desc, (diff_id, _) in zip(doc.layers, store.image_layers(image_id)):
            lname = f"{hex_of(diff_id)}.tar"
            if lname not in written:
                _add(tar, lname, _uncompressed(store, desc))
                written.add(lname)
            layers.append(lname)
        entries.append({"Config": cfg, "RepoTags": _asked(store, name, image_id),
                        "Layers": layers})
    _add(tar, "manifest.json", json.dumps(entries).encode())


def _local_name(name: str) -> str:
    """An image's name as the store keeps it: a short one is localhost's."""
    r = reference.parse(name)
    return str(r.with_domain("localhost") if r.short else r)


def _asked(store: Store, name: str, image_id: str) -> list[str]:
    """The names to write for ``name``: the one tag it names (its full
    form), not the image's other tags; all of them for an id."""
    tag = store.resolve(name)[1]
    return [tag] if tag else [n for n in store.names_of(image_id) if "@" not in n]


def _uncompressed(store: Store, desc: mf.Descriptor) -> bytes:
    with open(store.blob_path(desc.digest), "rb") as f:
        data = f.read()
    kind = mf.LAYER_TYPES[desc.media_type]
    if kind == "gzip":
        return gzip.decompress(data)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _check_tar(name: str, data: bytes) -> None:
    """Refuse what is not a whole tar before anything goes into the store
    (the unpack refuses hostile entries; this catches garbage and a cut)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            if not tar.getmembers():
                raise ArchiveError(f"`{name}` is an empty tar archive")
    except (tarfile.TarError, EOFError) as e:
        raise ArchiveError(f"`{name}` is not a tar archive (or a gzipped one), or it is "
                           f"cut short: {e}") from None


def import_rootfs(store: Store, tarball: str, name: str | None, rootless: bool = False) -> str:
    """A root filesystem tarball becomes a one-layer image (podman import)."""
    try:
        with open(tarball, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ArchiveError(f"cannot read `{tarball}`: {e.strerror or e}") from None
    head = raw[:2]
    try:
        tar_bytes = zlib.decompress(raw, 16 + zlib.MAX_WBITS) if head == b"\x1f\x8b" else raw
    except zlib.error as e:
        raise ArchiveError(f"`{tarball}` is truncated or corrupt gzip data: {e}") from None
    _check_tar(tarball, tar_bytes)
    blob_digest = store.put_blob(raw)
    media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if head == b"\x1f\x8b" else "")
    diff_id = dg.of_bytes(tar_bytes)
    from minirun.engine.images.manifest import host_platform
    p = host_platform()
    config = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "architecture": p["architecture"], "os": "linux",
              "config": {"Env": [
                  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    cfg = json.dumps(config).encode()
    cfg_digest = store.put_blob(cfg)
    data = oci_manifest(cfg_digest, len(cfg),
                        [{"mediaType": media, "digest": blob_digest, "size": len(raw)}])
    names = [_local_name(name)] if name else []
    _finish(store, data, mf.parse(data), mf.parse_config(cfg), names, rootless)
    return cfg_digest


def commit_image(store: Store, base_id: str, layer_tar: str, *, config_changes: list[str],
                 created_by: str, author: str = "", comment: str = "",
                 name: str | None = None, rootless: bool = False) -> str:
    """A new image: the image ``base_id`` and one more layer (the tar at
    ``layer_tar``), its config changed by ``config_changes``
    (instructions.apply) and a history entry; its id."""
    from minirun.engine.images import instructions
    inner = json.loads(store.read_blob(base_id)).get("config") or {}
    for text in config_changes:
        inner = instructions.apply(inner, text)
    entry = {"created_by": created_by}
    entry.update({k: v for k, v in (("author", author), ("comment", comment)) if v})
    return write_image(store, base_id, layer_tar, inner, [entry], author=author,
                       names=[_local_name(name)] if name else [], rootless=rootless)


def write_image(store: Store, base_id: str | None, layer_tar: str | None, inner: dict,
                history: list[dict], *, names: list[str], rootless: bool,
                author: str = "", fmt: str = "oci") -> str:
    """A new image of ``base_id`` (None: from scratch) and at most one more
    layer (the uncompressed tar at ``layer_tar``; gzip-compressed here),
    with ``inner`` as its config's ``config`` and ``history`` appended (the
    entry that made the layer last; each gets its time); its id.  ``fmt``
    "docker" writes Docker's media types (the same bytes, other names)."""
    types = DOCKER_TYPES if fmt == "docker" else OCI_TYPES
    base = json.loads(store.read_blob(base_id)) if base_id else \
        dict(mf.host_platform(), rootfs={"type": "layers", "diff_ids": []})
    layers = []
    if base_id:
        manifest_digest = store.db.execute("SELECT manifest_digest FROM images WHERE id=?",
                                           (base_id,)).fetchone()[0]
        layers = [{"mediaType": types.get(d.media_type, d.media_type), "digest": d.digest,
                   "size": d.size}
                  for d in mf.parse(store.read_blob(manifest_digest, verify=False)).layers]
    diff_ids = list(base["rootfs"]["diff_ids"])
    if layer_tar:
        with open(layer_tar, "rb") as f:
            tar_bytes = f.read()
        blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        layers.append({"mediaType": types[GZIP_LAYER], "digest": store.put_blob(blob),
                       "size": len(blob)})
        diff_ids.append(dg.of_bytes(tar_bytes))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entries = [dict(entry, created=now) for entry in history]
    if not layer_tar and entries:
        entries[-1]["empty_layer"] = True
    config = dict(base, created=now, config=inner,
                  rootfs={"type": "layers", "diff_ids": diff_ids},
                  history=list(base.get("history") or []) + entries)
    if author:
        config["author"] = author
    cfg = json.dumps(config).encode()
    cfg_digest = store.put_blob(cfg)
    manifest = oci_manifest(cfg_digest, len(cfg), layers) if fmt != "docker" else \
        json.dumps({"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
                    "config": {"mediaType": mf.DOCKER_CONFIG, "digest": cfg_digest,
                               "size": len(cfg)}, "layers": layers}).encode()
    _finish(store, manifest, mf.parse(manifest), mf.parse_config(cfg), names, rootless)
    return cfg_digest


# A build's layers by format: the same bytes under OCI's or Docker's names.
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_TYPES = {GZIP_LAYER: GZIP_LAYER, DOCKER_GZIP_LAYER: GZIP_LAYER}
DOCKER_TYPES = {GZIP_LAYER: DOCKER_GZIP_LAYER, DOCKER_GZIP_LAYER: DOCKER_GZIP_LAYER}
