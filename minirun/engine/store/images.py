"""Images and tags: an image is a row keyed by its config digest (as podman
names images), with its manifest digest, its layers in order and the names
(``registry/path:tag``) that point at it.  An image row is written only
once all its layers are; removing one removes the layers, blobs and lazy
files no other image needs.

What the lazy room (``engine/lazy``) keeps for an image lives here too,
because the store owns every path under its root and removes it with the
image:

    <root>/lazy/images/<hex>.json   an image pulled lazily
    <root>/lazy/cache/sha256-<hex>  a lazy layer's fetched bytes (+ .windows)
"""
import json
import os
import time

from minirun.engine.store.shared import hex_of, remove_tree, unlink
from minirun.engine.store.space import StoreError
from minirun.errors import MiniRunError


class ImageNotFound(StoreError):
    """No image by that name, tag or id in the store: pull it first
    (``minirun images`` lists what is there)."""
    exit_code = 125


class Images:
    """The store's images and tags (uses ``root``, ``db``, ``transaction``,
    ``layer_dir`` and ``blob_path``)."""

    def add_image(self, image_id: str, manifest_digest: str, layers: list[tuple[str, str]],
                  size: int, names: list[str]) -> None:
        """Record an image (its layers as (diff_id, blob digest) in order)
        unless it is there, and point ``names`` at it."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.transaction() as db:
            exists = db.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone()
            if not exists:
                db.execute("INSERT INTO images (id, manifest_digest, created, size) "
                           "VALUES (?, ?, ?, ?)", (image_id, manifest_digest, created, size))
                db.executemany("INSERT INTO image_layers (image_id, position, diff_id, "
                               "blob_digest) VALUES (?, ?, ?, ?)",
                               [(image_id, i, d, b) for i, (d, b) in enumerate(layers)])
            for name in names:
                db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)",
                           (name, image_id))

    def images(self) -> list[dict]:
        """Every image, newest first, as ``minirun images --format json``."""
        rows = self.db.execute("SELECT id, manifest_digest, created, size FROM images "
                               "ORDER BY created DESC").fetchall()
        out = []
        for image_id, manifest_digest, created, size in rows:
            out.append({"Id": hex_of(image_id), "Digest": manifest_digest, "Created": created,
                        "Size": size, "Names": sorted(self.names_of(image_id))})
        return out

    def image_layers(self, image_id: str) -> list[tuple[str, str]]:
        """(diff_id, blob digest) of an image's layers, lowest first."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT diff_id, blob_digest FROM image_layers WHERE image_id=? ORDER BY position",
            (image_id,))]

    def lookup(self, text: str) -> str:
        """An image id from a name, a tag, a full or short id (as podman)."""
        return self.resolve(text)[0]

    def resolve(self, text: str) -> tuple[str, str | None]:
        """(image id, the tag ``text`` names), the tag None where ``text`` is
        an id: rmi untags a name but removes an image named by its id."""
        bare = text[7:] if text.startswith("sha256:") else text
        found = self._by_id(bare) or self._by_name(bare)
        if found is None:
            raise ImageNotFound(f"image `{text}` is not in the store: pull it first "
                                "(minirun images lists what is there)")
        return found

    def _by_id(self, bare: str) -> tuple[str, None] | None:
        """The image whose id starts with ``bare`` (at least 3 hex digits)."""
        if len(bare) < 3 or not all(c in "0123456789abcdef" for c in bare):
            return None
        rows = self.db.execute("SELECT id FROM images WHERE id LIKE ?",
                               (f"sha256:{bare}%",)).fetchall()
        if len(rows) > 1:
            raise StoreError(f"image id prefix `{bare}` is ambiguous: give more of it")
        return (rows[0][0], None) if rows else None

    def _by_name(self, text: str) -> tuple[str, str | None] | None:
        """The image a name points at.  A short name (no registry) is tried
        on localhost and Docker Hub, then on any registry holding that path
        and tag, if only one image has it."""
        from minirun.engine import reference
        try:
            ref = reference.parse(text)
        except MiniRunError:
            return None
        candidates = [str(ref)] if not ref.short else [
            str(ref.with_domain(d)) for d in ("localhost", reference.DOCKER_HUB)]
        for name in candidates:
            row = self.db.execute("SELECT image_id FROM tags WHERE name=?", (name,)).fetchone()
            if row:
                return row[0], name
        if not ref.short:
            return None
        suffix = f"/{ref.path}:{ref.tag}"
        hits = {(iid, n) for n, iid in self.db.execute("SELECT name, image_id FROM tags")
                if n.endswith(suffix) or n.endswith(f"/library{suffix}")}
        if len({iid for iid, _ in hits}) != 1:
            return None
        iid, name = min(hits)
        return iid, name if len(hits) == 1 else None

    def tag(self, image_id: str, name: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)",
                       (name, image_id))

    def untag(self, name: str) -> bool:
        """Remove a name; whether it was there."""
        with self.transaction() as db:
            return db.execute("DELETE FROM tags WHERE name=?", (name,)).rowcount > 0

    def names_of(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM tags WHERE image_id=?",
                                              (image_id,))]

    def users_of(self, image_id: str) -> list[str]:
        """The names (or ids) of the containers made from an image."""
        return [r[0] for r in self.db.execute(
            "SELECT coalesce(name, id) FROM containers WHERE image_id=?", (image_id,))]

    def remove_image(self, image_id: str) -> list[str]:
        """Forget an image; delete the layers and blobs no other image uses,
        and what the lazy room kept for it.  The diff_ids of layers removed."""
        with self.transaction() as db:
            layers = self.image_layers(image_id)
            manifest = db.execute("SELECT manifest_digest FROM images WHERE id=?",
                                  (image_id,)).fetchone()
            db.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
            db.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
            db.execute("DELETE FROM images WHERE id=?", (image_id,))
            gone = []
            for diff_id, _blob in layers:
                used = db.execute("SELECT 1 FROM image_layers WHERE diff_id=?",
                                  (diff_id,)).fetchone()
                if not used:
                    db.execute("DELETE FROM layers WHERE diff_id=?", (diff_id,))
                    gone.append(diff_id)
        for diff_id in gone:
            self._remove_layer_files(diff_id)
        self._remove_unused_blobs([image_id, *(b for _, b in layers),
                                   *(manifest[:1] if manifest else [])])
        self._forget_lazy(image_id)
        return gone

    def _remove_layer_files(self, diff_id: str) -> None:
        """A removed layer's directory, what an unpack cut short left of it,
        and its keep-id copies."""
        remove_tree(self.layer_dir(diff_id))
        for leftover in (".tmp-" + hex_of(diff_id), hex_of(diff_id) + ".lock"):
            path = os.path.join(self.root, "layers", leftover)
            if os.path.isdir(path):
                remove_tree(path)
            elif os.path.lexists(path):
                unlink(path)
        mapped = os.path.join(self.root, "layers-mapped")
        for mapping in os.listdir(mapped) if os.path.isdir(mapped) else []:
            copy = os.path.join(mapped, mapping, hex_of(diff_id))
            if os.path.lexists(copy):
                remove_tree(copy)

    def _remove_unused_blobs(self, digests: list[str]) -> None:
        """Those of ``digests`` (a removed image's config, layer blobs and
        manifest) that no image in the store still names."""
        in_use = {r[0] for r in self.db.execute("SELECT blob_digest FROM image_layers")}
        for row in self.db.execute("SELECT id, manifest_digest FROM images").fetchall():
            in_use.update(row)
        for digest in digests:
            if digest not in in_use:
                unlink(self.blob_path(digest))

    # --- what builds remember ----------------------------------------------

    def _build_cache(self, key: str = "") -> str:
        return os.path.join(self.root, "build-cache", key)

    def build_cache_lookup(self, key: str) -> str | None:
        """The image a build step with ``key`` made, if it is still here."""
        try:
            with open(self._build_cache(key)) as f:
                image_id = f.read().split()[0]
        except (OSError, IndexError):
            return None
        exists = self.db.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone()
        return image_id if exists else None

    def build_cache_remember(self, key: str, image_id: str, parent: str | None) -> None:
        """Remember the image a step made (and the one it was made on: an
        image that is a parent is an intermediate one, which `images`
        lists only with -a, as podman does)."""
        os.makedirs(self._build_cache(), exist_ok=True)
        tmp = self._build_cache(f".{key}.{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(f"{image_id} {parent or '-'}\n")
        os.replace(tmp, self._build_cache(key))

    def intermediate_images(self) -> set[str]:
        """Images without a name that a build made another image on."""
        directory = self._build_cache()
        parents = set()
        for key in os.listdir(directory) if os.path.isdir(directory) else []:
            try:
                with open(os.path.join(directory, key)) as f:
                    child, parent = f.read().split()[:2]
            except (OSError, ValueError):
                continue
            if child != parent and self.db.execute("SELECT 1 FROM images WHERE id=?",
                                                   (child,)).fetchone():
                parents.add(parent)
        named = {r[0] for r in self.db.execute("SELECT DISTINCT image_id FROM tags")}
        return parents - named

    # --- what the lazy room keeps here -------------------------------------

    def lazy_record(self, image_id: str) -> str:
        """The record of an image pulled lazily (engine/lazy/pull.py)."""
        return os.path.join(self.root, "lazy", "images", hex_of(image_id) + ".json")

    def lazy_cache(self, digest: str, part: str = "") -> str:
        """Where a lazy layer's fetched bytes (``part`` "") or its index's
        windows (".windows") are cached."""
        return os.path.join(self.root, "lazy", "cache", digest.replace(":", "-") + part)

    def _forget_lazy(self, image_id: str) -> None:
        """The image's lazy record, and the cached bytes of its layers that no
        image still has (the indexes stay: they are small, and a later pull
        of the same layers takes them)."""
        try:
            with open(self.lazy_record(image_id)) as f:
                layers = json.load(f)["layers"]
        except FileNotFoundError:
            return
        os.unlink(self.lazy_record(image_id))
        in_use = {blob for (blob,) in self.db.execute("SELECT blob_digest FROM image_layers")}
        cache = os.path.dirname(self.lazy_cache(""))
        for layer in layers:
            if layer["digest"] in in_use:
                continue
            prefix = os.path.basename(self.lazy_cache(layer["digest"]))
            for name in os.listdir(cache) if os.path.isdir(cache) else []:
                if name.startswith(prefix):
                    os.unlink(os.path.join(cache, name))
