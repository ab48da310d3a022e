"""The garbage collector: blobs and layers that no image references, left
by a pull, load or import that failed before it recorded its image.

Writers hold ``<root>/writers.lock`` shared (:meth:`Collector.writing`)
from their first blob until their image row is written; :meth:`Collector.
collect` takes it exclusively without waiting, so it never removes the
blobs of an image still being written: it does nothing while one is.
"""
import contextlib
import fcntl
import os

from minirun.engine.store.shared import hex_of, remove_tree, unlink


class Collector:
    """What no image needs, removed (uses ``root``, ``db``, ``transaction``
    and ``layer_dir``)."""

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
                unlink(os.path.join(blobs, name))
            layers = os.path.join(self.root, "layers")
            for name in os.listdir(layers):      # locks of layers never finished
                if name.endswith(".lock") and not os.path.isdir(
                        os.path.join(layers, name[:-5])):
                    _drop_lock(os.path.join(layers, name))
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


def _drop_lock(path: str) -> None:
    """Remove a lock file nobody holds (a waiter that then gets the lock
    of the removed file tries again: runtime/state.file_lock)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        unlink(path)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
