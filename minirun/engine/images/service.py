"""The image commands' work, for the CLI and the Python API: pull, list,
remove, tag, inspect.  Rootless, whatever writes the store runs as root of
a user namespace (userns.py) so that layer files keep their owners."""
import json
import os

from minirun.engine import events, userns
from minirun.engine.store import (ImageNotFound, Store, StoreError, hex_of, space_errors,
                                  tree_size)
from minirun.errors import MiniRunError


def in_store(root: str | None, fn, *args, **kwargs):
    """Run ``fn(store, ...)`` where it may write the store; a full disk
    there is one :class:`StoreFull` error."""
    def work():
        store = Store(root)
        with space_errors(store.root):
            return fn(store, *args, **kwargs)
    return userns.as_root(work) if userns.needed() else work()


def _adding(store: Store, fn, *args, **kwargs):
    """``fn(store, ...)`` that adds blobs before it records the image naming
    them (load, import): if it fails, what it added goes again (nothing
    else writing meanwhile), so refused input leaves the store as it was."""
    try:
        with store.writing():
            return fn(store, *args, **kwargs)
    except BaseException:
        try:
            store.collect()
        except (OSError, MiniRunError):
            pass                # (a full disk: the error that matters is fn's)
        raise


def pull(root: str | None, name: str, *, tls_verify: bool | None = None,
         quiet: bool = False) -> str:
    from minirun.engine.images import pull as pull_mod
    from minirun.kernel.idmap import is_rootless
    rootless = is_rootless()
    def work(store: Store) -> str:
        with store.writing():   # (a failed pull keeps its layers: the next one resumes)
            image_id = pull_mod.pull(store, name, tls_verify=tls_verify, quiet=quiet,
                                     rootless=rootless)
        events.emit(store.root, "image", "pull", name=name)
        return image_id
    return in_store(root, work)


def listing(root: str | None) -> list[dict]:
    return Store(root).images()


def summaries(root: str | None) -> list[dict]:
    """Every image as podman's ``images --format json`` prints it (its
    ImageSummary), newest first."""
    store = Store(root)
    out = []
    for image in store.images():
        image_id = "sha256:" + image["Id"]
        repo_digests = [f"{n.rpartition(':')[0] if '@' not in n else n.split('@')[0]}"
                        f"@{image['Digest']}" for n in image["Names"]] if image["Digest"] else []
        out.append({
            "Id": image["Id"], "ParentId": "", "RepoTags": None, "RepoDigests": repo_digests,
            "Size": image["Size"], "SharedSize": 0, "VirtualSize": image["Size"],
            "Labels": (_config(store, image_id).get("Labels") or None),
            "Containers": len(store.users_of(image_id)), "Names": image["Names"],
            "Digest": image["Digest"], "History": image["Names"],
            "Created": int(_epoch(image["Created"])), "CreatedAt": image["Created"]})
    return out


def _config(store: Store, image_id: str) -> dict:
    try:
        return json.loads(store.read_blob(image_id, verify=False)).get("config") or {}
    except (StoreError, ValueError, OSError):
        return {}


def _epoch(stamp: str) -> float:
    import datetime
    try:
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return 0.0
    return when.timestamp()


class ImageInUse(StoreError):
    """rmi of an image a container uses: remove the container, or use -f
    (which removes it too).  Exit code 2, as podman's."""
    exit_code = 2


def _plan(store: Store, name: str, force: bool) -> tuple[str, str | None, list[str]]:
    """What `rmi NAME` does, decided before anything changes: (image id,
    the one tag to take off or None to remove the image, the containers
    -f removes with it).  As podman: a tag that is not the image's last
    is only untagged, in use or not; an id names every tag, so it needs -f
    where there are several."""
    image_id, tag = store.resolve(name)
    tags = store.names_of(image_id)
    if tag is not None and len(tags) > 1:
        return image_id, tag, []
    if tag is None and len(tags) > 1 and not force:
        raise StoreError(f"unable to delete image `{hex_of(image_id)}` by ID with more than "
                         f"one tag ({', '.join(sorted(tags))}): please force removal (-f)")
    users = store.users_of(image_id)
    if users and not force:
        raise ImageInUse(f"image `{name}` is used by container(s) {', '.join(users)}: "
                         "remove them first or use -f")
    return image_id, None, users


def remove(root: str | None, names: list[str], force: bool = False,
           remove_container=None) -> list[str]:
    """rmi: every name checked first, then the containers -f must remove
    (here, where they were made, through ``remove_container(store, cid)``:
    the containers room's, which the caller passes, as this room never
    reaches up into that one), then the store's work."""
    store = Store(root)
    plans = [_plan(store, name, force) for name in names]
    for _, _, users in plans:
        for user in users:
            remove_container(store, user)

    def work(store: Store) -> list[str]:
        out = []
        for image_id, tag, _ in plans:
            if tag is not None:
                if store.untag(tag):
                    out.append(f"Untagged: {tag}")
                    events.emit(store.root, "image", "untag", hex_of(image_id), tag)
                continue
            if not store.db.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone():
                continue                # named twice on the line
            names = sorted(store.names_of(image_id))
            out += [f"Untagged: {n}" for n in names]
            store.remove_image(image_id)
            out.append(f"Deleted: {hex_of(image_id)}")
            events.emit(store.root, "image", "remove", hex_of(image_id),
                        names[0] if names else "")
        return out
    return in_store(root, work)


def tag(root: str | None, source: str, targets: list[str]) -> None:
    from minirun.engine import reference

    def work(store: Store) -> None:
        image_id = store.lookup(source)
        for t in targets:
            ref = reference.parse(t)
            if ref.short:
                ref = ref.with_domain("localhost")
            store.tag(image_id, str(ref))
            events.emit(store.root, "image", "tag", hex_of(image_id), str(ref))
    in_store(root, work)


def untag(root: str | None, image: str, names: list[str]) -> None:
    """podman untag: the names given (all, if none) taken off the image."""
    from minirun.engine import reference

    def work(store: Store) -> None:
        image_id = store.lookup(image)
        mine = store.names_of(image_id)
        targets = mine if not names else []
        for n in names:
            ref = reference.parse(n)
            full = str(ref.with_domain("localhost") if ref.short else ref)
            if full not in mine:
                raise ImageNotFound(f"{n}: not a name of image {hex_of(image_id)[:12]}")
            targets.append(full)
        for t in targets:
            store.untag(t)
            events.emit(store.root, "image", "untag", hex_of(image_id), t)
    in_store(root, work)


def inspect(root: str | None, name: str) -> dict:
    """An image as podman's ``image inspect`` shows it."""
    store = Store(root)
    image_id = store.lookup(name)
    config = json.loads(store.read_blob(image_id))
    row = store.db.execute("SELECT manifest_digest, created, size FROM images WHERE id=?",
                           (image_id,)).fetchone()
    names = sorted(store.names_of(image_id))
    inner = config.get("config") or {}
    return {
        "Id": hex_of(image_id), "Digest": row[0], "RepoTags": names,
        "RepoDigests": [f"{n.rpartition(':')[0]}@{row[0]}" for n in names] if row[0] else [],
        "Parent": "", "Comment": config.get("comment", ""),
        "Created": config.get("created", row[1]), "Config": inner,
        "Version": config.get("docker_version", ""), "Author": config.get("author", ""),
        "Architecture": config.get("architecture"), "Os": config.get("os"),
        "Size": row[2], "VirtualSize": row[2],
        "GraphDriver": {"Name": "overlay", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": [d for d, _ in store.image_layers(image_id)]},
        "Labels": inner.get("Labels") or None, "Annotations": {},
        "ManifestType": "application/vnd.oci.image.manifest.v1+json",
        "User": inner.get("User", ""), "History": config.get("history", []),
        "NamesHistory": names,
    }


def commit(root: str | None, upper: str, base_id: str, **kwargs) -> str:
    """A new image of ``base_id`` and the changes in directory ``upper`` (an
    overlay upper directory: layerdiff.py), written and added where the
    store is written (a plain user's: its user namespace, where the files'
    owners are the container's); its id.  ``kwargs``: archive.commit_image's."""
    from minirun.kernel.idmap import is_rootless
    return in_store(root, _adding, _commit, upper, base_id, rootless=is_rootless(), **kwargs)


def _commit(store: Store, upper: str, base_id: str, **kwargs) -> str:
    import tempfile
    from minirun.engine.images import archive, layerdiff
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".commit-") as tmp:
        layer = os.path.join(tmp, "layer.tar")
        layerdiff.write_layer(upper, layer)
        return archive.commit_image(store, base_id, layer, **kwargs)


def write_image(root: str | None, base_id: str | None, layer: str | None, config: dict,
                history: list[dict], *, upper: str | None = None, fmt: str = "oci") -> str:
    """A build step's image (archive.write_image), its layer the tar at
    ``layer`` or the changes in ``upper`` (written as ``commit`` writes
    them), written where the store is written; its id."""
    from minirun.kernel.idmap import is_rootless
    def work(store: Store) -> str:
        from minirun.engine.images import archive, layerdiff
        if upper is None:
            return archive.write_image(store, base_id, layer, config, history, names=[],
                                       rootless=rootless, fmt=fmt)
        import tempfile
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".commit-") as tmp:
            tar = os.path.join(tmp, "layer.tar")
            layerdiff.write_layer(upper, tar)
            return archive.write_image(store, base_id, tar, config, history, names=[],
                                       rootless=rootless, fmt=fmt)
    rootless = is_rootless()
    return in_store(root, _adding, work)


def history(root: str | None, name: str) -> list[dict]:
    """podman's history entries of an image, newest first: the config's
    history, each entry that made a layer given that layer's size (the top
    one the image's id, the others <missing>, as podman)."""
    store = Store(root)
    image_id = store.lookup(name)
    config = json.loads(store.read_blob(image_id))
    layers = [d for d, _ in store.image_layers(image_id)]
    sizes = [tree_size(store.layer_dir(d)) for d in layers]
    entries = config.get("history") or []
    # entries that made layers are the last layers' (an imported base may have none)
    out, layer = [], len(layers) - sum(not e.get("empty_layer") for e in entries)
    for entry in entries:
        made = not entry.get("empty_layer")
        out.append({"id": "<missing>", "created": entry.get("created", ""),
                    "CreatedBy": entry.get("created_by", ""),
                    "size": sizes[layer] if made and 0 <= layer < len(sizes) else 0,
                    "comment": entry.get("comment", ""), "tags": None})
        layer += made
    out.reverse()
    if out:
        out[0].update(id=hex_of(image_id), tags=sorted(store.names_of(image_id)) or None)
    return out


def prune(root: str | None, all_: bool) -> list[str]:
    def work(store: Store) -> list[str]:
        out = []
        keep = set() if all_ else store.intermediate_images()   # (a build's cache)
        for image in store.images():
            image_id = "sha256:" + image["Id"]
            if store.users_of(image_id) or (image["Names"] and not all_) or image_id in keep:
                continue
            store.remove_image(image_id)
            out.append(image["Id"])
        store.collect()     # and blobs nothing references (a failed import's, say)
        return out
    return in_store(root, work)


def load(root: str | None, path: str) -> list[str]:
    from minirun.engine.images import archive
    from minirun.kernel.idmap import is_rootless
    path = os.path.abspath(path)
    names = in_store(root, _adding, archive.load, path, is_rootless())
    for name in names:
        events.emit(Store(root).root, "image", "load", name=name)
    return names


def save(root: str | None, names: list[str], output: str, fmt: str) -> None:
    from minirun.engine.images import archive
    archive.save(Store(root), names, os.path.abspath(output), fmt)


def import_rootfs(root: str | None, tarball: str, name: str | None) -> str:
    from minirun.engine.images import archive
    from minirun.kernel.idmap import is_rootless
    tarball = os.path.abspath(tarball)
    image_id = in_store(root, _adding, archive.import_rootfs, tarball, name, is_rootless())
    events.emit(Store(root).root, "image", "import", hex_of(image_id), name or "")
    return image_id


def copy(root: str | None, source: str, destination: str, *,
         src_tls_verify: bool | None = None, dest_tls_verify: bool | None = None,
         quiet: bool = False, fmt: str | None = None, all_: bool = False) -> str:
    """skopeo copy: the image ``source`` names to where ``destination``
    names (the transports package); the digest of the manifest written.  Into the
    store, the copy runs where the store is written, and what it added
    is collected again if it fails."""
    import sys
    from minirun.engine.images import transports
    from minirun.kernel.idmap import is_rootless

    def say(line: str) -> None:
        if not quiet:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()          # (from the store's child, too)
    kind, rest = transports.split(destination)
    if kind != "containers-storage":
        src = transports.source(source, root=root, tls_verify=src_tls_verify)
        try:                            # (the source first: a missing one writes nothing)
            dst = transports.destination(destination, tls_verify=dest_tls_verify)
        except BaseException:
            src.close()
            raise
        return transports.copy(src, dst, say, fmt, all_)
    transports.split(source)            # (a misspelt source: said before any fork)
    rootless = is_rootless()

    def work(store: Store) -> str:
        src = transports.source(source, root=root, tls_verify=src_tls_verify)
        return transports.copy(src, transports.StoreDestination(store, rest, rootless), say,
                               fmt, all_)
    return in_store(root, _adding, work)
