"""Image references as podman and skopeo write them.

    busybox                       a short name: resolved via registries.conf
    localhost:5000/x/y:tag        a registry, a repository path, a tag
    quay.io/org/app@sha256:...    pinned to a manifest digest

The grammar is distribution's (reference/regexp.go, reimplemented from its
documentation): a first component with a ``.`` or ``:``, or ``localhost``,
is a registry; docker.io names of one component gain ``library/``.

See: containers-registries.conf(5), distribution's reference grammar
"""
import re

from minirun.engine import digest as dg
from minirun.errors import MiniRunError
from minirun.records import record

DOCKER_HUB = "docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                     r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|"
                     r"^\[[a-fA-F0-9:]+\](?::[0-9]+)?$")


class InvalidReference(MiniRunError):
    """An image reference does not follow the grammar: fix its spelling."""


@record
class Reference:
    domain: str | None      # None for a short name not yet resolved
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def short(self) -> bool:
        return self.domain is None

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def with_domain(self, domain: str) -> "Reference":
        path = self.path
        if domain == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        return self._replace(domain=domain, path=path)

    def ref(self) -> str:
        """What the registry API calls it: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"


def parse(text: str) -> Reference:
    if not text or len(text) > 255 + 128 + 80:
        raise InvalidReference(f"invalid image reference {text!r}: empty or too long")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        dg.parse(digest, f"image reference {text!r}")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid image reference {text!r}: tag {tag!r} may hold "
                                 "letters, digits, '_', '.' and '-' (at most 128)")
    domain, path = None, rest
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            raise InvalidReference(f"invalid image reference {text!r}: bad registry {first!r}")
        domain, path = first, remainder
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise InvalidReference(f"invalid image reference {text!r}: {component!r} must be "
                                 "lowercase letters and digits, separated by '.', '_' or '-'")
    ref = Reference(domain=domain, path=path, tag=tag, digest=digest)
    if domain == DOCKER_HUB:
        ref = ref.with_domain(DOCKER_HUB)
    if ref.tag is None and ref.digest is None:
        ref = ref._replace(tag="latest")
    return ref
