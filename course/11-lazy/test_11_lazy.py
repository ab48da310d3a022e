"""Level 11's checks: one file read out of an image's layer with range
requests, through a proxy in front of the registry that counts the bytes
of blobs it passes: the file must be right, and the bytes far fewer than
the layer's."""
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import struct
import tarfile
import threading

import pytest

STUDENT_FILE = "image.py"
TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TOC_DIGEST = "io.minirun.course.toc.digest"
BIG = 4 << 20
LONG = "deep/" + "a-rather-long-directory-name/" * 4 + "file.txt"   # over 100 bytes: PAX


def member(name: str, kind: str, content: bytes | str | None) -> tuple[tarfile.TarInfo, bytes]:
    m = tarfile.TarInfo(name)
    m.mode = 0o755 if kind == "dir" else 0o644
    data = b""
    if kind == "file":
        data = content
        m.size = len(data)
    else:
        m.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                  "hardlink": tarfile.LNKTYPE}[kind]
        m.linkname = content or ""
    return m, data


def plain_layer(*entries) -> bytes:
    """An uncompressed tar, as `tarfile` writes one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            m, data = member(*entry)
            tar.addfile(m, io.BytesIO(data))
    return buf.getvalue()


def lazy_layer(*entries) -> tuple[bytes, str]:
    """The README's format: a gzip layer of one gzip member per tar entry,
    then a member with the entry `.toc.json`, one with the end of the
    archive, and the footer: an empty gzip member whose extra field "TC"
    holds the TOC member's offset. Returns the blob and the TOC's digest."""
    blob, toc = bytearray(), []

    def add(m: tarfile.TarInfo, data: bytes) -> tuple[int, int]:
        raw = m.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data \
            + bytes(-len(data) % 512)
        z = gzip.compress(raw, mtime=0)
        blob.extend(z)
        return len(blob) - len(z), len(z)

    for entry in entries:
        m, data = member(*entry)
        where = add(m, data)
        kind = {"file": "reg"}.get(entry[1], entry[1])
        toc.append({"name": m.name, "type": kind, "size": m.size, "linkname": m.linkname,
                    "member": list(where), "sha256": hashlib.sha256(data).hexdigest()})
    doc = json.dumps({"version": 1, "entries": toc}).encode()
    toc_at, _ = add(*member(".toc.json", "file", doc))
    blob.extend(gzip.compress(bytes(1024), mtime=0))            # the end of the archive
    extra = b"TC" + struct.pack("<H", 16) + b"%016x" % toc_at
    blob.extend(b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff" + struct.pack("<H", len(extra))
                + extra + b"\x03\x00" + bytes(8))
    return bytes(blob), "sha256:" + hashlib.sha256(doc).hexdigest()


class CountingProxy:
    """An HTTP proxy in front of the registry that counts the bytes of the
    blobs (not the manifests) it passes on, and the Range each asked for."""

    def __init__(self, upstream: str):
        proxy = self
        self.fetched, self.ranges = 0, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                conn = http.client.HTTPConnection(upstream, timeout=30)
                conn.request("GET", self.path, headers={
                    k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")})
                r = conn.getresponse()
                body = r.read()
                conn.close()
                if "/blobs/" in self.path:
                    proxy.fetched += len(body)
                    proxy.ranges.append(self.headers.get("Range"))
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "content-range", "docker-content-digest"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.fetched, self.ranges = 0, []

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def image(registry):
    """course/lazy:latest: an uncompressed tar layer under a lazy gzip one,
    both with 4 MiB of random bytes before their small files; and the
    sizes of the two layers."""
    lower = plain_layer(("big.bin", "file", os.urandom(BIG)), ("etc", "dir", None),
                        ("etc/greeting", "file", b"hello from the tar layer\n"),
                        ("etc/gone", "file", b"deleted above\n"),
                        ("etc/hello", "hardlink", "etc/greeting"),
                        (LONG, "file", b"a long name\n"))
    upper, toc = lazy_layer(("big2.bin", "file", os.urandom(BIG)), ("etc", "dir", None),
                            ("etc/motd", "file", b"hello from the gzip layer\n"),
                            ("etc/.wh.gone", "file", b""),
                            ("etc/sh", "symlink", "/bin/busybox"))
    registry.push_layers("course/lazy:latest", [(lower, TAR, None),
                                                (upper, TAR_GZIP, {TOC_DIGEST: toc})])
    return {"tar": len(lower), "gzip": len(upper)}


@pytest.fixture
def proxy(registry):
    p = CountingProxy(registry.addr)
    yield p
    p.stop()


def last(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def test_a_file_of_an_uncompressed_layer_is_read_by_range(run, image, proxy):
    """etc/greeting is in the lower, uncompressed layer: its bytes come, with
    the tar headers before it, and not the 4 MiB of big.bin.
    Look at: Blob.read() (Range, 206) and tar_index() (the next header's offset)."""
    r = run("cat", f"{proxy.addr}/course/lazy:latest", "/etc/greeting")
    assert r.returncode == 0, last(r.stderr)
    assert r.stdout == "hello from the tar layer\n"
    assert None not in proxy.ranges, "a blob was fetched whole, without Range"
    assert proxy.fetched < image["tar"] // 20, f"{proxy.fetched} bytes of {image['tar']}"


def test_a_long_name_in_a_pax_header_is_found(run, image, proxy):
    """A name over 100 bytes lies in a PAX extended header ('x') before its
    member's own header; so does a size over 8 GiB.
    Look at: tar_index(), the XHDTYPE branch and pax_records()."""
    r = run("cat", f"{proxy.addr}/course/lazy:latest", LONG)
    assert r.returncode == 0, last(r.stderr)
    assert r.stdout == "a long name\n"


def test_a_hard_link_reads_its_targets_bytes(run, image, proxy):
    """etc/hello is a hard link to etc/greeting: it has no bytes of its own.
    Look at: cat() (given), tar_index()'s "linkname"."""
    r = run("cat", f"{proxy.addr}/course/lazy:latest", "etc/hello")
    assert r.returncode == 0, last(r.stderr)
    assert r.stdout == "hello from the tar layer\n"


def test_a_file_of_a_lazy_gzip_layer_is_one_member(run, image, proxy):
    """etc/motd is in the upper, gzip layer: the footer, the table of
    contents and the file's own gzip member are fetched, nothing else.
    Look at: toc_index() (footer, TOC, its digest) and read_entry()."""
    r = run("cat", f"{proxy.addr}/course/lazy:latest", "etc/motd")
    assert r.returncode == 0, last(r.stderr)
    assert r.stdout == "hello from the gzip layer\n"
    assert None not in proxy.ranges, "a blob was fetched whole, without Range"
    assert proxy.fetched < image["gzip"] // 100, f"{proxy.fetched} bytes of {image['gzip']}"


def test_a_whiteout_above_hides_the_file_below(run, image, proxy):
    """etc/gone is in the lower layer, and `etc/.wh.gone` in the upper one
    deletes it: cat finds no file, and says so in one line.
    Look at: toc_index()'s names (lookup() is given)."""
    r = run("cat", f"{proxy.addr}/course/lazy:latest", "etc/gone")
    assert r.returncode != 0 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "whiteout" in r.stderr, last(r.stderr)


def test_a_changed_byte_is_refused(run, registry, proxy):
    """A byte of etc/motd's member changed in the registry's storage: the
    member does not inflate, or its bytes miss the TOC's sha256 (the TOC's
    own is in the manifest). Refused in one line, nothing printed.
    Look at: read_entry(): check_digest() against entry["sha256"]."""
    blob, toc = lazy_layer(("etc", "dir", None), ("etc/motd", "file", os.urandom(64 << 10)))
    manifest = registry.push_layers("course/lazy-tampered:latest",
                                    [(blob, TAR_GZIP, {TOC_DIGEST: toc})])
    entries = {e["name"]: e for e in _toc(blob)}
    start, length = entries["etc/motd"]["member"]
    with open(registry.blob_file(manifest["layers"][0]["digest"]), "r+b") as f:
        f.seek(start + length // 2)
        byte = f.read(1)
        f.seek(start + length // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    r = run("cat", f"{proxy.addr}/course/lazy-tampered:latest", "etc/motd")
    assert r.returncode != 0 and r.stdout == "", last(r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
        last(r.stderr)


def _toc(blob: bytes) -> list[dict]:
    toc_at = int(blob[-42 + 16:-42 + 32], 16)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob[toc_at:-42]))) as tar:
        return json.loads(tar.extractfile(tar.next()).read())["entries"]


def test_a_plain_gzip_layer_is_refused_with_the_reason(run, registry, proxy):
    """busybox's layer is one gzip stream: no index can reach its middle.
    Refused in one line, before any of it is fetched.
    Look at: cat() and layer_index() (given): your Blob.read() must not be needed."""
    r = run("cat", f"{proxy.addr}/course/busybox:latest", "bin/busybox")
    assert r.returncode != 0 and r.stdout == ""
    assert "Traceback" not in r.stderr and "gzip" in r.stderr, last(r.stderr)
    assert proxy.fetched < 4096


def test_the_lazy_layer_is_still_an_ordinary_layer(run, registry, image, tmp_path):
    """Concatenated gzip members are one valid gzip stream (RFC 1952), so
    any puller unpacks the lazy layer as it is: level 10's pull does.
    Look at: pull() (level 10); GzipFile reads every member."""
    dest = tmp_path / "rootfs"
    r = run("pull", f"{registry.addr}/course/lazy:latest", str(dest))
    assert r.returncode == 0, last(r.stderr)
    assert (dest / "etc" / "motd").read_text() == "hello from the gzip layer\n"
    assert not (dest / "etc" / "gone").exists()
