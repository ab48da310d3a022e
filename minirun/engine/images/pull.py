"""pull: a reference -> a verified image in the store.

    resolve the name (registries.conf) -> manifest (an index: pick this
    platform) -> config -> every layer at once: download, verify, unpack in
    one pass -> record the image and its name

The image is recorded only when every layer is whole; a layer only when
its blob digest and its diff_id both match (stream.py).

Why each step is taken (``--explain`` prints the item under it):

- manifest: the manifest names the image's config and its layers by their
  sha256 digests: what is downloaded next must match them (podman-pull(1))
- layer: a layer is a tar of changes: downloaded, checked against its
  digest and unpacked into a directory of its own in one pass, never
  outside it, whatever the tar says (containers-storage(5))
- layer present: this layer is already unpacked in the store (another image
  shares it): it is not downloaded again (containers-storage(5))
- recorded: only once every layer is whole is the image and its name
  written to the store's database: a pull killed halfway leaves no image (podman-pull(1))
"""
import concurrent.futures
import os
import sys

from minirun import explain

from minirun.engine import digest as dg
from minirun.engine.images import manifest as mf
from minirun.engine import reference
from minirun.engine.images import registries
from minirun.engine.images.registry import Client, NotFound, RegistryError
from minirun.engine.store import Store
from minirun.errors import MiniRunError

PARALLEL = 4


class PullError(MiniRunError):
    """The image could not be pulled; the message says from where and why."""


def candidates(ref: reference.Reference, conf: registries.Config) -> list[reference.Reference]:
    if not ref.short:
        return [ref]
    if not conf.search:
        raise PullError(f"short name `{ref.path}`: no unqualified-search-registries in "
                        f"{', '.join(conf.files) or 'registries.conf'}; use a full name such "
                        f"as localhost:5000/{ref.path}")
    return [ref.with_domain(d) for d in conf.search]


def client_for(ref: reference.Reference, conf: registries.Config,
               tls_verify: bool | None) -> Client:
    reg = conf.find(ref.name)
    if reg and reg.blocked:
        raise PullError(f"registry {ref.domain} is blocked in registries.conf")
    insecure = (reg.insecure if reg else False) if tls_verify is None else not tls_verify
    return Client(ref.domain, insecure=insecure,
                  credentials=registries.credentials(ref.name))


def fetch_document(client: Client, ref: reference.Reference) \
        -> tuple[bytes, str, mf.Manifest | mf.Index]:
    """(bytes, digest, parsed) of the manifest or index ``ref`` names, as served."""
    data, ctype = client.manifest(ref.path, ref.ref(), mf.ACCEPT)
    digest = dg.of_bytes(data)
    if ref.digest and digest != ref.digest:
        raise dg.DigestError(f"{ref}: the registry sent a manifest with digest {digest}")
    return data, digest, mf.parse(data, ctype)


def fetch_instance(client: Client, ref: reference.Reference,
                   index: mf.Index) -> tuple[bytes, str, mf.Manifest]:
    """(bytes, digest, parsed) of the manifest ``index`` lists for this platform."""
    chosen = mf.choose(index)
    data, ctype = client.manifest(ref.path, chosen.digest, mf.ACCEPT)
    digest = dg.of_bytes(data)
    if digest != chosen.digest:
        raise dg.DigestError(f"{ref}: manifest {chosen.digest} arrived with digest {digest}")
    doc = mf.parse(data, ctype)
    if not isinstance(doc, mf.Manifest):
        raise mf.ManifestError(f"{ref}: an index points to another index")
    return data, digest, doc


def fetch_manifest(client: Client, ref: reference.Reference) -> tuple[bytes, str, mf.Manifest]:
    """(bytes, digest, parsed) of the image manifest for this platform."""
    data, digest, doc = fetch_document(client, ref)
    if isinstance(doc, mf.Index):
        return fetch_instance(client, ref, doc)
    return data, digest, doc


def resolve(text: str, tls_verify: bool | None = None, verb: str = "pull",
            fetch=fetch_manifest):
    """The first registry (of registries.conf's, for a short name) that has
    image ``text``: (reference, client, manifest bytes, digest, parsed);
    ``fetch``: fetch_document for the document as served (an index stays one)."""
    conf = registries.load()
    ref = reference.parse(text)
    errors = []
    for cand in candidates(ref, conf):
        try:
            client = client_for(cand, conf, tls_verify)
            return (cand, client, *fetch(client, cand))
        except (NotFound, RegistryError) as e:
            errors.append(f"{cand}: {e}")
    raise PullError(f"cannot {verb} `{text}`: " + "; ".join(errors))


def pull(store: Store, text: str, *, tls_verify: bool | None = None, quiet: bool = False,
         rootless: bool = False) -> str:
    """Pull ``text`` into ``store``; return the image id (config digest)."""
    cand, client, data, mdigest, manifest = resolve(text, tls_verify)
    return _pull_image(store, client, cand, data, mdigest, manifest, quiet, rootless)


def _pull_image(store: Store, client: Client, ref: reference.Reference, data: bytes,
                mdigest: str, manifest: mf.Manifest, quiet: bool, rootless: bool) -> str:
    cfg_digest = manifest.config.digest
    explain.say(f"GET {ref} manifest {mdigest[:19]}: config {cfg_digest[:19]}, "
                f"{len(manifest.layers)} layer(s)", why="manifest")
    if store.has_blob(cfg_digest):
        cfg_bytes = store.read_blob(cfg_digest)
    else:
        cfg_bytes = client.blob(ref.path, cfg_digest)
        store.put_blob(cfg_bytes, cfg_digest)
    config = mf.parse_config(cfg_bytes)
    if len(config.diff_ids) != len(manifest.layers):
        raise mf.ManifestError(f"{ref}: {len(manifest.layers)} layers but "
                               f"{len(config.diff_ids)} diff_ids in the config")
    progress = Progress(quiet)
    jobs = list(zip(manifest.layers, config.diff_ids))
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(fetch_layer, store, client, ref.path, desc, diff_id, progress,
                               rootless) for desc, diff_id in jobs]
        for f in futures:
            f.result()
    progress.close()
    store.put_blob(data, mdigest)
    size = sum(d.size for d in manifest.layers)
    store.add_image(cfg_digest, mdigest, [(d, desc.digest) for desc, d in jobs], size,
                    [str(ref) if not ref.digest else f"{ref.name}@{ref.digest}"])
    explain.say(f"image {ref} recorded: {cfg_digest[7:19]}", why="recorded")
    return cfg_digest


def fetch_layer(store: Store, client: Client | None, name: str, desc: mf.Descriptor,
                diff_id: str, progress: "Progress", rootless: bool) -> None:
    from minirun.engine.images.stream import LayerStream
    from minirun.engine.images.unpack import unpack
    if store.has_layer(diff_id):
        explain.say(f"layer {desc.digest[:19]} present", why="layer present")
        progress.skip(desc)
        return
    with store.layer_lock(diff_id):
        if store.has_layer(diff_id):   # another pull finished it while we waited
            progress.skip(desc)
            return
        tmp = store.temp_layer_dir(diff_id)
        blob, partial = store.blob_path(desc.digest), store.partial_path(desc.digest)
        have_blob = os.path.exists(blob)
        source = blob if have_blob else partial
        offset = os.path.getsize(source) if os.path.exists(source) else 0
        bar = progress.bar(desc, offset)
        explain.say(f"layer {desc.digest[:19]} ({desc.size} bytes): GET, sha256, unpack "
                    f"into {tmp}", why="layer")

        def chunks():
            if offset:
                with open(source, "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk
            if not have_blob and offset < desc.size:   # (a lazy layer's blob may be whole)
                if client is None:
                    raise PullError(f"layer {desc.digest} is neither in the store nor in a "
                                    "registry")
                with open(partial, "ab") as out:
                    for chunk in client.blob_chunks(name, desc.digest, offset):
                        out.write(chunk)
                        yield chunk
        stream = LayerStream(chunks(), mf.LAYER_TYPES[desc.media_type],
                             dg.Verifier(desc.digest, desc.size, f"layer {desc.digest}"),
                             dg.Verifier(diff_id, None, f"layer {desc.digest} (uncompressed)"),
                             progress=bar)
        try:
            report = unpack(stream, tmp, rootless)
            stream.finish()
        except BaseException:
            from minirun.engine.store import remove_tree
            remove_tree(tmp)
            if isinstance(sys.exc_info()[1], dg.DigestError) and os.path.exists(partial):
                os.unlink(partial)   # a corrupt download is not resumed
            raise
        if not have_blob:
            store.commit_partial(desc.digest)
        store.commit_layer(diff_id, tmp, stream.diff.count)
        if report.skipped_devices:
            sys.stderr.write(f"minirun: layer {desc.digest[7:19]}: rootless, so device nodes "
                             f"were skipped: {', '.join(report.skipped_devices[:5])}\n")


class Progress:
    """One bar per layer on a terminal (tqdm), nothing otherwise."""

    def __init__(self, quiet: bool):
        self.on = not quiet and sys.stderr.isatty()
        self.bars = []

    def bar(self, desc: mf.Descriptor, done: int):
        if not self.on:
            return None
        from tqdm import tqdm
        b = tqdm(total=desc.size, initial=0, unit="B", unit_scale=True, leave=True,
                 desc=desc.digest[7:19], position=len(self.bars), file=sys.stderr)
        self.bars.append(b)
        return b.update

    def skip(self, desc: mf.Descriptor) -> None:
        if self.on:
            sys.stderr.write(f"{desc.digest[7:19]}: already present\n")

    def close(self) -> None:
        for b in self.bars:
            b.close()
