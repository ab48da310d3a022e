"""A full disk: the store's errors, and the one place that recognises
running out of space (``ENOSPC``, ``EDQUOT``, or SQLite's own words for it)
and turns it into :class:`StoreFull`, naming the filesystem and the store.
"""
import contextlib
import errno
import os
import sqlite3

from minirun.errors import MiniRunError


class StoreError(MiniRunError):
    """The store cannot do what was asked (an image in use, none by that
    name); the message says which and what to do."""


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


def no_space(root: str, err: BaseException) -> bool:
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
        if no_space(root, e):
            raise full(root) from None
        raise
