"""Image transports, as skopeo names them, and a copy from any one to any other.

    docker://REF                  a registry (registry.py's client)
    oci:DIR[:TAG]                 an OCI image layout directory
    oci-archive:FILE[:TAG]        the same layout in a tar file
    docker-archive:FILE[:REF]     `docker save`'s tar: manifest.json, configs, layer tars
    dir:PATH                      skopeo's directory: manifest.json, version, blobs by hex
    containers-storage:REF, REF   the store (a name with no transport means the store)

The package, in reading order, one concern per module:

    __init__.py   this guide; ``split`` (a name -> its transport), ``source``
                  and ``destination`` (a name -> what reads or writes it),
                  and every name callers import
    base.py       Source and Destination, what every transport implements;
                  chunks, hashed as they pass
    copying.py    ``copy``: the blobs, then the manifest (or --all's index),
                  and ``convert`` between OCI's and Docker's formats
    docker.py     docker://, a registry
    files.py      oci:, oci-archive:, docker-archive:, dir:
    writing.py    a directory or a tar written whole, or not at all
    storage.py    containers-storage: (the store)

Where a failed copy leaves nothing: a new directory is built beside its
name and renamed into place; a layout that exists gets its new blobs
removed again and its index.json replaced only at the end; an archive is
written to a temporary file renamed at the end; the store collects what
the copy added (service.copy); a registry keeps the blobs it was sent
but no manifest names them, as with skopeo (its garbage collection
removes them).

See: skopeo-copy(1), containers-transports(5), image-spec image-layout.md
"""
from minirun.errors import MiniRunError


class TransportError(MiniRunError):
    """An image name's transport is unknown or misspelled, or its place
    cannot be read or written as asked; the message says which and how."""


NAMES = ("docker", "oci", "oci-archive", "docker-archive", "dir", "containers-storage")
ELSEWHERE = ("docker-daemon", "ostree", "sif", "tarball")     # skopeo's, not minirun's


def split(text: str) -> tuple[str, str]:
    """(transport, the rest) of ``docker://x``, ``oci:/d:tag``, ...; a name
    with no transport of ours is the store's: ``("containers-storage", text)``."""
    kind, sep, rest = text.partition(":")
    if sep and kind in ELSEWHERE:
        raise TransportError(f"`{text}`: minirun has no {kind}: transport (it has "
                             f"{', '.join(n + ':' for n in NAMES)})")
    if not sep or kind not in NAMES:
        return "containers-storage", text
    if kind == "docker":
        if not rest.startswith("//"):
            raise TransportError(f"`{text}`: write docker://REGISTRY/NAME[:TAG]")
        rest = rest[2:]
    if kind == "containers-storage" and rest.startswith("["):
        raise TransportError(f"`{text}`: minirun has one store (--root): drop the "
                             f"[driver@root] part")
    if not rest:
        what = "name" if kind in ("docker", "containers-storage") else "path"
        raise TransportError(f"`{text}`: the {kind}: transport needs a {what}")
    return kind, rest


# The modules below raise TransportError, so it is defined before they are imported.
from minirun.engine.images.transports.base import (  # noqa: E402
    CHUNK, Destination, Source, broken)
from minirun.engine.images.transports.copying import FORMATS, convert, copy  # noqa: E402
from minirun.engine.images.transports.files import (  # noqa: E402
    DIR_VERSION, DirDestination, DirSource, DockerArchiveDestination, DockerArchiveSource,
    LayoutDestination, LayoutSource)
from minirun.engine.images.transports.docker import (  # noqa: E402
    RegistryDestination, RegistrySource)
from minirun.engine.images.transports.storage import StoreDestination, StoreSource  # noqa: E402

__all__ = ["TransportError", "NAMES", "ELSEWHERE", "CHUNK", "DIR_VERSION", "FORMATS",
           "split", "source", "destination", "copy", "convert", "broken",
           "Source", "RegistrySource", "LayoutSource", "DirSource", "DockerArchiveSource",
           "StoreSource", "Destination", "RegistryDestination", "LayoutDestination",
           "DirDestination", "DockerArchiveDestination", "StoreDestination"]


def source(text: str, *, root: str | None = None, tls_verify: bool | None = None) -> Source:
    kind, rest = split(text)
    with broken(text):
        if kind == "docker":
            src = RegistrySource(rest, tls_verify)
        elif kind in ("oci", "oci-archive"):
            src = LayoutSource(text, rest, kind == "oci-archive")
        elif kind == "docker-archive":
            src = DockerArchiveSource(text, rest)
        elif kind == "dir":
            src = DirSource(text, rest)
        else:
            src = StoreSource(root, rest)
    src.label = text
    return src


def destination(text: str, *, tls_verify: bool | None = None) -> Destination:
    """A destination other than the store (service.copy opens that one)."""
    kind, rest = split(text)
    if kind == "docker":
        return RegistryDestination(rest, tls_verify)
    if kind in ("oci", "oci-archive"):
        return LayoutDestination(text, rest, kind == "oci-archive")
    if kind == "docker-archive":
        return DockerArchiveDestination(text, rest)
    if kind == "dir":
        return DirDestination(text, rest)
    raise TransportError(f"`{text}`: the store is written by service.copy")
