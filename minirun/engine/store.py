"""The image store: blobs by digest, one unpacked directory per layer, and
an index of images, tags and layers in SQLite.

    <root>/store.db                 SQLite in WAL mode: many readers, one writer
    <root>/blobs/sha256/<hex>       verified blobs (manifests, configs, layers)
    <root>/blobs/partial/<hex>      downloads in progress (resumed, never trusted)
    <root>/layers/<hex>/            a layer unpacked, named by its diff_id
    <root>/layers/.tmp-<hex>/       a layer being unpacked
    <root>/layers/<hex>.lock        held while a layer is being unpacked

Crash safety: a layer is unpacked into ``.tmp-<hex>`` and renamed into place
only when whole and verified, then recorded; an image row is written only
once all its layers are.  Opening the store removes temporary directories
whose lock nobody holds, so a pull killed at any moment leaves nothing that a
later pull could mistake for a whole layer.

The root is /var/lib/minirun as root, ``$XDG_DATA_HOME/minirun`` rootless.
"""
import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import time

from minirun.engine import digest as dg
from minirun.errors import MiniRunError

SCHEMA_VERSION = 3     # 2: containers.usage; 3: networks, leases
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,              -- the config digest, as podman names images
    manifest_digest TEXT NOT NULL,
    created TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    diff_id TEXT NOT NULL,
    blob_digest TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,            -- registry/path:tag
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS layers (
    diff_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE,
    image_id TEXT REFERENCES images(id),
    created TEXT,
    state TEXT,                       -- created, running, exited
    pid INTEGER,
    exit_code INTEGER,
    started TEXT,
    finished TEXT,
    monitor TEXT,                     -- "pid:starttime" of the process watching it
    options TEXT,                     -- JSON: what `create` was asked
    usage TEXT                        -- JSON: what its cgroups counted when it exited
);
CREATE TABLE IF NOT EXISTS networks (
    name TEXT PRIMARY KEY,
    subnet TEXT NOT NULL UNIQUE,
    gateway TEXT NOT NULL,
    bridge TEXT NOT NULL UNIQUE,
    created TEXT
);
CREATE TABLE IF NOT EXISTS leases (   -- one address of a network, held by one container
    network TEXT NOT NULL REFERENCES networks(name),
    address TEXT NOT NULL,
    container TEXT NOT NULL,
    PRIMARY KEY (network, address)
);
"""


class StoreError(MiniRunError):
    """The store cannot do what was asked (an image in use, none by that
    name); the message says which and what to do."""


class ImageNotFound(StoreError):
    exit_code = 125


def default_root() -> str:
    from minirun.kernel.idmap import is_rootless
    if not is_rootless():
        return "/var/lib/minirun"
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "minirun")


def hex_of(digest: str) -> str:
    return dg.parse(digest)[1]


class StoreFull(StoreError):
    """The filesystem holding the store is full.  Nothing half-written is
    kept as whole; free space (minirun image prune, rm) and try again."""


def _mount_of(path: str) -> tuple[str, str]:
    """(source, mount point) of the filesystem holding ``path``: the last
    mount in mountinfo whose point is ``path`` or above it."""
    path = os.path.realpath(path)
    found = ("/", "/")
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                source = fields[fields.index("-") + 2]
                if path == point or path.startswith(point.rstrip("/") + "/"):
                    found = (source, point)
    except (OSError, ValueError, IndexError):
        pass
    return found


def full(root: str) -> StoreFull:
    """The one error for a store on a full filesystem, naming both."""
    source, point = _mount_of(root)
    return StoreFull(f"no space left on {source} (mounted at {point}) for the store at "
                     f"{root}: free some space (minirun image prune, minirun rm) and try again")


def _no_space(root: str, err: BaseException) -> bool:
    """Is ``err`` the filesystem being full?  SQLite says "database or disk is
    full", or "disk I/O error" when it cannot even grow its shared memory."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(err, sqlite3.OperationalError):
        text = str(err)
        if "disk is full" in text:
            return True
        if "disk I/O error" in text:
            try:
                return os.statvfs(root).f_bavail == 0
            except OSError:
                return False
    return False


@contextlib.contextmanager
def space_errors(root: str):
    """Turn running out of space under ``root`` into :class:`StoreFull`."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as e:
        if _no_space(root, e):
            raise full(root) from None
        raise


class Store:
    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        self.read_only = False      # opened on a full disk: reads only
        with space_errors(self.root):
            for sub in ("blobs/sha256", "blobs/partial", "layers"):
                os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        try:
            self._open()
        except (OSError, sqlite3.OperationalError) as e:
            if not _no_space(self.root, e):
                raise
            self._open_read_only()

    def _open(self) -> None:
        # Opening is serialised by a file lock: switching a new database to WAL
        # and creating its tables must not race another process doing the same
        # (SQLite answers "database is locked" there without waiting).
        lock = os.open(os.path.join(self.root, "store.lock"),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if not os.path.exists(os.path.join(self.root, "writers.lock")):  # (writing())
                os.close(os.open(os.path.join(self.root, "writers.lock"),
                                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.db = sqlite3.connect(os.path.join(self.root, "store.db"), timeout=60,
                                      isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=60000")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if not self._has_schema():
                self.db.executescript("BEGIN IMMEDIATE;" + SCHEMA +
                                      f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            elif self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._upgrade()
            self.recover()
        finally:
            os.close(lock)

    def _open_read_only(self) -> None:
        """On a full disk SQLite cannot make the WAL's shared memory, so the
        store is opened as an immutable file: reads work (ps, images,
        inspect, logs), and any write is refused with :class:`StoreFull`.
        The WAL is checkpointed into the file when its last user closes it;
        one still in use keeps its -shm, so the plain open above works."""
        path = os.path.join(self.root, "store.db")
        if not os.path.exists(path):
            raise full(self.root)
        with contextlib.suppress(Exception):
            self.db.close()
        self.db = sqlite3.connect(f"file:{path}?immutable=1", uri=True,
                                  isolation_level=None, check_same_thread=False)
        self.read_only = True

    def short_of_space(self) -> bool:
        """Opened read-only, or under a MiB left: a write would fail."""
        try:
            st = os.statvfs(self.root)
        except OSError:
            return self.read_only
        return self.read_only or st.f_bavail * st.f_frsize < 1 << 20

    def reopen(self) -> None:
        """Writable again once space was freed (rm removes a container's
        files before its record); :class:`StoreFull` if there still is none."""
        if not self.read_only:
            return
        try:
            self._open()
        except (OSError, sqlite3.OperationalError) as e:
            if _no_space(self.root, e):
                self._open_read_only()
                raise full(self.root) from None
            raise
        self.read_only = False

    def _upgrade(self) -> None:
        """Stores made by an earlier minirun: add what they lack."""
        with self.transaction() as db:
            columns = {r[1] for r in db.execute("PRAGMA table_info(containers)")}
            if "usage" not in columns:
                db.execute("ALTER TABLE containers ADD COLUMN usage TEXT")
            for statement in SCHEMA.split(";"):     # tables added since: IF NOT EXISTS
                if "CREATE TABLE" in statement:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _has_schema(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name='images'").fetchone() \
            is not None

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE: one writer at a time, across processes.  A full
        disk is :class:`StoreFull`, and the transaction is rolled back."""
        if self.read_only:
            raise full(self.root)
        with space_errors(self.root):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    # --- blobs -------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", hex_of(digest))

    def partial_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "partial", hex_of(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str, verify: bool = True) -> bytes:
        """A blob's bytes, hashed again unless ``verify`` is False (for the
        hot path of `run`: blobs were verified when they were written)."""
        with open(self.blob_path(digest), "rb") as f:
            data = f.read()
        if verify and dg.of_bytes(data) != digest:
            raise dg.DigestError(f"blob {digest} in the store is corrupt: remove the image "
                                 "and pull it again")
        return data

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        got = dg.of_bytes(data)
        if digest is not None and got != digest:
            raise dg.DigestError(f"blob: content has digest {got}, expected {digest}")
        path = self.blob_path(got)
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return got

    def commit_partial(self, digest: str) -> None:
        """A fully downloaded and verified partial blob becomes a blob."""
        os.replace(self.partial_path(digest), self.blob_path(digest))

    # --- layers ------------------------------------------------------------

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", hex_of(diff_id))

    def mapped_layer_dir(self, diff_id: str, mapping: str) -> str:
        """A copy of a layer with its owners moved (``--userns keep-id``)."""
        return os.path.join(self.root, "layers-mapped", mapping, hex_of(diff_id))

    def has_layer(self, diff_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM layers WHERE diff_id=?", (diff_id,)).fetchone()
        return row is not None and os.path.isdir(self.layer_dir(diff_id))

    def layer_lock(self, diff_id: str):
        """Held while one process unpacks a layer; others wait, then find it."""
        from minirun.runtime.state import file_lock
        return file_lock(os.path.join(self.root, "layers", hex_of(diff_id) + ".lock"))

    def temp_layer_dir(self, diff_id: str) -> str:
        path = os.path.join(self.root, "layers", ".tmp-" + hex_of(diff_id))
        if os.path.lexists(path):
            remove_tree(path)
        os.mkdir(path, 0o755)
        return path

    def commit_layer(self, diff_id: str, tmp: str, size: int) -> None:
        final = self.layer_dir(diff_id)
        if os.path.lexists(final):
            remove_tree(final)
        os.rename(tmp, final)
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO layers (diff_id, size) VALUES (?, ?)",
                       (diff_id, size))

    def recover(self) -> None:
        """Remove what a killed pull left: temporary layer directories nobody
        is unpacking, and layer directories the index does not know."""
        layers = os.path.join(self.root, "layers")
        known = {hex_of(r[0]) for r in self.db.execute("SELECT diff_id FROM layers")}
        for name in os.listdir(layers):
            if name.endswith(".lock"):
                continue
            hexname = name[5:] if name.startswith(".tmp-") else name
            if not name.startswith(".tmp-") and hexname in known:
                continue
            lock = os.path.join(layers, hexname + ".lock")
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # being unpacked right now
                remove_tree(os.path.join(layers, name))
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def writing(self):
        """Held (shared) by whatever puts blobs in before the image that
        names them is recorded (pull, load, import): :meth:`collect` leaves
        blobs alone while anyone holds it."""
        fd = os.open(os.path.join(self.root, "writers.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def referenced_blobs(self) -> set[str]:
        """The hex names of the blobs some image needs: its config, its
        manifest, its layers' blobs (a lazy image's too, kept whole once
        fetched)."""
        rows = self.db.execute("SELECT id, manifest_digest FROM images").fetchall()
        names = {hex_of(d) for row in rows for d in row}
        names |= {hex_of(r[0]) for r in self.db.execute(
            "SELECT blob_digest FROM image_layers")}
        return names

    def collect(self) -> list[str]:
        """Remove the blobs no image references (left by a failed pull,
        load or import), unless a pull, load or import is under way: its
        blobs are not referenced yet.  The hex names removed."""
        fd = os.open(os.path.join(self.root, "writers.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []
            self._collect_layers()
            keep = self.referenced_blobs()
            blobs = os.path.join(self.root, "blobs", "sha256")
            gone = [n for n in os.listdir(blobs) if n not in keep]
            for name in gone:
                _unlink(os.path.join(blobs, name))
            layers = os.path.join(self.root, "layers")
            for name in os.listdir(layers):      # locks of layers never finished
                if name.endswith(".lock") and not os.path.isdir(
                        os.path.join(layers, name[:-5])):
                    self._drop_lock(os.path.join(layers, name))
            return [n for n in gone if not n.endswith(".tmp")]
        finally:
            os.close(fd)

    def _collect_layers(self) -> None:
        """Layers no image has (a pull that failed after them): their record
        and directory, so that no later image takes a layer without its blob."""
        rows = self.db.execute("SELECT diff_id FROM layers WHERE diff_id NOT IN "
                               "(SELECT diff_id FROM image_layers)").fetchall()
        if not rows:
            return
        with self.transaction() as db:
            db.executemany("DELETE FROM layers WHERE diff_id=?", rows)
        for (diff_id,) in rows:
            remove_tree(self.layer_dir(diff_id))

    @staticmethod
    def _drop_lock(path: str) -> None:
        """Remove a lock file nobody holds (a waiter that then gets the lock
        of the removed file tries again: runtime/state.file_lock)."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _unlink(path)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)

    # --- images ------------------------------------------------------------

    def add_image(self, image_id: str, manifest_digest: str, layers: list[tuple[str, str]],
                  size: int, names: list[str]) -> None:
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
        rows = self.db.execute("SELECT id, manifest_digest, created, size FROM images "
                               "ORDER BY created DESC").fetchall()
        out = []
        for image_id, manifest_digest, created, size in rows:
            names = [r[0] for r in self.db.execute(
                "SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]
            out.append({"Id": hex_of(image_id), "Digest": manifest_digest, "Created": created,
                        "Size": size, "Names": names})
        return out

    def image_layers(self, image_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT diff_id, blob_digest FROM image_layers WHERE image_id=? ORDER BY position",
            (image_id,))]

    def lookup(self, text: str) -> str:
        """An image id from a name, a tag, a full or short id (as podman)."""
        return self.resolve(text)[0]

    def resolve(self, text: str) -> tuple[str, str | None]:
        """(image id, the tag ``text`` names), the tag None where ``text`` is
        an id: rmi untags a name but removes an image named by its id."""
        from minirun.engine import reference
        bare = text[7:] if text.startswith("sha256:") else text
        if len(bare) >= 3 and all(c in "0123456789abcdef" for c in bare):
            rows = self.db.execute("SELECT id FROM images WHERE id LIKE ?",
                                   (f"sha256:{bare}%",)).fetchall()
            if len(rows) == 1:
                return rows[0][0], None
            if len(rows) > 1:
                raise StoreError(f"image id prefix `{bare}` is ambiguous: give more of it")
        try:
            ref = reference.parse(bare)
        except MiniRunError:
            ref = None
        if ref is not None:
            candidates = [str(ref)] if not ref.short else [
                str(ref.with_domain(d)) for d in ("localhost", reference.DOCKER_HUB)]
            for name in candidates:
                row = self.db.execute("SELECT image_id FROM tags WHERE name=?", (name,)).fetchone()
                if row:
                    return row[0], name
            if ref.short:   # any registry's image of that path and tag
                rows = self.db.execute("SELECT name, image_id FROM tags").fetchall()
                suffix = f"/{ref.path}:{ref.tag}"
                hits = {(iid, n) for n, iid in rows if n.endswith(suffix)
                        or n.endswith(f"/library{suffix}")}
                if len({iid for iid, _ in hits}) == 1:
                    iid, name = min(hits)
                    return iid, name if len(hits) == 1 else None
        raise ImageNotFound(f"image `{text}` is not in the store: pull it first "
                            "(minirun images lists what is there)")

    def tag(self, image_id: str, name: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)",
                       (name, image_id))

    def untag(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM tags WHERE name=?", (name,)).rowcount > 0

    def names_of(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM tags WHERE image_id=?",
                                              (image_id,))]

    def users_of(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT coalesce(name, id) FROM containers WHERE image_id=?", (image_id,))]

    def remove_image(self, image_id: str) -> list[str]:
        """Forget an image; delete the layers and blobs no other image uses,
        and what the lazy room kept for it."""
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
        mapped = os.path.join(self.root, "layers-mapped")
        for diff_id in gone:
            remove_tree(self.layer_dir(diff_id))
            for leftover in (".tmp-" + hex_of(diff_id), hex_of(diff_id) + ".lock"):
                path = os.path.join(self.root, "layers", leftover)   # (an unpack cut short)
                if os.path.isdir(path):
                    remove_tree(path)
                elif os.path.lexists(path):
                    _unlink(path)
            for mapping in os.listdir(mapped) if os.path.isdir(mapped) else []:
                copy = os.path.join(mapped, mapping, hex_of(diff_id))
                if os.path.lexists(copy):
                    remove_tree(copy)
        blobs_in_use = {b for _, b in self.db.execute(
            "SELECT diff_id, blob_digest FROM image_layers")}
        ids_in_use = {r[0] for r in self.db.execute("SELECT id FROM images")}
        manifests = {r[0] for r in self.db.execute("SELECT manifest_digest FROM images")}
        for _, blob in layers:
            if blob not in blobs_in_use:
                _unlink(self.blob_path(blob))
        if image_id not in ids_in_use:
            _unlink(self.blob_path(image_id))
        if manifest and manifest[0] not in manifests:
            _unlink(self.blob_path(manifest[0]))
        self._forget_lazy(image_id)
        return gone

    # --- what the lazy room (engine/lazy) keeps here: the store owns every
    # path under its root, so removing an image removes this too.

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


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(path: str) -> None:
    """rm -rf that also clears directories a layer left without write or
    search permission (an image may ship a 0500 directory).  Through file
    descriptors, never following a link; no shutil, which costs `run --rm`
    3 ms to import."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not os.path.isdir(path) or os.path.islink(path):
        _unlink(path)
        return
    parent = os.open(os.path.dirname(os.path.abspath(path)) or "/",
                     os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _remove_dir(parent, os.path.basename(os.path.abspath(path)), st)
    finally:
        os.close(parent)


def _remove_dir(parent: int, name: str, st: os.stat_result) -> None:
    if st.st_mode & 0o700 != 0o700:
        os.chmod(name, 0o700, dir_fd=parent)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                 dir_fd=parent)
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    _remove_dir(fd, entry.name, entry.stat(follow_symlinks=False))
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=parent)


def now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def container_dir(store: Store, cid: str) -> str:
    return os.path.join(store.root, "containers", cid)


NAME_RULE = "[a-zA-Z0-9][a-zA-Z0-9_.-]*"


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


NAME_MAX = 253      # a name is a host name on a network: at most a DNS name's length


def check_name(name: str, what: str) -> str:
    """A container's, network's or volume's name, by podman's rule: it goes
    into /etc/hosts lines, paths and interface names, so a `/`, a space or a
    newline would be read as something else there."""
    if not name or not name[0].isalnum() or not name.isascii() or \
            not set(name) <= _NAME_CHARS:
        raise MiniRunError(f"{what} name {name!r} invalid: names must match {NAME_RULE}: "
                           "invalid argument")
    if len(name) > NAME_MAX:
        raise MiniRunError(f"{what} name {name[:20]!r}... invalid: names must be at most "
                           f"{NAME_MAX} characters: invalid argument")
    return name
