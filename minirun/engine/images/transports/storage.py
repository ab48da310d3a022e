"""containers-storage:REF, or a name with no transport: an image of
minirun's store, read as it was pulled or loaded, and written as a pull
writes one (archive.py's helpers).
"""
from minirun.engine.images import archive
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError
from minirun.engine.images.transports.base import Destination, Source, file_chunks


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
        return file_chunks(f)


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
