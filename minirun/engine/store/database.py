"""The store's index: SQLite in WAL mode (many readers, one writer), its
schema and version, opening (serialised by a file lock, read-only on a
full disk) and transactions.

:class:`Database` is the part of :class:`~minirun.engine.store.Store` that
sets ``root`` and ``db``; the other parts use only those and
:meth:`Database.transaction`.
"""
import contextlib
import fcntl
import os
import sqlite3

from minirun.engine.store.space import full, no_space, space_errors

SCHEMA_VERSION = 4     # 2: containers.usage; 3: networks, leases; 4: pods
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
CREATE TABLE IF NOT EXISTS pods (     -- engine/pods: its containers name it in their options
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    infra TEXT,                       -- the infra container's id (NULL: --no-infra)
    options TEXT                      -- JSON: what `pod create` was asked
);
"""


def default_root() -> str:
    """/var/lib/minirun as root, ``$XDG_DATA_HOME/minirun`` rootless."""
    from minirun.kernel.idmap import is_rootless
    if not is_rootless():
        return "/var/lib/minirun"
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "minirun")


class Database:
    """Opening the store's directories and index, and writing to it."""

    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or default_root())
        self.read_only = False      # opened on a full disk: reads only
        with space_errors(self.root):
            for sub in ("blobs/sha256", "blobs/partial", "layers"):
                os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        try:
            self._open()
        except (OSError, sqlite3.OperationalError) as e:
            if not no_space(self.root, e):
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
            self.recover()      # what a killed pull left (layers.Layers.recover)
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
            if no_space(self.root, e):
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
            # tables added since: IF NOT EXISTS (so no ";" in SCHEMA's comments:
            # tests/unit/test_store.py upgrades a version-1 store)
            for statement in SCHEMA.split(";"):
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
