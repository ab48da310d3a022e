"""The image store: blobs by digest, one unpacked directory per layer, and
an index of images, tags, layers, containers and networks in SQLite.  It is
the engine's base: every room uses it, and it imports no room.

    <root>/store.db                 SQLite in WAL mode: many readers, one writer
    <root>/blobs/sha256/<hex>       verified blobs (manifests, configs, layers)
    <root>/blobs/partial/<hex>      downloads in progress (resumed, never trusted)
    <root>/layers/<hex>/            a layer unpacked, named by its diff_id
    <root>/layers/.tmp-<hex>/       a layer being unpacked
    <root>/layers/<hex>.lock        held while a layer is being unpacked
    <root>/layers-mapped/<map>/     layers copied with owners moved (keep-id)
    <root>/lazy/                    what the lazy room keeps for an image
    <root>/containers/<id>/         a container's bundle, log and exit file
    <root>/build-cache/<key>        the image a build step made, and its parent
    <root>/build-cache-mounts/<id>/ a RUN --mount=type=cache directory

Crash safety: a layer is unpacked into ``.tmp-<hex>`` and renamed into place
only when whole and verified, then recorded; an image row is written only
once all its layers are.  Opening the store removes temporary directories
whose lock nobody holds, so a pull killed at any moment leaves nothing that a
later pull could mistake for a whole layer.

The root is /var/lib/minirun as root, ``$XDG_DATA_HOME/minirun`` rootless.

Reading order, one concern per module:

    shared.py     what every room asks without a Store: hex_of, now,
                  container_dir, check_name, remove_tree
    space.py      the store's errors; a full disk as one StoreFull
    database.py   the schema, opening (read-only on a full disk), transactions
    blobs.py      blobs by digest, partial downloads
    layers.py     unpacked layers, and recovery from a killed pull
    images.py     images and tags, rmi, the lazy room's paths
    collect.py    the garbage collector: what no image references

:class:`Store` is those parts together; ``from minirun.engine.store import
...`` gives every name callers use.  The containers' and networks' rows
are read and written by their rooms (``containers/``,
``network/bridge.py`` and ``network/connect.py``) through
:meth:`Store.transaction`.
"""
from minirun.engine.store.blobs import Blobs
from minirun.engine.store.collect import Collector
from minirun.engine.store.database import SCHEMA, SCHEMA_VERSION, Database, default_root
from minirun.engine.store.images import ImageNotFound, Images
from minirun.engine.store.layers import Layers
from minirun.engine.store.shared import (NAME_MAX, NAME_RULE, check_name, container_dir,
                                         hex_of, now, remove_tree, tree_size)
from minirun.engine.store.space import StoreError, StoreFull, full, space_errors

__all__ = ["Store", "StoreError", "StoreFull", "ImageNotFound", "SCHEMA", "SCHEMA_VERSION",
           "default_root", "full", "space_errors", "hex_of", "now", "container_dir",
           "check_name", "NAME_RULE", "NAME_MAX", "remove_tree", "tree_size"]


class Store(Blobs, Layers, Images, Collector, Database):
    """One store under ``root`` (default :func:`default_root`), open: its
    index in ``db``, ``read_only`` when opened on a full disk."""
