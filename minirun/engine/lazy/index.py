"""A lazy layer's index: what a gzip (or zstd) layer holds, and where, so
that one file can be read without inflating the layer from its start.

A layer is a tar stream, compressed.  Two things make a file reachable on
its own (the image itself is not changed):

the table of contents
    every entry's name, type, mode, owner, size, times, xattrs and link
    target, and ``offset``: where its data starts in the *uncompressed*
    tar stream.  Metadata (stat, readdir, readlink) needs nothing else.
checkpoints
    every ``spacing`` bytes of uncompressed data, a place where inflating
    can start afresh: the offset in both streams, the bit where the
    deflate block resumes, and the 32 KiB of output before it (deflate
    refers back up to 32 KiB, so the window must be saved).  The bytes
    from one checkpoint to the next are a *span*: to read a file, fetch
    the spans that hold it (and their windows), inflate them, copy.

Finding the checkpoints takes zlib's inflate stopping at block boundaries
(zlib's examples/zran.c); indexed_gzip does that, and we read its export.
Inflating a span is zran's too: the window is a preset dictionary of a
raw inflater, and a span that starts inside a byte has its first bits
primed (zlib's inflatePrime, which Python's zlib module lacks: done in C,
through the lazy room's door to it, inflate.py).  Each span is checked
against a digest in the table of contents before it is used, and the
windows are compressed one by one into a blob of their own: a start
fetches the table of contents, then only the spans and windows it reads.

A zstd layer is made of frames that each start afresh: a checkpoint is
where a frame starts, and needs no window.  zstd's default is one frame
for the whole layer, which cannot be cut; zstd:chunked and the seekable
format write many.

On disk (docs/lazy-index.md): ``toc.json`` and ``windows`` per layer, in
the store under ``lazy/v2/<algorithm>/<hex>/``.

The module is one piece (about 480 lines, over the project's guide of
400): the format is written here (``build``, ``save``) and read here
(``check``, ``load``, :class:`Layer`), side by side, so that a change to
one is made against the other; docs/lazy-index.md describes the same.

See: RFC 1951 (deflate), RFC 1952 (gzip), zlib's examples/zran.c, SOCI's
zTOC (the same two parts).
"""
import base64
import bisect
import errno
import hashlib
import io
import json
import os
import struct
import tarfile
import tempfile
import threading
import zlib

from minirun.engine.lazy.inflate import inflate_span
from minirun.errors import MiniRunError

MEDIA_TYPE = "application/vnd.minirun.lazy.toc.v2+json"
TOC_BLOB_TYPE = MEDIA_TYPE + "+gzip"          # in the registry: the same, gzip-compressed
WINDOWS_TYPE = "application/vnd.minirun.lazy.windows.v2"
DEFAULT_SPACING = 1 << 20          # a checkpoint every MiB of uncompressed data
MIN_SPACING = 64 << 10
_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file"}


class LazyIndexError(MiniRunError):
    """A layer cannot be indexed (neither gzip nor zstd, hostile, damaged)."""


class NotLazy(LazyIndexError):
    """A sound layer that cannot be read in parts (one zstd frame)."""


def _entry(member: tarfile.TarInfo) -> dict:
    from minirun.engine.images.unpack import HostileLayer, clean_name
    try:
        name = "/".join(clean_name(member.name))
    except HostileLayer as e:
        raise LazyIndexError(str(e)) from None
    kind = _TYPES.get(member.type)
    if kind is None:
        raise LazyIndexError(f"layer entry `{member.name}`: tar type {member.type!r} is not one "
                          "a layer may hold")
    entry = {"name": name, "type": kind, "mode": member.mode, "uid": member.uid,
             "gid": member.gid, "size": member.size if kind == "file" else 0,
             "mtime": member.mtime, "offset": member.offset_data}
    if kind in ("symlink", "hardlink"):
        entry["linkname"] = member.linkname if kind == "symlink" else \
            "/".join(clean_name(member.linkname))
    if kind in ("char", "block"):
        entry["devmajor"], entry["devminor"] = member.devmajor, member.devminor
    xattrs = {k[len("SCHILY.xattr."):]: base64.b64encode(
        v.encode("utf-8", "surrogateescape")).decode()
        for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    if xattrs:
        entry["xattrs"] = xattrs
    return entry


def _checkpoints(gzidx: bytes) -> list[tuple[int, int, int, bytes]]:
    """indexed_gzip's export (format 1: "GZIDX", version, flags; sizes,
    spacing, window size, count; per point its compressed and uncompressed
    offsets, bits and whether a window follows; then the windows) as
    (uncompressed, compressed, bits, window) per checkpoint."""
    if gzidx[:6] != b"GZIDX\x01":
        raise LazyIndexError("indexed_gzip wrote an index format this minirun does not know")
    _, _, _, window, count = struct.unpack_from("<QQIII", gzidx, 7)
    at = 7 + struct.calcsize("<QQIII")
    points = [struct.unpack_from("<QQBB", gzidx, at + 18 * i) for i in range(count)]
    at += 18 * count
    out = []
    for cmp, uncmp, bits, has_window in points:
        out.append((uncmp, cmp, bits, gzidx[at:at + window] if has_window else b""))
        at += window if has_window else 0
    return out


def _gzip_points(blob: str, spacing: int) -> tuple[int, list, list]:
    """(uncompressed size, entries, spans) of a gzip layer; a span is
    (uncompressed offset, compressed start, compressed end, bits, window)."""
    import indexed_gzip
    try:
        with indexed_gzip.IndexedGzipFile(blob, spacing=spacing) as gz:
            gz.build_full_index()
            exported = io.BytesIO()
            gz.export_index(fileobj=exported)
            size = gz.seek(0, os.SEEK_END)
            gz.seek(0)
            with tarfile.open(fileobj=gz, mode="r:") as tar:  # it seeks over file data
                entries = [_entry(m) for m in tar]
    except (indexed_gzip.ZranError, tarfile.TarError, EOFError, OSError) as e:
        raise LazyIndexError(f"the layer is damaged: {e}") from None
    points = _checkpoints(exported.getvalue())
    compressed_size = os.path.getsize(blob)
    return size, entries, [
        (uncmp, cmp - 1 if bits else cmp,
         points[i + 1][1] if i + 1 < len(points) else compressed_size, bits, window)
        for i, (uncmp, cmp, bits, window) in enumerate(points)]


def _zstd_points(blob: str, spacing: int) -> tuple[int, list, list]:
    """The same for a zstd layer: a span starts where a frame does (zstd
    frames are independent: no window), every ``spacing`` bytes or more.
    A layer of one frame (zstd's default) cannot be cut: NotLazy; one of a
    frame per file or per chunk (zstd:chunked, the seekable format) can."""
    import zstandard
    starts, compressed, uncompressed = [], 0, 0
    with open(blob, "rb") as f:
        inflater, fed, pending = None, 0, b""
        while True:
            if inflater is None:
                starts.append((uncompressed, compressed))
                inflater, fed = zstandard.ZstdDecompressor().decompressobj(), 0
            chunk, pending = pending or f.read(1 << 20), b""
            if not chunk:
                break
            try:
                uncompressed += len(inflater.decompress(chunk))
            except zstandard.ZstdError as e:
                raise LazyIndexError(f"the layer is damaged: {e}") from None
            fed += len(chunk)
            if inflater.eof:
                pending = inflater.unused_data
                compressed += fed - len(pending)
                inflater = None
        if fed:
            raise LazyIndexError("the layer is damaged: it ends inside a zstd frame")
        starts.pop()                              # (the frame that never began)
        f.seek(0)
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                entries = [_entry(m) for m in tar]
        except (zstandard.ZstdError, tarfile.TarError) as e:
            raise LazyIndexError(f"the layer is damaged: {e}") from None
    if len(starts) < 2:
        raise NotLazy("a zstd layer of one frame (zstd's default) cannot be read in parts")
    spans: list[tuple[int, int]] = []
    for uncmp, cmp in starts:
        if not spans or uncmp - spans[-1][0] >= spacing:
            spans.append((uncmp, cmp))
    return uncompressed, entries, [
        (uncmp, cmp, spans[i + 1][1] if i + 1 < len(spans) else compressed, 0, b"")
        for i, (uncmp, cmp) in enumerate(spans)]


def unpack_span(compression: str, data: bytes, bits: int, window: bytes, size: int) -> bytes:
    """A span's ``size`` bytes from its compressed ``data``."""
    if compression == "gzip":
        return inflate_span(data, bits, window, size)
    import zstandard
    out = []
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data),
                                                            read_across_frames=True)
        while size > 0 and (piece := reader.read(size)):
            out.append(piece)
            size -= len(piece)
    except zstandard.ZstdError as e:
        raise OSError(errno.EIO, f"a span is not zstd data: {e}") from None
    if size:
        raise OSError(errno.EIO, "a span ended early")
    return b"".join(out)


def check_spacing(spacing: int) -> None:
    if spacing < MIN_SPACING:
        raise LazyIndexError(f"--spacing {spacing}: at least {MIN_SPACING} bytes (each "
                             "checkpoint keeps a 32 KiB window)")


def build(blob: str, spacing: int = DEFAULT_SPACING) -> tuple[dict, bytes]:
    """(table of contents, windows) of the gzip or zstd layer in file
    ``blob``.  Every span is unpacked once here the way a reader will, so
    a layer this cannot read (several gzip members, say) is refused now."""
    check_spacing(spacing)
    with open(blob, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        compression, (size, entries, points) = "gzip", _gzip_points(blob, spacing)
    elif magic == b"\x28\xb5\x2f\xfd":
        compression, (size, entries, points) = "zstd", _zstd_points(blob, spacing)
    else:
        raise LazyIndexError("neither gzip nor zstd: an uncompressed layer is fetched whole")
    compressed_size = os.path.getsize(blob)
    windows, table = io.BytesIO(), []
    with open(blob, "rb") as f:
        for i, (uncmp, start, end, bits, window) in enumerate(points):
            ends = points[i + 1][0] if i + 1 < len(points) else size
            data = os.pread(f.fileno(), end - start, start)
            try:
                unpack_span(compression, data, bits, window, ends - uncmp)
            except OSError as e:
                hint = ": is it several gzip streams?" if compression == "gzip" else ""
                raise LazyIndexError(f"span {i} of the layer cannot be read on its own "
                                     f"({e}){hint}") from None
            packed = zlib.compress(window, 9) if window else b""
            table.append([uncmp, start, end, bits, windows.tell(), len(packed),
                          hashlib.sha256(packed + data).hexdigest()])
            windows.write(packed)
    windows = windows.getvalue()
    toc = {"mediaType": MEDIA_TYPE, "compression": compression, "uncompressedSize": size,
           "compressedSize": compressed_size, "spacing": spacing, "checkpoints": table,
           "windows": {"digest": "sha256:" + hashlib.sha256(windows).hexdigest(),
                       "size": len(windows)},
           "entries": entries}
    return toc, windows


def save(directory: str, toc: dict, windows: bytes | None) -> None:
    """Write an index atomically (a directory renamed into place); without
    ``windows`` (an index taken from the registry) they stay there, read
    as needed."""
    tmp = f"{directory}.tmp-{os.getpid()}"
    os.makedirs(tmp, mode=0o755)
    with open(os.path.join(tmp, "toc.json"), "w") as f:
        json.dump(toc, f, separators=(",", ":"))
    if windows is not None:
        with open(os.path.join(tmp, "windows"), "wb") as f:
            f.write(windows)
    try:
        os.rename(tmp, directory)
    except OSError:               # there already (indexed by another process): keep that
        import shutil
        shutil.rmtree(tmp)


def check(toc: dict, compressed_size: int) -> None:
    """Refuse a table of contents that does not fit its layer (one from a
    registry is whoever pushed it's): names that climb out, unknown
    types, data or spans outside the layer, spans out of order."""
    try:
        _check(toc, compressed_size)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LazyIndexError(f"the layer's index is not one minirun made: {e!r}") from None


def _check(toc: dict, compressed_size: int) -> None:
    from minirun.engine.images.unpack import HostileLayer, clean_name

    def bad(why: str):
        return LazyIndexError(f"the layer's index is not one minirun made: {why}")
    if toc.get("mediaType") != MEDIA_TYPE:
        raise bad(f"media type {toc.get('mediaType')!r}")
    if toc.get("compression", "gzip") not in ("gzip", "zstd"):
        raise bad(f"compression {toc['compression']!r}")
    size = toc["uncompressedSize"]
    for e in toc["entries"]:
        try:
            if "/".join(clean_name(e["name"])) != e["name"]:
                raise bad(f"entry name {e['name']!r}")
        except HostileLayer as err:
            raise bad(str(err)) from None
        if e["type"] not in _TYPES.values() or not 0 <= e["offset"] <= e["offset"] + \
                e["size"] <= size:
            raise bad(f"entry {e['name']!r}")
    points, windows = toc["checkpoints"], toc["windows"]["size"]
    if not points or points[0][0] != 0:
        raise bad("no checkpoint at the start")
    ends = [p[0] for p in points[1:]] + [size]
    for (uncmp, start, stop, bits, woff, wlen, digest), end in zip(points, ends):
        if not ((uncmp < end or uncmp == end == size) and 0 <= start <= stop <= compressed_size
                and 0 <= bits < 8
                and 0 <= woff <= woff + wlen <= windows and wlen <= 64 << 10
                and len(digest) == 64):
            raise bad(f"the checkpoint at {uncmp}")
    if toc.get("compressedSize") != compressed_size:
        raise bad("it is for a layer of another size")


def load(directory: str) -> tuple[dict, bytes | None]:
    """(toc, windows); windows None where they are in the registry only."""
    with open(os.path.join(directory, "toc.json")) as f:
        toc = json.load(f)
    try:
        with open(os.path.join(directory, "windows"), "rb") as f:
            return toc, f.read()
    except FileNotFoundError:
        return toc, None


def _pread(source):
    """pread(size, offset) for bytes, an object with ``pread`` (a
    RemoteBlob), or any seekable file."""
    if isinstance(source, (bytes, bytearray)):
        return lambda size, offset: bytes(source[offset:offset + size])
    if hasattr(source, "pread"):
        return source.pread
    lock = threading.Lock()

    def pread(size: int, offset: int) -> bytes:
        with lock:
            source.seek(offset)
            return source.read(size)
    return pread


class Layer:
    """Files of an indexed layer, read from its compressed bytes: ``source``
    (the blob: bytes, a file, a RemoteBlob) and ``windows`` (the same
    kinds) are read only where a span is needed.  Inflated spans go to an
    unnamed, sparse file of the layer's uncompressed size in directory
    ``cache`` (default: the temporary directory), so each span is inflated
    once, whoever reads it.  Several threads may read at once; a span is
    inflated by one of them, and the others wait for it."""

    def __init__(self, source, toc: dict, windows, cache: str | None = None):
        self.toc = toc
        self.compression = toc.get("compression", "gzip")
        self.entries = {e["name"]: e for e in toc["entries"]}
        self.points = toc["checkpoints"]
        self.starts = [p[0] for p in self.points]
        self._source, self._windows = _pread(source), _pread(windows)
        self.fd, path = tempfile.mkstemp(prefix="inflated-", dir=cache)
        os.unlink(path)                   # gone with the last reader, whatever happens
        os.ftruncate(self.fd, toc["uncompressedSize"])
        self.done = bytearray(len(self.points))        # 1: inflated; 2: being inflated
        self.recorded: set[int] = set()
        self.lock = threading.Lock()
        self.inflated = threading.Condition(self.lock)

    missed = None         # called with a span a read finds missing (read-ahead)
    recorder = None       # called with each span as it is first read (lazy record)

    def span_of(self, offset: int) -> int:
        return max(bisect.bisect_right(self.starts, offset) - 1, 0)

    def entry(self, name: str) -> dict | None:
        """File ``name``'s entry (a hard link's target's)."""
        entry = self.entries.get(name)
        if entry and entry["type"] == "hardlink":
            entry = self.entries.get(entry["linkname"])
        return entry

    def spans(self, name: str) -> range:
        """The spans that hold file ``name``'s data."""
        entry = self.entry(name)
        if not entry or not entry["size"]:
            return range(0)
        return range(self.span_of(entry["offset"]),
                     self.span_of(entry["offset"] + entry["size"] - 1) + 1)

    def _where(self, name: str, offset: int, size: int) -> tuple[int, int, range]:
        """Bytes [offset, offset + size) of file ``name`` (cut at its end):
        their start in the tar stream, their size, the spans that hold them."""
        entry = self.entry(name)
        size = max(0, min(size, entry["size"] - offset))
        start = entry["offset"] + offset
        return start, size, range(self.span_of(start), self.span_of(start + size - 1) + 1) \
            if size else range(0)

    def ready(self, name: str, offset: int, size: int) -> bool:
        """Whether the spans of these bytes are inflated already."""
        return all(self.done[i] == 1 for i in self._where(name, offset, size)[2])

    def read(self, name: str, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of file ``name`` from ``offset``."""
        start, size, spans = self._where(name, offset, size)
        for i in spans:
            if self.done[i] != 1 and self.missed:
                self.missed(i)
            if self.recorder and i not in self.recorded:
                self.recorded.add(i)
                self.recorder(i)
            self.ensure(i, name)
        return os.pread(self.fd, size, start) if size else b""

    def windows(self) -> None:
        """Every window, with one request (a layer that is read in many
        places would otherwise ask for them one by one)."""
        total = self.toc["windows"]["size"]
        if total:
            self._windows(total, 0)

    def fetch(self, spans: range) -> None:
        """Spans ``spans`` (consecutive) inflated, their bytes and windows
        fetched first with one request each (read-ahead: a request per
        span would pay a round trip per span)."""
        first, last = self.points[spans[0]], self.points[spans[-1]]
        if last[5]:
            start = next(p[4] for p in (self.points[i] for i in spans) if p[5])
            self._windows(last[4] + last[5] - start, start)
        self._source(last[2] - first[1], first[1])
        for i in spans:
            self.ensure(i)

    def ensure(self, i: int, name: str = "") -> None:
        """Span ``i`` inflated into the cache."""
        with self.lock:
            while self.done[i] == 2:
                self.inflated.wait()
            if self.done[i] == 1:
                return
            self.done[i] = 2
        try:
            self._inflate(i)
        except BaseException as e:
            with self.lock:
                self.done[i] = 0
                self.inflated.notify_all()
            if isinstance(e, OSError) and name:
                raise OSError(e.errno or errno.EIO, f"reading {name} from the layer: {e}") \
                    from None
            raise
        with self.lock:
            self.done[i] = 1
            self.inflated.notify_all()

    def _inflate(self, i: int) -> None:
        uncmp, start, end, bits, woff, wlen, check = self.points[i]
        ends = self.starts[i + 1] if i + 1 < len(self.points) else self.toc["uncompressedSize"]
        packed = b""
        if wlen:                          # the window comes at once with the span
            got: list = []

            def window():
                try:
                    got.append(self._windows(wlen, woff))
                except OSError as e:
                    got.append(e)
            fetch = threading.Thread(target=window)
            fetch.start()
            data = self._source(end - start, start)
            fetch.join()
            if isinstance(got[0], OSError):
                raise got[0]
            packed = got[0]
        else:
            data = self._source(end - start, start)
        if hashlib.sha256(packed + data).hexdigest() != check:
            raise OSError(errno.EIO, f"span {i}: the bytes do not match the index's digest")
        window = zlib.decompress(packed) if packed else b""
        os.pwrite(self.fd, unpack_span(self.compression, data, bits, window, ends - uncmp),
                  uncmp)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
