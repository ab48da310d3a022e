"""A blob in a registry read like a file (``pread``), fetched a chunk at a
time.

Reading bytes [a, b) fetches the chunks that hold them with one HTTP range
request per run of missing chunks, writes them into a sparse cache file of
the blob's size, and marks them had (a byte per chunk, kept beside the
cache so that a later reader needs none again).  With an index's
checkpoints (lazy/index.py) this is how a span of a layer is read without
the rest of the layer: the reader asks for exactly the span's bytes, so
nothing is read ahead here.

A registry that does not answer is asked again a few times, with growing
pauses; then the read fails with EIO and says why, once, on stderr: a
container's read() returns an error rather than hanging.

The chunks are not verified here: the index holds a digest per span,
checked before a span is inflated, and the background fetcher checks the
blob's own digest once every chunk is there.
"""
import errno
import os
import sys
import threading
import time

CHUNK = 64 << 10
HAD, FETCHING = 1, 2               # a chunk's mark
RETRIES = (0.2, 0.5, 1.0)          # pauses between attempts: about 2 s, then EIO


class RemoteBlob:
    """``client``'s blob ``digest`` of repository ``name`` (``size`` bytes),
    cached in file ``cache``."""

    def __init__(self, client, name: str, digest: str, size: int, cache: str,
                 chunk: int = CHUNK):
        self.client, self.name, self.digest, self.size, self.chunk = \
            client, name, digest, size, chunk
        self.cache_path = cache
        self.fd = os.open(cache, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.ftruncate(self.fd, size)
        chunks = (size + chunk - 1) // chunk
        self.marks = os.open(f"{cache}.had-{chunk >> 10}k",      # (a map per chunk size)
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.ftruncate(self.marks, chunks)
        self.had = bytearray(b if b == HAD else 0 for b in os.pread(self.marks, chunks, 0))
        self.fetched = 0              # bytes this object fetched (figures, tests)
        self.lock = threading.Lock()  # FUSE's reads, prefetch and the background fetcher
        self.arrived = threading.Condition(self.lock)
        self.complained = False

    def pread(self, size: int, offset: int) -> bytes:
        """Bytes [offset, offset + size), fetched where missing."""
        size = max(0, min(size, self.size - offset))
        if size:
            self.ensure(offset, offset + size)
        return os.pread(self.fd, size, offset)

    def ensure(self, start: int, end: int) -> None:
        """Fetch the chunks of bytes [start, end) that are not here yet.
        Several threads may fetch at once (a prefetch runs requests in
        parallel): a chunk being fetched is marked so, and whoever needs it
        waits for it instead of asking again."""
        first, last = start // self.chunk, (end - 1) // self.chunk
        while True:
            with self.lock:
                run = self._claim(first, last)
                if run is None:
                    if all(self.had[i] == HAD for i in range(first, last + 1)):
                        return
                    self.arrived.wait()           # another thread fetches the rest
                    continue
            try:
                self._fetch(*run)
            except BaseException:
                with self.lock:
                    for i in range(run[0], run[1] + 1):
                        self.had[i] = 0
                    self.arrived.notify_all()
                raise

    def _claim(self, first: int, last: int):
        """The next run of missing chunks from ``first`` up to ``last``,
        marked as being fetched; None if nothing is missing (some may be on
        their way)."""
        index = first
        while index <= last and self.had[index]:
            index += 1
        if index > last:
            return None
        run = index
        while run + 1 <= last and not self.had[run + 1]:
            run += 1
        for i in range(index, run + 1):
            self.had[i] = FETCHING
        return index, run

    def _fetch(self, first: int, last: int) -> None:
        from minirun.engine.images.registry import RegistryError
        start, end = first * self.chunk, min((last + 1) * self.chunk, self.size)
        for pause in RETRIES + (None,):
            try:
                data = self.client.blob_range(self.name, self.digest, start, end)
                break
            except RegistryError as e:
                if pause is None:
                    if not self.complained:
                        print(f"minirun: lazy layer {self.digest[:19]}: bytes {start}-{end - 1}"
                              f" could not be fetched ({e}); reads fail with EIO",
                              file=sys.stderr, flush=True)
                        self.complained = True
                    raise OSError(errno.EIO, f"{self.digest}: {e}") from None
                time.sleep(pause)
        os.pwrite(self.fd, data, start)
        with self.lock:
            for i in range(first, last + 1):
                self.had[i] = HAD
            os.pwrite(self.marks, bytes(self.had[first:last + 1]), first)
            self.fetched += len(data)
            self.arrived.notify_all()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            os.close(self.marks)
            self.fd = -1
