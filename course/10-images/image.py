#!/usr/bin/env python3
"""Level 10: pull an image from a registry and unpack its layers, safely.

    python3 image.py pull REGISTRY/REPO:TAG DIR

Fill in the TODOs; `make check LEVEL=10` tells you how far you are.
The HTTP requests, the tar reading and the writing of each kind of entry
are given: yours are the manifest, the digests, and the safety of paths.
"""
import errno  # noqa: F401 (yours to use: errno.ELOOP, errno.ENOTDIR)
import gzip
import hashlib
import json
import os
import platform
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
LAYERS = {                      # a layer's media type -> its compression
    "application/vnd.oci.image.layer.v1.tar": None,
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
}
WHITEOUT, OPAQUE = ".wh.", ".wh..wh..opq"


class ImageError(Exception):
    """The image cannot be pulled; the message says why, in one line."""


class HostileLayer(ImageError):
    """A layer entry would write outside DIR, or is malformed on purpose."""


# --- the registry ---------------------------------------------------------------------

def parse_reference(ref: str) -> tuple[str, str, str]:
    """``REGISTRY/REPO:TAG`` or ``REGISTRY/REPO@sha256:...`` -> (registry, repo, tag)."""
    registry, _, rest = ref.partition("/")
    if not rest:
        raise ImageError(f"`{ref}`: expected REGISTRY/REPO:TAG (127.0.0.1:5000/busybox:latest)")
    if "@" in rest:
        repo, _, tag = rest.partition("@")
    elif ":" in rest:
        repo, _, tag = rest.rpartition(":")
    else:
        repo, tag = rest, "latest"
    return registry, repo, tag


def check_digest(h, digest: str, what: str) -> None:
    """Refuse unless ``h`` (a hashlib.sha256() fed the bytes) gives ``digest``."""
    got = "sha256:" + h.hexdigest()
    if got != digest:
        raise ImageError(f"{what} {digest}: the registry sent bytes whose digest is {got}: "
                         "refused")


class Registry:
    """One repository of a registry, over plain HTTP: ``/v2/REPO/...``."""

    def __init__(self, registry: str, repo: str):
        self.base = f"http://{registry}/v2/{repo}"

    def get(self, path: str, headers: dict | None = None):
        """The open response to GET ``/v2/REPO/PATH``; the caller closes it."""
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            return urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as e:
            raise ImageError(f"GET {req.full_url}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise ImageError(f"GET {req.full_url}: {e.reason}") from None

    def manifest(self, ref: str) -> tuple[bytes, str]:
        """A manifest or an index, and the media type it was served as."""
        with self.get(f"/manifests/{ref}", {"Accept": ACCEPT}) as r:
            data = r.read(4 << 20)
            ctype = r.headers.get("Content-Type", "")
        if ref.startswith("sha256:"):            # (a tag can change; a digest cannot)
            check_digest(hashlib.sha256(data), ref, "manifest")
        return data, json.loads(data).get("mediaType") or ctype

    def blob(self, digest: str) -> bytes:
        """A small blob (a config), whole, its digest checked."""
        with self.get(f"/blobs/{digest}") as r:
            data = r.read()
        check_digest(hashlib.sha256(data), digest, "blob")
        return data

    def download(self, digest: str, path: str) -> None:
        """A blob into the file ``path``, hashed on the way; refused (and the
        file removed) if the bytes are not the ones ``digest`` names."""
        # TODO(level 10): GET /blobs/DIGEST with self.get(), copy it into the file
        # `path` a chunk at a time (r.read(1 << 20)), feeding each chunk to a
        # hashlib.sha256(); then check_digest(h, digest, "blob"). On a mismatch,
        # remove the file and let the ImageError go up: a blob is trusted only for
        # its digest, never for who sent it. (Only "sha256:" digests: refuse others.)
        raise NotImplementedError("download")


def this_platform() -> tuple[str, str]:
    machine = platform.machine()
    return "linux", {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def fetch_manifest(reg: Registry, tag: str) -> dict:
    """The image manifest ``tag`` names: through an index, this machine's."""
    # TODO(level 10): data, mtype = reg.manifest(tag) (it sends the Accept
    # header ACCEPT: without it a registry may answer with an old schema).
    # If mtype is an index (OCI_INDEX or DOCKER_LIST), find in its
    # "manifests" the entry whose "platform" has os and architecture equal to
    # this_platform(), and fetch that one with reg.manifest(its "digest"):
    # fetched by digest, it is checked against it. No entry: an ImageError
    # naming the platform. Then refuse anything that is not OCI_MANIFEST or
    # DOCKER_MANIFEST, and return json.loads(data).
    raise NotImplementedError("fetch_manifest")


# --- unpacking, safely ----------------------------------------------------------------

def clean_name(name: str) -> list[str]:
    """A tar entry's path as components under DIR; ``..`` and absolute refused."""
    # TODO(level 10): refuse (HostileLayer, naming the entry) a name that
    # starts with "/", split the rest on "/", drop "" and "." components,
    # and refuse any ".." among them: "./etc/passwd" -> ["etc", "passwd"],
    # "../../x" and "a/../../x" -> refused, "./" -> [] (DIR itself).
    raise NotImplementedError("clean_name")


def remove(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a tree too) in ``dir_fd``, following no symlink."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)      # the fd-based walk: never leaves the tree
    else:
        os.unlink(name, dir_fd=dir_fd)


class Unpacker:
    """One layer's entries written under the directory ``root_fd``.  Every
    path is opened a component at a time from that fd with O_NOFOLLOW, so
    no symlink is ever followed, whoever wrote it."""

    def __init__(self, root_fd: int):
        self.root_fd = root_fd
        self.written: set[tuple[str, ...]] = set()    # this layer's own paths
        self.dirs: list[tuple[list[str], tarfile.TarInfo]] = []

    def open_parent(self, parts: list[str], name: str) -> int:
        """An fd of the directory that will hold ``parts[-1]``, made if missing."""
        # TODO(level 10): start from os.dup(self.root_fd); for each component but
        # the last, os.open(comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, dir_fd=fd),
        # making it (os.mkdir(comp, 0o755, dir_fd=fd)) when FileNotFoundError says
        # it is missing; close the previous fd each step. If the open fails with
        # ELOOP or ENOTDIR, the component is a symlink (check with
        # os.stat(..., follow_symlinks=False)) or a file: raise HostileLayer,
        # "entry `NAME` would pass through the symlink `COMP`: refused". Never
        # follow it: a symlink written by this very tar can point anywhere.
        # Close the fd you hold before any exception leaves.
        raise NotImplementedError("open_parent")

    def add(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_name(m.name)
        if not parts:                   # `./`: DIR itself
            return
        pfd = self.open_parent(parts, m.name)
        try:
            if parts[-1].startswith(WHITEOUT):
                self.whiteout(pfd, parts, m.name)
            else:
                self.write(tar, m, pfd, parts)
                self.written.add(tuple(parts))
        finally:
            os.close(pfd)

    def whiteout(self, pfd: int, parts: list[str], name: str) -> None:
        """``.wh..wh..opq``: empty the directory of what lower layers put
        there; ``.wh.NAME``: remove NAME."""
        # TODO(level 10): if parts[-1] is OPAQUE, remove() every child of the
        # directory (os.listdir(pfd)) whose path (*parts[:-1], child) is not in
        # self.written (what this layer wrote before the marker stays). Otherwise
        # the hidden name is parts[-1] without the ".wh." prefix: refuse "", "."
        # and ".." (HostileLayer), and remove(pfd, hidden).
        raise NotImplementedError("whiteout")

    def write(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int,
              parts: list[str]) -> None:
        base = parts[-1]
        try:                            # a path of a lower layer is replaced, not written
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)   # through
            if not (m.isdir() and stat.S_ISDIR(st.st_mode)):
                remove(pfd, base)
        except FileNotFoundError:
            pass
        if m.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:     # (a directory: anything else was removed above)
                pass
            self.dirs.append((parts, m))    # its mode last: 0555 would refuse children
        elif m.isreg():
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=pfd)
            try:
                src = tar.extractfile(m)
                while chunk := src.read(1 << 20):
                    os.write(fd, chunk)
                set_metadata(fd, m)
            finally:
                os.close(fd)
        elif m.issym():                 # made, never followed
            os.symlink(m.linkname, base, dir_fd=pfd)
            if os.geteuid() == 0:
                os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        elif m.islnk():
            self.hardlink(m, pfd, base)
        elif m.ischr() or m.isblk() or m.isfifo():
            if os.geteuid() == 0 or m.isfifo():     # a plain user cannot make devices
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() \
                    else stat.S_IFIFO
                os.mknod(base, kind | (m.mode & 0o777), os.makedev(m.devmajor, m.devminor),
                         dir_fd=pfd)
        else:
            raise HostileLayer(f"entry `{m.name}` has an unknown type {m.type!r}")

    def hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        target = clean_name(m.linkname)     # inside DIR, or refused
        if not target:
            raise HostileLayer(f"entry `{m.name}` is a hard link to DIR itself")
        tfd = self.open_parent(target, f"{m.name}` (a hard link to `{m.linkname}`)")
        try:
            os.link(target[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise HostileLayer(f"entry `{m.name}` is a hard link to `{m.linkname}`, which "
                               "is not in the image") from None
        finally:
            os.close(tfd)

    def finish_dirs(self) -> None:
        """Directories' modes and times last, the deepest first."""
        for parts, m in sorted(self.dirs, key=lambda d: len(d[0]), reverse=True):
            pfd = self.open_parent(parts, m.name)
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                             dir_fd=pfd)
            finally:
                os.close(pfd)
            try:
                set_metadata(fd, m)
            finally:
                os.close(fd)


def set_metadata(fd: int, m: tarfile.TarInfo) -> None:
    """Owner, then mode (chown clears set-uid bits), then times: through the
    file's own fd, never through a path a symlink could redirect."""
    if os.geteuid() == 0:
        os.fchown(fd, m.uid, m.gid)
    os.fchmod(fd, m.mode & 0o7777)
    os.utime(fd, (m.mtime, m.mtime))


class Hashing:
    """A file object that hashes what is read through it: a layer's diff_id
    is the digest of its uncompressed tar."""

    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def unpack(path: str, compression: str | None, root_fd: int, diff_id: str) -> None:
    """The layer in the file ``path`` on top of what DIR holds."""
    with open(path, "rb") as raw:
        # GzipFile reads every gzip member of the file, one after another
        stream = Hashing(gzip.GzipFile(fileobj=raw) if compression == "gzip" else raw)
        u = Unpacker(root_fd)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for m in tar:
                    u.add(tar, m)
            while stream.read(1 << 20):     # what follows the end of the archive
                pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise HostileLayer(f"not a valid tar stream: {e}") from None
        u.finish_dirs()
    check_digest(stream.h, diff_id, "uncompressed layer (diff_id)")


def pull(ref: str, dest: str) -> None:
    registry, repo, tag = parse_reference(ref)
    reg = Registry(registry, repo)
    manifest = fetch_manifest(reg, tag)
    config = json.loads(reg.blob(manifest["config"]["digest"]))
    layers, diff_ids = manifest["layers"], config["rootfs"]["diff_ids"]
    if len(layers) != len(diff_ids):
        raise ImageError(f"{len(layers)} layers but {len(diff_ids)} diff_ids in the config")
    for layer in layers:
        if layer["mediaType"] not in LAYERS:
            raise ImageError(f"layer {layer['digest']}: {layer['mediaType']} is not supported")
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="image-pull-") as tmp:
        for i, layer in enumerate(layers):         # every digest checked first
            reg.download(layer["digest"], os.path.join(tmp, str(i)))
        root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, layer in enumerate(layers):
                try:
                    unpack(os.path.join(tmp, str(i)), LAYERS[layer["mediaType"]], root_fd,
                           diff_ids[i])
                except ImageError as e:
                    raise type(e)(f"layer {layer['digest'][:19]}: {e}") from None
        finally:
            os.close(root_fd)
    print(f"pulled {ref}: {len(layers)} layer(s) into {dest}")


def main(args: list[str]) -> int:
    if len(args) != 3 or args[0] != "pull":
        print("usage: image.py pull REGISTRY/REPO:TAG DIR", file=sys.stderr)
        return 2
    try:
        pull(args[1], args[2])
    except (ImageError, OSError) as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError) as e:     # a document missing a field
        print(f"image: a malformed manifest or config: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
