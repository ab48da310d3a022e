"""docker://REF: an image in a registry, read and written through
images/registry.py's client (the module is named after the transport, as
in containers/image).

Between two repositories of one registry a blob is mounted, not sent
(the registry has checked it already).
"""
import json

from minirun.engine import digest as dg
from minirun.engine import reference
from minirun.engine.images import registries
from minirun.engine.images import manifest as mf
from minirun.engine.images.transports import TransportError
from minirun.engine.images.transports.base import Destination, Source, checked


class RegistrySource(Source):
    def __init__(self, text: str, tls_verify: bool | None):
        self.text, self.tls_verify = text, tls_verify
        self.found = None

    def _resolve(self):
        from minirun.engine.images import pull
        if self.found is None:      # (a short name: the first search registry that has it)
            self.found = pull.resolve(self.text, self.tls_verify, verb="read",
                                      fetch=pull.fetch_document)
        return self.found

    @property
    def ref(self) -> reference.Reference:
        return self._resolve()[0]

    @property
    def name(self) -> str:
        return self.ref.name

    def top(self) -> bytes:
        return self._resolve()[2]

    def manifest(self) -> tuple[bytes, mf.Manifest]:
        from minirun.engine.images import pull
        ref, client, data, _, doc = self._resolve()
        if isinstance(doc, mf.Index):
            data, _, doc = pull.fetch_instance(client, ref, doc)
        return data, doc

    def chunks(self, desc: mf.Descriptor):
        ref, client = self._resolve()[:2]
        return client.blob_chunks(ref.path, desc.digest)

    def document(self, desc: mf.Descriptor) -> bytes:
        ref, client = self._resolve()[:2]
        return checked(client.manifest(ref.path, desc.digest, mf.ACCEPT)[0], desc.digest)

    def tags(self) -> list[str]:
        ref, client = self._resolve()[:2]
        r = client.request("GET", f"/v2/{ref.path}/tags/list", f"repository:{ref.path}:pull")
        return json.loads(r.data or b"{}").get("tags") or []


class RegistryDestination(Destination):
    lists = mf.INDEXES

    def __init__(self, text: str, tls_verify: bool | None):
        from minirun.engine.images.pull import client_for
        self.ref, self.mount_from = reference.parse(text), None
        if self.ref.short:
            raise TransportError(f"`docker://{text}`: name the registry, as "
                                 f"docker://localhost:5000/{self.ref.path}")
        self.client = client_for(self.ref, registries.load(), tls_verify)

    def reading(self, src: Source) -> None:
        # From another repository of the same registry, blobs are mounted
        # (no byte goes through us), as skopeo does.
        if isinstance(src, RegistrySource) and src.ref.domain == self.ref.domain and \
                src.ref.path != self.ref.path:
            self.mount_from = src.ref.path

    def has(self, desc: mf.Descriptor) -> bool:
        return self.client.has_blob(self.ref.path, desc.digest)

    def put(self, desc: mf.Descriptor, chunks, diff_id: str | None) -> None:
        self.client.push_blob(self.ref.path, desc.digest, chunks, desc.size,
                              mount_from=self.mount_from)

    def put_instance(self, data: bytes, doc: mf.Manifest) -> None:
        self.client.push_manifest(self.ref.path, dg.of_bytes(data), data, doc.media_type)

    def finish(self, data: bytes, doc: mf.Manifest, config: mf.Config) -> None:
        if self.ref.digest and dg.of_bytes(data) != self.ref.digest:
            raise TransportError(f"{self.ref}: the manifest's digest is "
                                 f"{dg.of_bytes(data)}, not the one named")
        self.client.push_manifest(self.ref.path, self.ref.ref(), data,
                                  json.loads(data).get("mediaType", doc.media_type))
