"""The image commands' work, for the CLI and the Python API: pull, list,
remove, tag, inspect.  Rootless, whatever writes the store runs as root of
a user namespace (userns.py) so that layer files keep their owners."""
import json
import os

from minirun.engine import userns
from minirun.engine.store import Store, StoreError, hex_of


def _in_store(root: str | None, fn, *args, **kwargs):
    """Run ``fn(store, ...)`` where it may write the store."""
    def work():
        return fn(Store(root), *args, **kwargs)
    return userns.as_root(work) if userns.needed() else work()


def pull(root: str | None, name: str, *, tls_verify: bool | None = None,
         quiet: bool = False) -> str:
    from minirun.engine import pull as pull_mod
    from minirun.kernel.idmap import is_rootless
    rootless = is_rootless()
    return _in_store(root, pull_mod.pull, name, tls_verify=tls_verify, quiet=quiet,
                     rootless=rootless)


def pull_lazy(root: str | None, name: str, *, tls_verify: bool | None = None) -> str:
    """Record an image whose indexed layers stay in the registry (run --lazy)."""
    from minirun.kernel.idmap import is_rootless
    from minirun.lazy.pull import pull_lazy as pull_it
    return _in_store(root, pull_it, name, tls_verify=tls_verify, rootless=is_rootless())


def complete(root: str | None, image_id: str) -> None:
    """Fetch and unpack the layers of an image that were left lazy."""
    import json
    from minirun.lazy import source_path
    with open(source_path(Store(root), image_id)) as f:
        reference = json.load(f)["reference"]
    pull(root, reference, quiet=True)


def listing(root: str | None) -> list[dict]:
    return Store(root).images()


def _remove(store: Store, image_id: str) -> None:
    """The image gone from the store, and its lazy layers' cached bytes."""
    from minirun.lazy.pull import forget
    store.remove_image(image_id)
    forget(store, image_id)


def remove(root: str | None, names: list[str], force: bool = False) -> list[str]:
    def work(store: Store) -> list[str]:
        out = []
        for name in names:
            image_id = store.lookup(name)
            users = store.users_of(image_id)
            if users and not force:
                raise StoreError(f"image `{name}` is used by container(s) "
                                 f"{', '.join(users)}: remove them first or use -f")
            tagged = store.names_of(image_id)
            if not force and name in tagged and len(tagged) > 1:
                store.untag(name)   # only the name goes, as podman rmi does
                out.append(f"Untagged: {name}")
                continue
            for n in tagged:
                out.append(f"Untagged: {n}")
            _remove(store, image_id)
            out.append(f"Deleted: {hex_of(image_id)}")
        return out
    return _in_store(root, work)


def tag(root: str | None, source: str, targets: list[str]) -> None:
    from minirun.engine import reference

    def work(store: Store) -> None:
        image_id = store.lookup(source)
        for t in targets:
            ref = reference.parse(t)
            if ref.short:
                ref = ref.with_domain("localhost")
            store.tag(image_id, str(ref))
    _in_store(root, work)


def inspect(root: str | None, name: str) -> dict:
    store = Store(root)
    image_id = store.lookup(name)
    config = json.loads(store.read_blob(image_id))
    row = store.db.execute("SELECT manifest_digest, created, size FROM images WHERE id=?",
                           (image_id,)).fetchone()
    return {
        "Id": hex_of(image_id), "Digest": row[0], "RepoTags": store.names_of(image_id),
        "Created": config.get("created", row[1]), "Size": row[2],
        "Architecture": config.get("architecture"), "Os": config.get("os"),
        "Config": config.get("config", {}),
        "RootFS": {"Type": "layers", "Layers": [d for d, _ in store.image_layers(image_id)]},
        "History": config.get("history", []),
    }


def prune(root: str | None, all_: bool) -> list[str]:
    def work(store: Store) -> list[str]:
        out = []
        for image in store.images():
            image_id = "sha256:" + image["Id"]
            if store.users_of(image_id) or (image["Names"] and not all_):
                continue
            _remove(store, image_id)
            out.append(image["Id"])
        return out
    return _in_store(root, work)


def load(root: str | None, path: str) -> list[str]:
    from minirun.engine import archive
    from minirun.kernel.idmap import is_rootless
    path = os.path.abspath(path)
    return _in_store(root, lambda store: archive.load(store, path, is_rootless()))


def save(root: str | None, names: list[str], output: str, fmt: str) -> None:
    from minirun.engine import archive
    archive.save(Store(root), names, os.path.abspath(output), fmt)


def import_rootfs(root: str | None, tarball: str, name: str | None) -> str:
    from minirun.engine import archive
    from minirun.kernel.idmap import is_rootless
    tarball = os.path.abspath(tarball)
    return _in_store(root, lambda store: archive.import_rootfs(store, tarball, name,
                                                               is_rootless()))
