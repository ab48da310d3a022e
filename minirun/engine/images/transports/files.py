"""The file transports: oci:DIR[:TAG] (an OCI image layout), oci-archive:
FILE[:TAG] (the same in a tar), docker-archive:FILE[:REF] (`docker save`'s
tar) and dir:PATH (skopeo's directory), each read and written.  A source
reads files by name through archive.py's reader, a directory and a tar
alike; a destination writes through writing.py's Files or Tar.

A docker-archive read as a source gets an OCI manifest made for it, as
``minirun load`` makes one.
"""
import json
import os
import tempfile

from minirun.engine import digest as dg
from minirun.engine import reference
from minirun.engine.images import archive
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError
from minirun.engine.images.transports.base import Destination, Source, checked, file_chunks
from minirun.engine.images.transports.writing import Files, Tar
from minirun.engine.store import hex_of

DIR_VERSION = b"Directory Transport Version: 1.1\n"


def _path_and_tag(rest: str) -> tuple[str, str | None]:
    """``/dir:tag`` -> (absolute path, tag); a path cannot hold a colon, as in skopeo."""
    path, _, tag = rest.partition(":")
    return os.path.abspath(path), tag or None


def _docker_name(text: str) -> reference.Reference:
    """A docker-archive's name, in full as docker writes it (docker.io/...)."""
    ref = reference.parse(text)
    if ref.digest:
        raise TransportError(f"docker-archive name `{text}`: an archive names its images "
                             "by tag, not by digest")
    return ref.with_domain(reference.DOCKER_HUB) if ref.short else ref


# --- sources -----------------------------------------------------------------

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
        return file_chunks(self.files.open(self.blob_name(desc.digest)))

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
        return checked(self.files.read(f"{hex_of(desc.digest)}.manifest.json"), desc.digest)


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
                for chunk in file_chunks(self.files.open(name)):
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
        return file_chunks(self.files.open(self.names[desc.digest]))


# --- destinations --------------------------------------------------------------

class _FilesDestination(Destination):
    """A destination that writes through writing.py's Files or Tar (``files``)."""

    def abort(self) -> None:
        self.files.abort()


class LayoutDestination(_FilesDestination):
    """oci:DIR[:TAG] (a new layout, or one to add to) and oci-archive:FILE[:TAG]."""
    keeps, lists = (mf.OCI_MANIFEST,), (mf.OCI_INDEX,)

    def __init__(self, text: str, rest: str, is_archive: bool):
        path, self.tag = _path_and_tag(rest)
        self.files = Tar(text, path) if is_archive else Files(text, path, True)
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


class DirDestination(_FilesDestination):
    lists = mf.INDEXES

    def __init__(self, text: str, rest: str):
        self.files = Files(text, os.path.abspath(rest), False)

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


class DockerArchiveDestination(_FilesDestination):
    """docker-archive:FILE[:REF]: layers uncompressed, named by diff_id, as
    docker save and skopeo write them; no manifest (manifest.json lists them)."""
    keeps = mf.MANIFESTS

    def __init__(self, text: str, rest: str):
        path, _, name = rest.partition(":")
        self.tags = [str(_docker_name(name))] if name else []
        self.files = Tar(text, os.path.abspath(path))
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
            self.files.write(name, v.count, file_chunks(spool))

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        entry = [{"Config": f"{hex_of(doc.config.digest)}.json", "RepoTags": self.tags,
                  "Layers": [f"{hex_of(d)}.tar" for d in config.diff_ids]}]
        text = json.dumps(entry).encode()
        self.files.write("manifest.json", len(text), [text])
        self.files.publish()
