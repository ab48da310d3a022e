"""The two ends of a copy, and the chunks that go between them.

A *source* gives one image manifest (for an index: this platform's entry),
as bytes, and blobs as iterators of chunks.  A *destination* takes blobs,
then the manifest, and then publishes the image all at once, or, if
anything failed, takes back what it wrote (``abort``).

Every transport's module subclasses these two; copying.py knows only
them.  The helpers here are what every transport shares: a file read as
chunks of a MiB, chunks hashed as they pass (``verified``), a document
checked against the digest that named it (``checked``), and a broken tar
or gzip said as one TransportError (``broken``).
"""
import contextlib

from minirun.engine import digest as dg
from minirun.engine.images import archive
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError

CHUNK = 1 << 20


def file_chunks(f):
    with f:
        while chunk := f.read(CHUNK):
            yield chunk


def verified(chunks, desc: mf.Descriptor, what: str):
    """``chunks``, passed on as they come, hashed; the last one raises
    DigestError if the whole does not match ``desc`` (so a consumer must
    read to the end before it trusts what it wrote)."""
    v = dg.Verifier(desc.digest, desc.size, what)
    for chunk in chunks:
        v.update(chunk)
        yield chunk
    v.check()


def checked(data: bytes, digest: str) -> bytes:
    if dg.of_bytes(data) != digest:
        raise dg.DigestError(f"manifest {digest}: content has digest {dg.of_bytes(data)}: "
                             "the source is corrupt or tampered with")
    return data


@contextlib.contextmanager
def broken(text: str):
    """What a truncated or corrupt tar or gzip raises, as one error naming it."""
    try:
        yield
    except archive._BROKEN as e:
        raise TransportError(f"`{text}` is truncated or corrupt: {e}") from None


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
        return b"".join(verified(self.chunks(doc.config), doc.config,
                                 f"config {doc.config.digest}"))

    def tags(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


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
