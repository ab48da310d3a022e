"""inotify: events for a directory's entries, read from a descriptor.

Why (``--explain`` prints the item under the call):

- watch: a wait for a file wakes when the file appears, instead of polling
  (inotify(7))

See: inotify(7), inotify_init1(2), inotify_add_watch(2)
"""
import os
import struct

from minirun import explain
from minirun.kernel._native import check, lib

IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
EVENT = struct.Struct("iIII")           # struct inotify_event: wd, mask, cookie, len


def inotify_init1(flags: int = IN_NONBLOCK | IN_CLOEXEC) -> int:
    return check(lib.inotify_init1(flags), "inotify_init1")


def inotify_add_watch(fd: int, path: str, mask: int) -> int:
    explain.say(f"inotify_add_watch({path}, {mask:#x})", why="watch")
    return check(lib.inotify_add_watch(fd, path.encode(), mask), "inotify_add_watch", path)


def read_events(fd: int) -> list[tuple[int, int, str]]:
    """(wd, mask, name) of every event waiting; [] when none is."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return []
    events, at = [], 0
    while at + EVENT.size <= len(data):
        wd, mask, _, size = EVENT.unpack_from(data, at)
        name = data[at + EVENT.size:at + EVENT.size + size].split(b"\0", 1)[0]
        events.append((wd, mask, name.decode(errors="replace")))
        at += EVENT.size + size
    return events
