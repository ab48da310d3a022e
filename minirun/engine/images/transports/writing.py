"""Where the file destinations write: a directory (dir:, oci:) or a tar
(oci-archive:, docker-archive:), so that a copy that fails leaves nothing
new behind (``abort``) and one that succeeds appears all at once
(``publish``).  Both are written file by file, each file's size known
before its chunks, as a tar header needs it.
"""
import os
import tarfile
import time

from minirun.engine.images import archive
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError
from minirun.engine.store import remove_tree


class Files:
    """A directory being written: a new one is built beside its name and
    renamed into place; one that exists (an OCI layout being added to) gets
    each file written whole under a temporary name, and loses again the
    files it gained if the copy fails."""

    def __init__(self, text: str, path: str, may_update: bool):
        self.path, self.created = path, []
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            raise TransportError(f"`{text}`: directory `{parent}` does not exist")
        if os.path.exists(path) and not os.path.isdir(path):
            raise TransportError(f"`{text}`: `{path}` exists and is not a directory")
        self.update = os.path.isdir(path) and bool(os.listdir(path))
        if self.update and not may_update:
            raise TransportError(f"`{text}`: `{path}` exists and is not empty: name a new "
                                 "or empty directory")
        self.base = path if self.update else f"{path}.{os.getpid()}.tmp"
        if not self.update:
            os.mkdir(self.base, 0o755)

    def has(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.base, name))

    def read(self, name: str) -> bytes | None:
        try:
            with open(os.path.join(self.base, name), "rb") as f:
                return f.read(mf.MAX_DOCUMENT + 1)
        except FileNotFoundError:
            return None

    def write(self, name: str, size: int, chunks) -> None:
        final = os.path.join(self.base, name)
        os.makedirs(os.path.dirname(final), 0o755, exist_ok=True)
        tmp = f"{final}.{os.getpid()}.tmp"
        new = not os.path.exists(final)
        with archive._removed_on_failure(tmp):
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, final)
        if new and self.update:
            self.created.append(final)

    def publish(self) -> None:
        if not self.update:
            os.replace(self.base, self.path)    # (over an empty directory, too)

    def abort(self) -> None:
        if not self.update:
            remove_tree(self.base)
        for path in reversed(self.created):
            os.unlink(path)


class _Reader:
    """read(n) over an iterator of chunks, for tarfile.addfile; ``drain``
    reads what tarfile left, so that base.verified's last check runs."""

    def __init__(self, chunks):
        self.chunks, self.chunk, self.pos = iter(chunks), b"", 0

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self.pos == len(self.chunk):
                self.chunk, self.pos = next(self.chunks, b""), 0
                if not self.chunk:
                    break
            take = len(self.chunk) - self.pos if n < 0 else \
                min(n - len(out), len(self.chunk) - self.pos)
            out += memoryview(self.chunk)[self.pos:self.pos + take]
            self.pos += take
        return bytes(out)

    def drain(self) -> None:
        for _ in self.chunks:
            pass


class Tar:
    """An archive being written: a temporary file beside it, renamed at the end."""

    def __init__(self, text: str, path: str):
        if not os.path.isdir(os.path.dirname(path)):
            raise TransportError(f"`{text}`: directory `{os.path.dirname(path)}` does not "
                                 "exist")
        if os.path.isdir(path):
            raise TransportError(f"`{text}`: `{path}` is a directory; an archive is a file")
        self.path, self.tmp = path, f"{path}.{os.getpid()}.tmp"
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.PAX_FORMAT)
        self.mtime = int(time.time())
        self.names = set()

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> None:
        return None

    def write(self, name: str, size: int, chunks) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, self.mtime
        reader = _Reader(chunks)
        self.tar.addfile(info, reader)
        reader.drain()
        self.names.add(name)

    def publish(self) -> None:
        self.tar.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.tar.close()
        os.unlink(self.tmp)
