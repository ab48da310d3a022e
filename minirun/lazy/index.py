"""A lazy layer's index: what a gzip layer holds, and where, so that one
file can be read without inflating the layer from its start.

A layer is a tar stream, gzip-compressed.  Two things make a file reachable
on its own (the image itself is not changed):

the table of contents
    every entry's name, type, mode, owner, size, times, xattrs and link
    target, and ``offset``: where its data starts in the *uncompressed*
    tar stream.  Metadata (stat, readdir, readlink) needs nothing else.
checkpoints
    every ``spacing`` bytes of uncompressed data, a place where inflating
    can start afresh: the offset in both streams, the bit where the
    deflate block resumes, and the 32 KiB of output before it (deflate
    refers back up to 32 KiB, so the window must be saved).  To read
    bytes [a, b) of the stream: start at the last checkpoint at or before
    a, fetch the compressed bytes from there, inflate until b.  This is
    zlib's zran.c; we use indexed_gzip, which implements it and writes
    the checkpoints in its own documented format (GZIDX).

On disk (docs/lazy-index.md): ``toc.json`` and ``checkpoints.gzidx`` per
layer, in the store under ``lazy/<blob digest>/``.

See: RFC 1951 (deflate), RFC 1952 (gzip), zlib's examples/zran.c, SOCI's
zTOC (the same two parts).
"""
import base64
import errno
import io
import json
import os
import tarfile

from minirun.errors import MiniRunError

MEDIA_TYPE = "application/vnd.minirun.lazy.toc.v1+json"
CHECKPOINTS_TYPE = "application/vnd.minirun.lazy.checkpoints.v1.gzidx"
DEFAULT_SPACING = 4 << 20          # a checkpoint every 4 MiB of uncompressed data
MIN_SPACING = 64 << 10
CACHE_BYTES = 256 << 20            # inflated data kept per layer
_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file"}


class LazyIndexError(MiniRunError):
    """A layer cannot be indexed (not gzip, hostile, damaged)."""


def _entry(member: tarfile.TarInfo) -> dict:
    from minirun.engine.unpack import HostileLayer, clean_name
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


def build(blob: str, spacing: int = DEFAULT_SPACING) -> tuple[dict, bytes]:
    """(table of contents, checkpoints) of the gzip layer in file ``blob``."""
    import indexed_gzip
    if spacing < MIN_SPACING:
        raise LazyIndexError(f"--spacing {spacing}: at least {MIN_SPACING} bytes (each "
                          "checkpoint keeps a 32 KiB window)")
    with open(blob, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise LazyIndexError("not a gzip stream: only gzip layers can be read lazily")
    try:
        with indexed_gzip.IndexedGzipFile(blob, spacing=spacing) as gz:
            gz.build_full_index()
            checkpoints = io.BytesIO()
            gz.export_index(fileobj=checkpoints)
            points = len(list(gz.seek_points()))
            size = gz.seek(0, os.SEEK_END)
            gz.seek(0)
            with tarfile.open(fileobj=gz, mode="r:") as tar:  # it seeks over file data
                entries = [_entry(m) for m in tar]
    except (indexed_gzip.ZranError, tarfile.TarError, EOFError, OSError) as e:
        raise LazyIndexError(f"the layer is damaged: {e}") from None
    toc = {"mediaType": MEDIA_TYPE, "uncompressedSize": size, "spacing": spacing,
           "checkpoints": points, "entries": entries}
    return toc, checkpoints.getvalue()


def save(directory: str, toc: dict, checkpoints: bytes) -> None:
    """Write an index atomically (a directory renamed into place)."""
    tmp = f"{directory}.tmp-{os.getpid()}"
    os.makedirs(tmp, mode=0o755)
    with open(os.path.join(tmp, "toc.json"), "w") as f:
        json.dump(toc, f, separators=(",", ":"))
    with open(os.path.join(tmp, "checkpoints.gzidx"), "wb") as f:
        f.write(checkpoints)
    try:
        os.rename(tmp, directory)
    except OSError:               # there already (indexed by another process): keep that
        import shutil
        shutil.rmtree(tmp)


def load(directory: str) -> tuple[dict, bytes]:
    with open(os.path.join(directory, "toc.json")) as f:
        toc = json.load(f)
    with open(os.path.join(directory, "checkpoints.gzidx"), "rb") as f:
        return toc, f.read()


class Layer:
    """Files of an indexed layer, read from its compressed bytes: ``source``
    is any seekable binary file object (the blob on disk, or one that
    fetches byte ranges from a registry), read only from the checkpoint
    before what is asked."""

    def __init__(self, source, toc: dict, checkpoints: bytes):
        import indexed_gzip
        self.toc, self.source = toc, source
        self.entries = {e["name"]: e for e in toc["entries"]}
        # read the compressed layer 128 KiB at a time (its default is 16 MiB: a
        # small file would cost a large fetch)
        self.gz = indexed_gzip.IndexedGzipFile(fileobj=source, auto_build=False,
                                               spacing=toc["spacing"], readbuf_size=128 << 10)
        self.gz.import_index(fileobj=io.BytesIO(checkpoints))
        import threading
        self.lock = threading.Lock()
        self.points = [0] + [u for u, _ in self.gz.seek_points() if u > 0]
        self.spans: dict[int, bytes] = {}     # span start -> what is inflated of it
        self.sizes: dict[int, int] = {}
        self.kept = 0

    def read(self, name: str, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of file ``name`` from ``offset``."""
        entry = self.entries[name]
        if entry["type"] == "hardlink":
            entry = self.entries[entry["linkname"]]
        size = max(0, min(size, entry["size"] - offset))
        if not size:
            return b""
        start = entry["offset"] + offset
        out = []
        while size:
            piece = self._span_read(start, size, name)
            out.append(piece)
            start += len(piece)
            size -= len(piece)
        return b"".join(out)

    def _span_read(self, start: int, size: int, name: str) -> bytes:
        """Bytes from ``start`` within its span (checkpoint to checkpoint).
        What was inflated of a span is kept (its beginning up to the furthest
        byte read), so that every later read inside it is a copy, and a read
        further on inflates only the rest: a start reads thousands of small
        files, and each would otherwise inflate from its checkpoint again."""
        import bisect
        i = bisect.bisect_right(self.points, start) - 1
        first = self.points[i]
        end = self.points[i + 1] if i + 1 < len(self.points) else self.toc["uncompressedSize"]
        want = min(start + size, end)
        with self.lock:
            kept = self.spans.pop(first, b"")
            if want > first + len(kept):
                kept += self._pread(name, want - first - len(kept), first + len(kept))
            self.spans[first] = kept                       # the most recent last
            self.kept += len(kept) - self.sizes.get(first, 0)
            self.sizes[first] = len(kept)
            while self.kept > CACHE_BYTES and len(self.spans) > 1:
                oldest = next(iter(self.spans))
                self.kept -= len(self.spans.pop(oldest))
                del self.sizes[oldest]
            return kept[start - first:want - first]

    def _pread(self, name: str, size: int, at: int) -> bytes:
        import indexed_gzip
        try:
            return self.gz.pread(size, at)
        except indexed_gzip.ZranError as e:      # the source failed (it said why) or lied
            raise OSError(errno.EIO, f"reading {name} from the layer: {e}") from None

    def close(self) -> None:
        self.gz.close()
