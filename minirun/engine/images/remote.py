"""Looking at registries without pulling: `manifest inspect` (the manifest
or index a registry serves for a name, as it serves it) and `search` (the
repositories a registry lists in its catalog, /v2/_catalog, whose names
hold the term), as podman's."""
import json

from minirun.engine import reference
from minirun.engine.images import manifest as mf, registries
from minirun.engine.images.pull import client_for
from minirun.engine.images.registry import Client, RegistryError


def manifest(name: str, tls_verify: bool | None = None) -> dict:
    """The manifest (or index) of ``name`` as its registry serves it."""
    ref = reference.parse(name)
    conf = registries.load()
    if ref.short:
        ref = _qualified(ref, conf)
    client = client_for(ref, conf, tls_verify)
    data, _ = client.manifest(ref.path, ref.ref(), mf.ACCEPT)
    try:
        return json.loads(data)
    except ValueError:
        raise RegistryError(f"{ref}: the registry sent a manifest that is not JSON") from None


def search(term: str, limit: int = 25, tls_verify: bool | None = None) -> list[dict]:
    """[{Index, Name, Description, Stars, Official, Automated, Tag}] of the
    repositories matching ``term`` (``registry/term`` searches that one
    registry; a bare term, the unqualified-search registries)."""
    conf = registries.load()
    domain, _, word = term.rpartition("/") if "." in term.split("/")[0] or ":" in \
        term.split("/")[0] else ("", "", term)
    domains = [domain] if domain else list(conf.search)
    if not domains:
        raise RegistryError("no registry to search: name one (REGISTRY/TERM) or set "
                            "unqualified-search-registries in registries.conf")
    out = []
    for d in domains:
        reg = conf.find(d)
        insecure = (reg.insecure if reg else False) if tls_verify is None else not tls_verify
        client = Client(d, insecure=insecure, credentials=registries.credentials(d))
        names = _catalog(client)
        for n in names:
            if word.lower() in n.lower():
                out.append({"Index": d, "Name": f"{d}/{n}", "Description": "", "Stars": 0,
                            "Official": "", "Automated": "", "Tag": ""})
    return out[:limit]


def _catalog(client: Client, pages: int = 20) -> list[str]:
    """Every repository the registry lists, page by page (its Link header)."""
    names, path = [], "/v2/_catalog?n=1000"
    for _ in range(pages):
        r = client.request("GET", path, "registry:catalog:*")
        names += json.loads(r.data or b"{}").get("repositories") or []
        link = r.headers.get("Link", "")
        if not link.startswith("<"):
            break
        path = link[1:link.index(">")]
    return names


def _qualified(ref, conf):
    if not conf.search:
        raise RegistryError(f"{ref}: a short name needs a registry: name it in full, or set "
                            "unqualified-search-registries in registries.conf")
    return reference.parse(f"{conf.search[0]}/{ref.path}:{ref.tag or 'latest'}")


def inspect(name: str, *, raw: bool = False, config: bool = False, tags: bool = True,
            tls_verify: bool | None = None, root: str | None = None):
    """skopeo inspect of an image anywhere the transports package reaches, without
    copying it: the manifest's bytes as served (``raw``), the config
    (``config``: its bytes with ``raw``), or skopeo's summary."""
    from minirun.engine import digest as dg
    from minirun.engine.images import transports
    src = transports.source(name, root=root, tls_verify=tls_verify)
    try:
        with transports.broken(name):
            if raw and not config:
                return src.top()
            data, doc = src.manifest()
            cfg = src.config(doc)
            if config:
                return cfg if raw else json.loads(cfg)
            return _summary(src, dg.of_bytes(src.top()), doc, json.loads(cfg), tags)
    finally:
        src.close()


def _summary(src, digest: str, doc: mf.Manifest, cfg: dict, tags: bool) -> dict:
    """skopeo inspect's fields: Name (a registry's image only), Digest (of the
    document the name points at: an index's, for an index), RepoTags (the
    repository's tags), then the config's and the layers'."""
    inner = cfg.get("config") or {}
    out = {"Name": src.name} if hasattr(src, "name") else {}
    out.update({
        "Digest": digest, "RepoTags": src.tags() if tags else [],
        "Created": cfg.get("created"), "DockerVersion": cfg.get("docker_version") or "",
        "Labels": inner.get("Labels") or None, "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", "")})
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    out["Layers"] = [d.digest for d in doc.layers]
    out["LayersData"] = [{"MIMEType": d.media_type, "Digest": d.digest, "Size": d.size,
                          "Annotations": d.annotations} for d in doc.layers]
    out["Env"] = inner.get("Env")
    return out
