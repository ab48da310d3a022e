"""Layers: one unpacked directory per layer, named by its diff_id and
shared by every image that has it.

    <root>/layers/<hex>/            a layer unpacked
    <root>/layers/.tmp-<hex>/       a layer being unpacked
    <root>/layers/<hex>.lock        held while a layer is being unpacked
    <root>/layers-mapped/<map>/<hex>/   a copy with owners moved (keep-id)

A layer is unpacked into ``.tmp-<hex>`` and renamed into place only when
whole and verified, then recorded.  :meth:`Layers.recover` runs at every
open and removes temporary directories whose lock nobody holds, so a pull
killed at any moment leaves nothing a later pull could take for a layer.
"""
import fcntl
import os

from minirun.engine.store.shared import hex_of, remove_tree


class Layers:
    """The store's unpacked layers (uses ``root``, ``db``, ``transaction``)."""

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
        """An empty ``.tmp-<hex>`` to unpack into (one left by a killed
        unpack is cleared first)."""
        path = os.path.join(self.root, "layers", ".tmp-" + hex_of(diff_id))
        if os.path.lexists(path):
            remove_tree(path)
        os.mkdir(path, 0o755)
        return path

    def commit_layer(self, diff_id: str, tmp: str, size: int) -> None:
        """A whole, verified unpack becomes the layer, then is recorded."""
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
