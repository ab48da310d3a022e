"""Image transports, as skopeo names them, and a copy from any one to any other.

    docker://REF                  a registry (registry.py's client)
    oci:DIR[:TAG]                 an OCI image layout directory
    oci-archive:FILE[:TAG]        the same layout in a tar file
    docker-archive:FILE[:REF]     `docker save`'s tar: manifest.json, configs, layer tars
    dir:PATH                      skopeo's directory: manifest.json, version, blobs by hex
    containers-storage:REF, REF   the store (a name with no transport means the store)

A *source* gives one image manifest (for an index: this platform's entry),
as bytes, and blobs as iterators of chunks.  A *destination* takes blobs,
then the manifest, and then publishes the image all at once, or, if
anything failed, takes back what it wrote (``abort``).  ``copy`` joins the
two: each blob goes from one to the other in chunks of a MiB, hashed on
the way and refused at its last chunk if its digest or size is wrong; the
manifest goes last, so no reader sees an image whose blobs are missing.
With --all an index goes across whole: each image it lists, then the
index's own bytes.  Between two repositories of one registry a blob is
mounted, not sent (the registry has checked it already).

Nothing is unpacked or recompressed where both ends can hold the blob as
it is.  The manifest's bytes go across unchanged (so its digest stays)
unless the destination cannot hold its format, or --format asks for the
other one: an OCI layout holds OCI manifests only, so a Docker schema 2
one has its media types renamed (``convert``: the blobs stay the same),
and a docker-archive keeps no manifest, only its layers uncompressed.  A
docker-archive read as a source gets an OCI manifest made for it, as
``minirun load`` makes one.

Where a failed copy leaves nothing: a new directory is built beside its
name and renamed into place; a layout that exists gets its new blobs
removed again and its index.json replaced only at the end; an archive is
written to a temporary file renamed at the end; the store collects what
the copy added (service.copy); a registry keeps the blobs it was sent
but no manifest names them, as with skopeo (its garbage collection
removes them).

See: skopeo-copy(1), containers-transports(5), image-spec image-layout.md
"""
import contextlib
import json
import os
import tarfile
import tempfile
import time

from minirun.engine import digest as dg
from minirun.engine import reference
from minirun.engine.images import archive, registries
from minirun.engine.images import manifest as mf
from minirun.engine.store import hex_of, remove_tree
from minirun.errors import MiniRunError

CHUNK = 1 << 20
NAMES = ("docker", "oci", "oci-archive", "docker-archive", "dir", "containers-storage")
ELSEWHERE = ("docker-daemon", "ostree", "sif", "tarball")     # skopeo's, not minirun's
DIR_VERSION = b"Directory Transport Version: 1.1\n"
_TO_OCI = {mf.DOCKER_MANIFEST: mf.OCI_MANIFEST, mf.DOCKER_CONFIG: mf.OCI_CONFIG,
           "application/vnd.docker.image.rootfs.diff.tar.gzip":
               "application/vnd.oci.image.layer.v1.tar+gzip",
           "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"}


class TransportError(MiniRunError):
    """An image name's transport is unknown or misspelled, or its place
    cannot be read or written as asked; the message says which and how."""


def split(text: str) -> tuple[str, str]:
    """(transport, the rest) of ``docker://x``, ``oci:/d:tag``, ...; a name
    with no transport of ours is the store's: ``("containers-storage", text)``."""
    kind, sep, rest = text.partition(":")
    if sep and kind in ELSEWHERE:
        raise TransportError(f"`{text}`: minirun has no {kind}: transport (it has "
                             f"{', '.join(n + ':' for n in NAMES)})")
    if not sep or kind not in NAMES:
        return "containers-storage", text
    if kind == "docker":
        if not rest.startswith("//"):
            raise TransportError(f"`{text}`: write docker://REGISTRY/NAME[:TAG]")
        rest = rest[2:]
    if kind == "containers-storage" and rest.startswith("["):
        raise TransportError(f"`{text}`: minirun has one store (--root): drop the "
                             f"[driver@root] part")
    if not rest:
        what = "name" if kind in ("docker", "containers-storage") else "path"
        raise TransportError(f"`{text}`: the {kind}: transport needs a {what}")
    return kind, rest


def _path_and_tag(rest: str) -> tuple[str, str | None]:
    """``/dir:tag`` -> (absolute path, tag); a path cannot hold a colon, as in skopeo."""
    path, _, tag = rest.partition(":")
    return os.path.abspath(path), tag or None


def _file_chunks(f):
    with f:
        while chunk := f.read(CHUNK):
            yield chunk


def _verified(chunks, desc: mf.Descriptor, what: str):
    """``chunks``, passed on as they come, hashed; the last one raises
    DigestError if the whole does not match ``desc`` (so a consumer must
    read to the end before it trusts what it wrote)."""
    v = dg.Verifier(desc.digest, desc.size, what)
    for chunk in chunks:
        v.update(chunk)
        yield chunk
    v.check()


def _checked(data: bytes, digest: str) -> bytes:
    if dg.of_bytes(data) != digest:
        raise dg.DigestError(f"manifest {digest}: content has digest {dg.of_bytes(data)}: "
                             "the source is corrupt or tampered with")
    return data


FORMATS = {"oci": mf.OCI_MANIFEST, "v2s2": mf.DOCKER_MANIFEST}


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


# --- sources -----------------------------------------------------------------

class Source:
    """One image to read (``label``: its name as the user wrote it).
    ``top`` is the document as stored or served (an index stays an index:
    inspect --raw); ``manifest`` the image manifest for this platform,
    checked against the digest that named it."""

    label = ""

    def top(self) -> bytes:
        raise NotImplementedError

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        raise NotImplementedError

    def chunks(self, desc: mf.Descriptor):
        raise NotImplementedError

    def document(self, desc: mf.Descriptor) -> bytes:
        """A manifest an index lists (--all), checked against its digest."""
        raise TransportError(f"`{self.label}` holds no index")

    def config(self, doc: mf.Manifest) -> bytes:
        return b"".join(_verified(self.chunks(doc.config), doc.config,
                                  f"config {doc.config.digest}"))

    def tags(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class RegistrySource(Source):
    def __init__(self, text: str, tls_verify: bool | None):
        self.text, self.tls_verify = text, tls_verify
        self.found = None

    def _resolve(self):
        from minirun.engine.images import pull
        if self.found is None:      # (a short name: the first search registry that has it)
            self.found = pull.resolve(self.text, self.tls_verify, verb="read",
                                      fetch=pull.fetch_document)
        return self.found

    @property
    def ref(self) -> reference.Reference:
        return self._resolve()[0]

    @property
    def name(self) -> str:
        return self.ref.name

    def top(self) -> bytes:
        return self._resolve()[2]

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        from minirun.engine.images import pull
        ref, client, data, _, doc = self._resolve()
        if isinstance(doc, mf.Index):
            data, _, doc = pull.fetch_instance(client, ref, doc)
        return data, doc

    def chunks(self, desc: mf.Descriptor):
        ref, client = self._resolve()[:2]
        return client.blob_chunks(ref.path, desc.digest)

    def document(self, desc: mf.Descriptor) -> bytes:
        ref, client = self._resolve()[:2]
        return _checked(client.manifest(ref.path, desc.digest, mf.ACCEPT)[0], desc.digest)

    def tags(self) -> list[str]:
        ref, client = self._resolve()[:2]
        r = client.request("GET", f"/v2/{ref.path}/tags/list", f"repository:{ref.path}:pull")
        return json.loads(r.data or b"{}").get("tags") or []


class _FilesSource(Source):
    """A source whose blobs are files of a directory or a tar (archive._Source)."""

    def __init__(self, text: str, path: str, want_dir: bool | None):
        if not os.path.exists(path):
            raise TransportError(f"`{text}`: `{path}` does not exist")
        if want_dir is not None and os.path.isdir(path) != want_dir:
            raise TransportError(f"`{text}`: `{path}` is {'not ' if want_dir else ''}a "
                                 f"directory; {'oci:' if not want_dir else 'oci-archive:'} "
                                 "reads that")
        self.files = archive._Source(path)

    def blob_name(self, digest: str) -> str:
        return f"blobs/sha256/{hex_of(digest)}"

    def chunks(self, desc: mf.Descriptor):
        return _file_chunks(self.files.open(self.blob_name(desc.digest)))

    def close(self) -> None:
        if self.files.tar is not None:
            self.files.tar.close()


class LayoutSource(_FilesSource):
    """oci:DIR[:TAG] and oci-archive:FILE[:TAG]: index.json's entry whose
    ref.name annotation is TAG (or its only entry)."""

    def __init__(self, text: str, rest: str, is_archive: bool):
        path, self.tag = _path_and_tag(rest)
        super().__init__(text, path, not is_archive)
        if not self.files.has("index.json"):
            raise TransportError(f"`{text}`: no index.json: not an OCI image layout")
        index = mf.parse(self.files.read("index.json"))
        if not isinstance(index, mf.Index):
            raise TransportError(f"`{text}`: index.json is not an image index")
        named = [d for d in index.manifests if (d.annotations or {}).get(archive.REF_NAME)
                 == self.tag] if self.tag else list(index.manifests)
        if len(named) != 1:
            tags = sorted(t for d in index.manifests
                          if (t := (d.annotations or {}).get(archive.REF_NAME)))
            found = f"no image tagged {self.tag!r}" if self.tag else f"{len(named)} images"
            raise TransportError(f"`{text}`: {found} in the layout: name one as "
                                 f"{text.split(':')[0]}:{path}:TAG (its tags: "
                                 f"{', '.join(tags) or 'none'})")
        self.entry = named[0]

    def top(self) -> bytes:
        return archive.document(self.files, self.entry)[0]

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        return archive.image_manifest(self.files, self.entry)

    def document(self, desc: mf.Descriptor) -> bytes:
        return archive.document(self.files, desc)[0]


class DirSource(_FilesSource):
    """dir:PATH: manifest.json (an index's entries as <hex>.manifest.json)."""

    def __init__(self, text: str, rest: str):
        super().__init__(text, os.path.abspath(rest), True)
        if not self.files.has("manifest.json"):
            raise TransportError(f"`{text}`: no manifest.json: not a dir: image")

    def blob_name(self, digest: str) -> str:
        return hex_of(digest)

    def top(self) -> bytes:
        return self.files.read("manifest.json")

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        data = self.files.read("manifest.json")
        doc = mf.parse(data)
        if isinstance(doc, mf.Index):
            data = self.document(mf.choose(doc))
            doc = mf.parse(data)
        return data, doc

    def document(self, desc: mf.Descriptor) -> bytes:
        return _checked(self.files.read(f"{hex_of(desc.digest)}.manifest.json"), desc.digest)


class DockerArchiveSource(_FilesSource):
    """docker-archive:FILE[:REF]: manifest.json's entry whose RepoTags hold
    REF (or its only one), given an OCI manifest: an uncompressed layer's
    digest is its diff_id (checked as it is copied), a gzipped one's is
    computed first."""

    def __init__(self, text: str, rest: str):
        path, _, want = rest.partition(":")
        super().__init__(text, os.path.abspath(path), False)
        try:
            entries = json.loads(self.files.read("manifest.json"))
            if want:            # (docker save writes busybox:latest, skopeo docker.io/...)
                full = _docker_name(want)
                entries = [e for e in entries if full in map(_docker_name,
                                                             e.get("RepoTags") or [])]
            if len(entries) != 1:
                raise TransportError(f"`{text}`: {len(entries)} images "
                                     f"{'tagged ' + want + ' ' if want else ''}in the archive: "
                                     "name one as docker-archive:FILE:REF")
            self.entry = entries[0]
            self.cfg = self.files.read(self.entry["Config"])
            self.data = self._manifest(mf.parse_config(self.cfg).diff_ids)
        except (KeyError, TypeError, ValueError, archive.ArchiveError,
                reference.InvalidReference) as e:
            raise TransportError(f"`{text}`: not a docker-archive: {e}") from None

    def _manifest(self, diff_ids: tuple[str, ...]) -> bytes:
        self.names = {dg.of_bytes(self.cfg): self.entry["Config"]}
        layers = []
        for i, name in enumerate(self.entry["Layers"]):
            with self.files.open(name) as f:
                gz = f.read(2) == b"\x1f\x8b"
            if gz or i >= len(diff_ids):   # (read once more as it is copied, and checked)
                import hashlib
                h, size = hashlib.sha256(), 0
                for chunk in _file_chunks(self.files.open(name)):
                    h.update(chunk)
                    size += len(chunk)
                digest = f"sha256:{h.hexdigest()}"
            else:
                digest, size = diff_ids[i], self.files.size(name)
            self.names[digest] = name
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" +
                           ("+gzip" if gz else ""), "digest": digest, "size": size})
        return archive.oci_manifest(dg.of_bytes(self.cfg), len(self.cfg), layers)

    def top(self) -> bytes:
        return self.data

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        return self.data, mf.parse(self.data)

    def chunks(self, desc: mf.Descriptor):
        return _file_chunks(self.files.open(self.names[desc.digest]))


class StoreSource(Source):
    """An image of the store, its manifest as it was pulled or loaded."""

    def __init__(self, root: str | None, name: str):
        from minirun.engine.store import Store
        self.store = Store(root)
        _, self.data, self.doc = archive._image(self.store, name)

    def top(self) -> bytes:
        return self.data

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        return self.data, self.doc

    def chunks(self, desc: mf.Descriptor):
        try:
            f = open(self.store.blob_path(desc.digest), "rb")
        except FileNotFoundError:
            raise TransportError(f"blob {desc.digest} is not in the store (a lazily pulled "
                                 "image?): pull the image whole first") from None
        return _file_chunks(f)


def source(text: str, *, root: str | None = None, tls_verify: bool | None = None) -> Source:
    kind, rest = split(text)
    with broken(text):
        if kind == "docker":
            src = RegistrySource(rest, tls_verify)
        elif kind in ("oci", "oci-archive"):
            src = LayoutSource(text, rest, kind == "oci-archive")
        elif kind == "docker-archive":
            src = DockerArchiveSource(text, rest)
        elif kind == "dir":
            src = DirSource(text, rest)
        else:
            src = StoreSource(root, rest)
    src.label = text
    return src


@contextlib.contextmanager
def broken(text: str):
    """What a truncated or corrupt tar or gzip raises, as one error naming it."""
    try:
        yield
    except archive._BROKEN as e:
        raise TransportError(f"`{text}` is truncated or corrupt: {e}") from None


# --- where destinations write: files of a directory, or of a tar ---------------

class _Files:
    """A directory being written: a new one is built beside its name and
    renamed into place; one that exists (an OCI layout being added to) gets
    each file written whole under a temporary name, and loses again the
    files it gained if the copy fails."""

    def __init__(self, text: str, path: str, may_update: bool):
        self.path, self.created = path, []
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            raise TransportError(f"`{text}`: directory `{parent}` does not exist")
        if os.path.exists(path) and not os.path.isdir(path):
            raise TransportError(f"`{text}`: `{path}` exists and is not a directory")
        self.update = os.path.isdir(path) and bool(os.listdir(path))
        if self.update and not may_update:
            raise TransportError(f"`{text}`: `{path}` exists and is not empty: name a new "
                                 "or empty directory")
        self.base = path if self.update else f"{path}.{os.getpid()}.tmp"
        if not self.update:
            os.mkdir(self.base, 0o755)

    def has(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.base, name))

    def read(self, name: str) -> bytes | None:
        try:
            with open(os.path.join(self.base, name), "rb") as f:
                return f.read(mf.MAX_DOCUMENT + 1)
        except FileNotFoundError:
            return None

    def write(self, name: str, size: int, chunks) -> None:
        final = os.path.join(self.base, name)
        os.makedirs(os.path.dirname(final), 0o755, exist_ok=True)
        tmp = f"{final}.{os.getpid()}.tmp"
        new = not os.path.exists(final)
        with archive._removed_on_failure(tmp):
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, final)
        if new and self.update:
            self.created.append(final)

    def publish(self) -> None:
        if not self.update:
            os.replace(self.base, self.path)    # (over an empty directory, too)

    def abort(self) -> None:
        if not self.update:
            remove_tree(self.base)
        for path in reversed(self.created):
            os.unlink(path)


class _Reader:
    """read(n) over an iterator of chunks, for tarfile.addfile; ``drain``
    reads what tarfile left, so that _verified's last check runs."""

    def __init__(self, chunks):
        self.chunks, self.chunk, self.pos = iter(chunks), b"", 0

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self.pos == len(self.chunk):
                self.chunk, self.pos = next(self.chunks, b""), 0
                if not self.chunk:
                    break
            take = len(self.chunk) - self.pos if n < 0 else \
                min(n - len(out), len(self.chunk) - self.pos)
            out += memoryview(self.chunk)[self.pos:self.pos + take]
            self.pos += take
        return bytes(out)

    def drain(self) -> None:
        for _ in self.chunks:
            pass


class _Tar:
    """An archive being written: a temporary file beside it, renamed at the end."""

    def __init__(self, text: str, path: str):
        if not os.path.isdir(os.path.dirname(path)):
            raise TransportError(f"`{text}`: directory `{os.path.dirname(path)}` does not "
                                 "exist")
        if os.path.isdir(path):
            raise TransportError(f"`{text}`: `{path}` is a directory; an archive is a file")
        self.path, self.tmp = path, f"{path}.{os.getpid()}.tmp"
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.PAX_FORMAT)
        self.mtime = int(time.time())
        self.names = set()

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> None:
        return None

    def write(self, name: str, size: int, chunks) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, self.mtime
        reader = _Reader(chunks)
        self.tar.addfile(info, reader)
        reader.drain()
        self.names.add(name)

    def publish(self) -> None:
        self.tar.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.tar.close()
        os.unlink(self.tmp)


# --- destinations --------------------------------------------------------------

class Destination:
    """Where an image is written.  ``keeps``: the manifest types it holds as
    they are (others are made OCI's); ``lists``: the index types it holds
    (--all).  ``put`` must read ``chunks`` to the end before it keeps the
    blob.  ``diff_id`` is a layer's (None: the config).  ``finish`` gets
    the manifest, or with --all the index (after ``put_instance`` of each
    manifest it lists)."""
    keeps = mf.MANIFESTS
    lists: tuple[str, ...] = ()

    def put_instance(self, data: bytes, doc: mf.Manifest) -> None:
        raise NotImplementedError

    def reading(self, src: Source) -> None:
        """Told the source, once its manifest is read (a registry mounts
        blobs from another repository of its own)."""

    def has(self, desc: mf.Descriptor) -> bool:
        raise NotImplementedError

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        raise NotImplementedError

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        pass


class RegistryDestination(Destination):
    lists = mf.INDEXES

    def __init__(self, text: str, tls_verify: bool | None):
        from minirun.engine.images.pull import client_for
        self.ref, self.mount_from = reference.parse(text), None
        if self.ref.short:
            raise TransportError(f"`docker://{text}`: name the registry, as "
                                 f"docker://localhost:5000/{self.ref.path}")
        self.client = client_for(self.ref, registries.load(), tls_verify)

    def reading(self, src: Source) -> None:
        # From another repository of the same registry, blobs are mounted
        # (no byte goes through us), as skopeo does.
        if isinstance(src, RegistrySource) and src.ref.domain == self.ref.domain and \
                src.ref.path != self.ref.path:
            self.mount_from = src.ref.path

    def has(self, desc: mf.Descriptor) -> bool:
        return self.client.has_blob(self.ref.path, desc.digest)

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        self.client.push_blob(self.ref.path, desc.digest, chunks, desc.size,
                              mount_from=self.mount_from)

    def put_instance(self, data: bytes, doc: mf.Manifest) -> None:
        self.client.push_manifest(self.ref.path, dg.of_bytes(data), data, doc.media_type)

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        if self.ref.digest and dg.of_bytes(data) != self.ref.digest:
            raise TransportError(f"{self.ref}: the manifest's digest is "
                                 f"{dg.of_bytes(data)}, not the one named")
        self.client.push_manifest(self.ref.path, self.ref.ref(), data,
                                  json.loads(data).get("mediaType", doc.media_type))


class LayoutDestination(Destination):
    """oci:DIR[:TAG] (a new layout, or one to add to) and oci-archive:FILE[:TAG]."""
    keeps, lists = (mf.OCI_MANIFEST,), (mf.OCI_INDEX,)

    def __init__(self, text: str, rest: str, is_archive: bool):
        path, self.tag = _path_and_tag(rest)
        self.files = _Tar(text, path) if is_archive else _Files(text, path, True)
        if self.files.read("oci-layout") is None and getattr(self.files, "update", False):
            raise TransportError(f"`{text}`: `{path}` exists and is not an OCI layout: "
                                 "name a new or empty directory")

    def has(self, desc: mf.Descriptor) -> bool:
        return self.files.has(f"blobs/sha256/{hex_of(desc.digest)}")

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        self.files.write(f"blobs/sha256/{hex_of(desc.digest)}", desc.size, chunks)

    def put_instance(self, data: bytes, doc: mf.Manifest) -> None:
        name = f"blobs/sha256/{hex_of(dg.of_bytes(data))}"
        if not self.files.has(name):
            self.files.write(name, len(data), [data])

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        digest = dg.of_bytes(data)
        self.put_instance(data, doc)
        old = self.files.read("index.json")
        entries = json.loads(old).get("manifests", []) if old else []
        # the entry it replaces: the same tag's, or (untagged) the same manifest's
        entries = [e for e in entries if (e.get("annotations") or {}).get(archive.REF_NAME)
                   != self.tag and (self.tag or e.get("digest") != digest)]
        entry = {"mediaType": doc.media_type, "digest": digest, "size": len(data)}
        if self.tag:
            entry["annotations"] = {archive.REF_NAME: self.tag}
        index = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX,
                            "manifests": entries + [entry]}).encode()
        layout = b'{"imageLayoutVersion": "1.0.0"}'
        if not self.files.has("oci-layout"):
            self.files.write("oci-layout", len(layout), [layout])
        self.files.write("index.json", len(index), [index])
        self.files.publish()

    def abort(self) -> None:
        self.files.abort()


class DirDestination(Destination):
    lists = mf.INDEXES

    def __init__(self, text: str, rest: str):
        self.files = _Files(text, os.path.abspath(rest), False)

    def put_instance(self, data: bytes, doc: mf.Manifest) -> None:
        self.files.write(f"{hex_of(dg.of_bytes(data))}.manifest.json", len(data), [data])

    def has(self, desc: mf.Descriptor) -> bool:
        return self.files.has(hex_of(desc.digest))

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        self.files.write(hex_of(desc.digest), desc.size, chunks)

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        self.files.write("manifest.json", len(data), [data])
        self.files.write("version", len(DIR_VERSION), [DIR_VERSION])
        self.files.publish()

    def abort(self) -> None:
        self.files.abort()


def _docker_name(text: str) -> reference.Reference:
    """A docker-archive's name, in full as docker writes it (docker.io/...)."""
    ref = reference.parse(text)
    if ref.digest:
        raise TransportError(f"docker-archive name `{text}`: an archive names its images "
                             "by tag, not by digest")
    return ref.with_domain(reference.DOCKER_HUB) if ref.short else ref


class DockerArchiveDestination(Destination):
    """docker-archive:FILE[:REF]: layers uncompressed, named by diff_id, as
    docker save and skopeo write them; no manifest (manifest.json lists them)."""
    keeps = mf.MANIFESTS

    def __init__(self, text: str, rest: str):
        path, _, name = rest.partition(":")
        self.tags = [str(_docker_name(name))] if name else []
        self.files = _Tar(text, os.path.abspath(path))
        self.done = set()

    def has(self, desc: mf.Descriptor) -> bool:
        return desc.digest in self.done

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        if diff_id is None:
            self.files.write(f"{hex_of(desc.digest)}.json", desc.size, chunks)
        else:
            self._layer(desc, chunks, diff_id)
        self.done.add(desc.digest)

    def _layer(self, desc: mf.Descriptor, chunks, diff_id: str) -> None:
        """Uncompressed through a temporary file (its size goes in the tar
        header first), checked against the diff_id."""
        from minirun.engine.images.stream import DECOMPRESSORS
        name = f"{hex_of(diff_id)}.tar"
        kind = mf.LAYER_TYPES[desc.media_type]
        if kind == "none":
            self.files.write(name, desc.size, chunks)
            return
        plain = DECOMPRESSORS[kind]()
        v = dg.Verifier(diff_id, None, f"layer {desc.digest} (uncompressed)")
        with tempfile.TemporaryFile(dir=os.path.dirname(self.files.path)) as spool:
            for chunk in chunks:
                try:
                    out = plain.feed(chunk)
                except Exception as e:  # noqa: BLE001 (zlib's, zstandard's: a broken blob)
                    for _ in chunks:    # its digest is checked first: a corrupt source says so
                        pass
                    raise TransportError(f"layer {desc.digest}: not valid {kind} data "
                                         f"({e})") from None
                v.update(out)
                spool.write(out)
            v.check()
            spool.seek(0)
            self.files.write(name, v.count, _file_chunks(spool))

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        entry = [{"Config": f"{hex_of(doc.config.digest)}.json", "RepoTags": self.tags,
                  "Layers": [f"{hex_of(d)}.tar" for d in config.diff_ids]}]
        text = json.dumps(entry).encode()
        self.files.write("manifest.json", len(text), [text])
        self.files.publish()

    def abort(self) -> None:
        self.files.abort()


class StoreDestination(Destination):
    """The store (``store``, open for writing): blobs as a pull keeps them,
    then the layers unpacked from them and the image recorded
    (archive._finish).  What a failed copy added, service.copy collects."""

    def __init__(self, store, name: str, rootless: bool):
        self.store, self.rootless = store, rootless
        self.names = [archive._local_name(name)]

    def has(self, desc: mf.Descriptor) -> bool:
        return self.store.has_blob(desc.digest)

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        tmp = self.store.partial_path(desc.digest)
        with archive._removed_on_failure(tmp):
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            self.store.commit_partial(desc.digest)

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        archive._finish(self.store, data, doc, config, self.names, self.rootless)


def destination(text: str, *, tls_verify: bool | None = None) -> Destination:
    """A destination other than the store (service.copy opens that one)."""
    kind, rest = split(text)
    if kind == "docker":
        return RegistryDestination(rest, tls_verify)
    if kind in ("oci", "oci-archive"):
        return LayoutDestination(text, rest, kind == "oci-archive")
    if kind == "docker-archive":
        return DockerArchiveDestination(text, rest)
    if kind == "dir":
        return DirDestination(text, rest)
    raise TransportError(f"`{text}`: the store is written by service.copy")


# --- the copy ------------------------------------------------------------------

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
            dst.put(desc, _verified(src.chunks(desc), desc, f"blob {desc.digest}"),
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
