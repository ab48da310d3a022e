"""One pass over a layer: bytes from the network (or a partial download)
are saved, hashed, decompressed and hashed again as the unpacker reads
them, so that a layer is verified and unpacked without a second read.

    network -> [blob file] -> sha256 (blob digest) -> gunzip/unzstd
            -> sha256 (diff_id) -> tar reader -> layer directory
"""
import zlib

from minirun.engine import digest as dg


class _Frames:
    """A stream of compressed frames (gzip members, zstd frames) one after
    another, as pigz and zstd write them: a fresh decompressor per frame."""

    def __init__(self):
        self.d = self.new()

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self.d.decompress(data))
            if self.d.eof:
                data = self.d.unused_data
                self.d = self.new()
            else:
                data = b""
        return b"".join(out)


class _Gzip(_Frames):
    def new(self):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)


class _Zstd(_Frames):
    def new(self):
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj()


class _Plain:
    def feed(self, data: bytes) -> bytes:
        return data


DECOMPRESSORS = {"gzip": _Gzip, "zstd": _Zstd, "none": _Plain}


class LayerStream:
    """A file-like ``read(n)`` over decompressed layer bytes.

    ``chunks`` yields compressed bytes; ``save`` (if given) receives those
    that came from the network, for the blob file and resuming.
    """

    def __init__(self, chunks, compression: str, blob: dg.Verifier, diff: dg.Verifier,
                 progress=None):
        self.chunks = iter(chunks)
        self.decompress = DECOMPRESSORS[compression]()
        self.blob, self.diff, self.progress = blob, diff, progress
        self.buffer = bytearray()
        self.done = False

    def _fill(self) -> bool:
        for chunk in self.chunks:
            self.blob.update(chunk)
            if self.progress:
                self.progress(len(chunk))
            out = self.decompress.feed(chunk)
            if out:
                self.diff.update(out)
                self.buffer += out
                return True
        self.done = True
        return False

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buffer) < n) and not self.done:
            self._fill()
        if n < 0 or n >= len(self.buffer):
            data, self.buffer = bytes(self.buffer), bytearray()
        else:
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
        return data

    def finish(self) -> None:
        """Read what the tar reader left (end-of-archive padding), then check
        both digests: the blob's and the uncompressed diff_id."""
        while not self.done:
            self._fill()
        self.buffer.clear()
        self.blob.check()
        self.diff.check()
