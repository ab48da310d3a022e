"""Content digests: ``sha256:<64 hex>``, the name of every blob in OCI.

A digest is checked for form before it is ever used in a path or a URL
(``sha256:../x`` is refused), and every byte fetched is hashed on the way
in and compared with the digest it was asked for.
"""
import re

from minirun.errors import MiniRunError

_FORM = re.compile(r"^(sha256):([a-f0-9]{64})$|^(sha512):([a-f0-9]{128})$")


class DigestError(MiniRunError):
    """A digest is malformed, or content does not match its digest.  The
    source (registry, archive) is corrupt or hostile: do not use it."""


def parse(value: str, what: str = "digest") -> tuple[str, str]:
    """(algorithm, hex) of a well-formed digest, or DigestError."""
    if not isinstance(value, str):
        raise DigestError(f"{what}: expected a digest string, got {type(value).__name__}")
    m = _FORM.match(value)
    if not m:
        raise DigestError(f"{what}: `{value[:80]}` is not a valid digest "
                          "(expected sha256: and 64 lowercase hex digits)")
    return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))


def of_bytes(data: bytes) -> str:
    import hashlib  # OpenSSL: 3 ms to load, and `run` needs no hashing
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Verifier:
    """Hashes a stream as it passes; :meth:`check` compares at the end."""

    def __init__(self, expected: str, size: int | None, what: str):
        algo, _ = parse(expected, what)
        self.expected, self.size, self.what = expected, size, what
        import hashlib
        self.hash = hashlib.new(algo)
        self.count = 0

    def update(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.count += len(chunk)
        if self.size is not None and self.count > self.size:
            raise DigestError(f"{self.what}: more than the {self.size} bytes announced")

    def check(self) -> None:
        got = f"{self.hash.name}:{self.hash.hexdigest()}"
        if self.size is not None and self.count != self.size:
            raise DigestError(f"{self.what}: {self.count} bytes, expected {self.size}")
        if got != self.expected:
            raise DigestError(f"{self.what}: content has digest {got}, expected "
                              f"{self.expected}: the source is corrupt or tampered with")
