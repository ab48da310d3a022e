"""Blobs by digest: manifests, configs and layer archives, each in a file
named by its SHA-256 and written whole (a temporary file renamed into
place), and the partial downloads a pull resumes but never trusts.

    <root>/blobs/sha256/<hex>       verified blobs
    <root>/blobs/partial/<hex>      downloads in progress
"""
import os

from minirun.engine import digest as dg
from minirun.engine.store.shared import hex_of


class Blobs:
    """The store's blobs (``self.root`` is the store's root)."""

    root: str

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", hex_of(digest))

    def partial_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "partial", hex_of(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str, verify: bool = True) -> bytes:
        """A blob's bytes, hashed again unless ``verify`` is False (for the
        hot path of `run`: blobs were verified when they were written)."""
        with open(self.blob_path(digest), "rb") as f:
            data = f.read()
        if verify and dg.of_bytes(data) != digest:
            raise dg.DigestError(f"blob {digest} in the store is corrupt: remove the image "
                                 "and pull it again")
        return data

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Keep ``data`` (checked against ``digest`` when given); its digest."""
        got = dg.of_bytes(data)
        if digest is not None and got != digest:
            raise dg.DigestError(f"blob: content has digest {got}, expected {digest}")
        path = self.blob_path(got)
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return got

    def commit_partial(self, digest: str) -> None:
        """A fully downloaded and verified partial blob becomes a blob."""
        os.replace(self.partial_path(digest), self.blob_path(digest))
