"""What the store shares with every room: the file name of a digest, a
container's directory, the timestamps of records, the rule for names of
containers, networks and volumes, and ``rm -rf`` of what the store holds.

These need no open database, so a room that only needs a path or a name
rule asks here, not the :class:`~minirun.engine.store.Store`.
"""
import contextlib
import os
import time

from minirun.engine import digest as dg
from minirun.errors import MiniRunError


def hex_of(digest: str) -> str:
    """``sha256:<hex>`` -> ``<hex>``: a blob's or layer's file name."""
    return dg.parse(digest)[1]


def now() -> str:
    """The time for a record, in RFC 3339 with nanoseconds (as podman)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def container_dir(store, cid: str) -> str:
    """``<root>/containers/<id>``: the bundle, logs and exit file of one."""
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


def unlink(path: str) -> None:
    """Remove a file that may be gone already."""
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
        unlink(path)
        return
    parent = os.open(os.path.dirname(os.path.abspath(path)) or "/",
                     os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _remove_dir(parent, os.path.basename(os.path.abspath(path)), st)
    finally:
        os.close(parent)


def _remove_dir(parent: int, name: str, st: os.stat_result) -> None:
    """``name`` in ``parent`` and all below it.  What vanishes meanwhile is
    no error: two removers of one container (``rm -f`` and its owner's pool)
    may meet in it."""
    try:
        if st.st_mode & 0o700 != 0o700:
            os.chmod(name, 0o700, dir_fd=parent)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
    except FileNotFoundError:
        return
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    try:
                        _remove_dir(fd, entry.name, entry.stat(follow_symlinks=False))
                    except FileNotFoundError:
                        pass
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=parent)


def tree_size(path: str) -> int:
    """The bytes of the files under ``path`` (their sizes; links not followed)."""
    total = 0
    for here, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(here, name)).st_size
            except OSError:
                pass
    return total
