"""The lazy index of a gzip layer: its table of contents says what the tar
says, and any byte range of any file read from the index's checkpoints
(across their boundaries too) equals the file's bytes.  No privileges: the
layer is built here with tarfile, including entries only root could unpack."""
import base64
import errno
import gzip
import io
import os
import random
import tarfile

import pytest

indexed_gzip = pytest.importorskip("indexed_gzip", reason="make setup installs indexed_gzip")

from minirun.engine.lazy import index  # noqa: E402

SPACING = 64 << 10


def _member(name: str, kind=tarfile.REGTYPE, **fields) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = 1700000000
    for key, value in fields.items():
        setattr(info, key, value)
    return info


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    """A gzip layer of many kinds of entry; (its path, {name: content})."""
    rng = random.Random(8)
    files = {f"data/f{i}": rng.randbytes(rng.choice([0, 1, 100, 70_000, 300_000]))
             for i in range(12)}
    files["bin/sh"] = rng.randbytes(200_000)
    files["bin/big"] = rng.randbytes(1_500_000)      # many spans
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_member("./bin/", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_member("data", tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000))
        for name, content in files.items():
            mode = 0o4755 if name == "bin/sh" else 0o644
            info = _member(name, size=len(content), mode=mode, uid=rng.randrange(2000))
            if name == "data/f3":
                info.pax_headers = {"SCHILY.xattr.user.note": "hello",
                                    "SCHILY.xattr.security.capability":
                                        b"\x01\x00\x00\x02\xff".decode("utf-8",
                                                                       "surrogateescape")}
            tar.addfile(info, io.BytesIO(content))
        tar.addfile(_member("bin/busybox", tarfile.LNKTYPE, linkname="bin/sh"))
        tar.addfile(_member("bin/ls", tarfile.SYMTYPE, linkname="busybox"))
        tar.addfile(_member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666))
        tar.addfile(_member("data/.wh.gone"))                       # a whiteout: kept as is
    path = tmp_path_factory.mktemp("layer") / "layer.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), 6))
    return str(path), files, raw.getvalue()


def test_the_table_of_contents(layer):
    path, files, raw = layer
    toc, windows = index.build(path, SPACING)
    assert toc["uncompressedSize"] == len(raw)
    assert len(toc["checkpoints"]) >= len(raw) // SPACING
    assert len(windows) == toc["windows"]["size"]
    by_name = {e["name"]: e for e in toc["entries"]}
    assert by_name["bin"]["type"] == "dir" and by_name["data"]["uid"] == 1000
    assert by_name["bin/sh"]["mode"] == 0o4755
    assert by_name["bin/busybox"] == {**by_name["bin/busybox"], "type": "hardlink",
                                      "linkname": "bin/sh"}
    assert by_name["bin/ls"]["linkname"] == "busybox"
    assert (by_name["dev/null"]["devmajor"], by_name["dev/null"]["devminor"]) == (1, 3)
    xattrs = by_name["data/f3"]["xattrs"]
    assert base64.b64decode(xattrs["user.note"]) == b"hello"
    assert base64.b64decode(xattrs["security.capability"]) == b"\x01\x00\x00\x02\xff"
    assert "data/.wh.gone" in by_name
    for name, content in files.items():               # the offsets are the data's
        e = by_name[name]
        assert e["size"] == len(content) and raw[e["offset"]:e["offset"] + e["size"]] == content


def test_random_reads_across_checkpoints(layer, tmp_path):
    path, files, _ = layer
    toc, windows = index.build(path, SPACING)
    index.save(str(tmp_path / "idx"), toc, windows)
    toc, windows = index.load(str(tmp_path / "idx"))

    class Counting(io.RawIOBase):    # a source with no fd (as a registry's is), counted
        read_bytes = 0

        def __init__(self, data: bytes):
            self.f = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return True

        def seek(self, offset, whence=0):
            return self.f.seek(offset, whence)

        def tell(self):
            return self.f.tell()

        def readinto(self, b):
            n = self.f.readinto(b)
            Counting.read_bytes += n
            return n
    with open(path, "rb") as f:
        source = Counting(f.read())
    lazy = index.Layer(source, toc, windows)
    rng = random.Random(1)
    big = [n for n, c in files.items() if len(c) > SPACING]
    for _ in range(300):
        name = rng.choice(big + list(files))
        content = files[name]
        offset = rng.randrange(len(content) + 10) if content else 0
        size = rng.choice([1, 17, 4096, SPACING, 3 * SPACING])
        assert lazy.read(name, offset, size) == content[offset:offset + size], (name, offset)
    assert lazy.read("bin/busybox", 5, 10) == files["bin/sh"][5:15]      # a hard link
    lazy.close()
    with open(path, "rb") as f:
        fresh = index.Layer(Counting(f.read()), toc, windows)
    Counting.read_bytes = 0
    assert fresh.read("bin/big", len(files["bin/big"]) - 100, 100) == files["bin/big"][-100:]
    print(f"compressed bytes read for the last 100 bytes of a file: {Counting.read_bytes}")
    assert 0 < Counting.read_bytes < 2 * SPACING            # one span, not the layer
    Counting.read_bytes = 0
    end = len(files["bin/big"])
    assert fresh.read("bin/big", end - 90, 50) == files["bin/big"][end - 90:end - 40]
    assert Counting.read_bytes == 0              # inside what was inflated already: kept
    fresh.close()


def test_refused(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.addfile(_member("../../etc/passwd", size=0), io.BytesIO(b""))
    hostile = tmp_path / "hostile.tar.gz"
    hostile.write_bytes(gzip.compress(raw.getvalue()))
    with pytest.raises(index.LazyIndexError, match="climbs out"):
        index.build(str(hostile), SPACING)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(raw.getvalue())
    with pytest.raises(index.LazyIndexError, match="neither gzip nor zstd"):
        index.build(str(plain), SPACING)
    with pytest.raises(index.LazyIndexError, match="at least"):
        index.build(str(hostile), 1024)
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(os.urandom(300_000))[:50_000])
    with pytest.raises(index.LazyIndexError, match="damaged"):
        index.build(str(damaged), SPACING)


def test_every_kind_of_span(tmp_path):
    """Checkpoints fall inside bytes and before stored blocks (incompressible
    data at level 1): every span inflates on its own to the right bytes,
    and a span whose bytes changed is refused."""
    rng = random.Random(3)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(40):
            content = rng.randbytes(50_000) if i % 3 else (b"text %d " % i) * 9000
            tar.addfile(_member(f"f{i}", size=len(content)), io.BytesIO(content))
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), 1))
    toc, windows = index.build(str(path), SPACING)
    assert {p[3] for p in toc["checkpoints"]} - {0}          # some start inside a byte
    data = bytearray(path.read_bytes())
    lazy = index.Layer(bytes(data), toc, windows)
    for i in range(len(toc["checkpoints"])):
        lazy.ensure(i)
    assert os.pread(lazy.fd, len(raw.getvalue()), 0) == raw.getvalue()
    data[toc["checkpoints"][2][1] + 10] ^= 1
    with pytest.raises(OSError, match="do not match"):
        index.Layer(bytes(data), toc, windows).ensure(2)


def test_the_inflate_door(tmp_path):
    """minirun/engine/lazy/inflate.py, the lazy room's door to zlib in C: a
    span starting inside a byte, with its window, inflates to the tar's
    bytes (from any buffer); bytes that are not deflate, a span cut short
    and a span of no bytes at all are each one OSError(EIO) saying what
    was wrong, never a crash or an IndexError."""
    from minirun.engine.lazy.inflate import inflate_span
    rng = random.Random(5)
    raw = b"".join(rng.randbytes(rng.choice([10, 3000])) + b"minirun " * rng.randrange(900)
                   for _ in range(300))
    path = tmp_path / "layer.gz"
    path.write_bytes(gzip.compress(raw, 1))
    with indexed_gzip.IndexedGzipFile(str(path), spacing=SPACING) as gz:
        gz.build_full_index()
        exported = io.BytesIO()
        gz.export_index(fileobj=exported)
    points = index._checkpoints(exported.getvalue())
    blob = path.read_bytes()
    uncmp, cmp, bits, window = next(p for p in points if p[2] and p[3])
    start = cmp - 1                                   # the byte the span's bits are in
    assert inflate_span(blob[start:start + 40_000], bits, window, 20_000) == \
        raw[uncmp:uncmp + 20_000]
    assert inflate_span(memoryview(blob)[start:start + 40_000], bits, bytearray(window),
                        100) == raw[uncmp:uncmp + 100]            # any buffer, no copy
    with pytest.raises(OSError, match="not deflate data") as bad:
        inflate_span(b"\xff" * 64, 0, b"", 1000)
    assert bad.value.errno == errno.EIO
    with pytest.raises(OSError, match="inflated to .* bytes, not 20000") as short:
        inflate_span(blob[start:start + 200], bits, window, 20_000)
    assert short.value.errno == errno.EIO
    with pytest.raises(OSError, match="not deflate data"):
        inflate_span(b"", 3, b"", 10)                 # bits of a byte that is not there
    assert inflate_span(blob[start:start + 40_000], bits, window, 0) == b""


def test_what_the_dynamic_linker_reads():
    """An ELF file's loader part (lazy/readahead.py): its headers, dynamic
    tables, relocations and writable data, not its code; nothing for
    anything else."""
    import sys
    from minirun.engine.lazy.readahead import loader_ranges
    with open(os.path.realpath(sys.executable), "rb") as f:
        def read(offset, size):
            return os.pread(f.fileno(), size, offset)
        ranges = loader_ranges(read(0, 64), read)
        size = os.fstat(f.fileno()).st_size
    assert ranges and ranges[0] == (0, 64)
    assert all(0 <= a < b <= size for a, b in ranges)
    assert sum(b - a for a, b in ranges) < size / 2          # the code stays behind
    assert loader_ranges(b"#!/bin/sh\n" + bytes(60), read) is None


def test_a_hostile_index_is_refused(layer):
    """An index from a registry is whoever pushed it's: one that names a
    path out of the layer, or points outside it, is refused."""
    import copy
    path, _, _ = layer
    toc, _ = index.build(path, SPACING)
    size = os.path.getsize(path)
    index.check(toc, size)
    for spoil in (lambda t: t["entries"][3].update(name="../../etc/shadow"),
                  lambda t: t["entries"][3].update(type="socket"),
                  lambda t: t["entries"][3].update(offset=t["uncompressedSize"]),
                  lambda t: t["checkpoints"][1].__setitem__(2, size + 1),
                  lambda t: t["checkpoints"][1].__setitem__(4, t["windows"]["size"]),
                  lambda t: t["checkpoints"].reverse(),
                  lambda t: t.pop("entries")):
        bad = copy.deepcopy(toc)
        spoil(bad)
        with pytest.raises(index.LazyIndexError, match="not one minirun made"):
            index.check(bad, size)
    with pytest.raises(index.LazyIndexError, match="another size"):
        index.check(toc, size + 1)


def test_a_zstd_layer_of_many_frames(layer, tmp_path):
    """zstd frames each start afresh: a layer of many (zstd:chunked, the
    seekable format) is read in spans that start at frames, no windows;
    one of a single frame (zstd's default) is not lazy, and says so."""
    zstandard = pytest.importorskip("zstandard")
    path, files, raw = layer
    frames = b"".join(zstandard.ZstdCompressor().compress(raw[i:i + 50_000])
                      for i in range(0, len(raw), 50_000))
    (tmp_path / "layer.tar.zst").write_bytes(frames)
    toc, windows = index.build(str(tmp_path / "layer.tar.zst"), SPACING)
    assert toc["compression"] == "zstd" and windows == b"" and len(toc["checkpoints"]) > 3
    index.check(toc, len(frames))
    lazy = index.Layer(frames, toc, windows)
    rng = random.Random(5)
    for _ in range(200):
        name = rng.choice(list(files))
        content = files[name]
        offset = rng.randrange(len(content) + 10) if content else 0
        size = rng.choice([1, 4096, SPACING, 3 * SPACING])
        assert lazy.read(name, offset, size) == content[offset:offset + size], (name, offset)
    (tmp_path / "one.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    with pytest.raises(index.NotLazy, match="one frame"):
        index.build(str(tmp_path / "one.tar.zst"), SPACING)
