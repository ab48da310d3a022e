"""glibc's /etc/ld.so.cache, read in Python: which shared libraries the
dynamic loader knows, by soname, and where each one lies.

`ldconfig` writes the cache; `ldconfig -p` prints it.  The file holds one
or both of two formats, read here alike:

- the old one (magic ``ld.so-1.7.0``, glibc before 2.32 wrote it first):
  a count, then 12-byte entries (flags, key, value), then the strings;
  offsets count from the start of the strings.
- the new one (magic ``glibc-ld.so.cache`` and version ``1.1``): a 48-byte
  header (count, length of the strings, an endianness byte, the offset of
  the extensions), then 24-byte entries (flags, key, value, osversion,
  hwcap); offsets count from the start of that header.  When both are
  present, the new one follows the old entries, aligned to 8 bytes.

An entry's key is the soname (``libcuda.so.1``), its value the path the
loader opens, usually the soname link beside the versioned file.  The
flags say which ABI the library is for (``libc6,x86-64``), so a 32-bit
copy can be told from the native one.

See: ldconfig(8), ld.so(8); glibc's sysdeps/generic/dl-cache.h
"""
import os
import struct

from minirun.errors import MiniRunError
from minirun.records import record

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"

FLAG_ELF_LIBC6 = 0x0003
FLAG_TYPE_MASK = 0x00ff
FLAG_REQUIRED_MASK = 0xff00
# the ABI part of the flags, as `ldconfig -p` names it, for the ABIs minirun runs on
ABI_NAMES = {0x0000: "", 0x0300: "x86-64", 0x0800: "x32", 0x0a00: "AArch64",
             0x0500: "64bit", 0x0900: "hard-float"}
# the ABI this machine's own programs use (None: take every entry)
NATIVE_ABI = {"x86_64": 0x0300, "aarch64": 0x0a00}.get(os.uname().machine)  # (platform: 3 ms)


@record
class Entry:
    soname: str      # the key: libcuda.so.1
    path: str        # where the loader finds it: /usr/lib/x86_64-linux-gnu/libcuda.so.1
    flags: int       # FLAG_ELF_LIBC6 | an ABI (0x0300 x86-64)

    @property
    def native(self) -> bool:
        """Is it for this machine's own ABI (not a 32-bit or x32 copy)?"""
        return NATIVE_ABI is None or (self.flags & FLAG_REQUIRED_MASK) == NATIVE_ABI


class LdCacheError(MiniRunError):
    """The file is not an ld.so.cache minirun can read (says why): run
    `ldconfig` (or `ldconfig -r ROOT`) to write it again."""


def read(path: str) -> list[Entry]:
    """The entries of the cache at ``path``, in the file's order (the
    loader's order of preference).  A missing file is an empty list; a file
    that is not a cache raises LdCacheError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return parse(data, path)


def parse(data: bytes, name: str = "ld.so.cache") -> list[Entry]:
    """The entries of a cache held in ``data`` (the new format where the
    file has it, else the old one)."""
    new_at = 0
    if data.startswith(OLD_MAGIC):
        count = _u32(data, 12, name)
        entries_end = 16 + 12 * count
        new_at = (entries_end + 7) & ~7
        if data[new_at:new_at + len(NEW_MAGIC)] != NEW_MAGIC:
            return _old_entries(data, count, entries_end, name)
    if data[new_at:new_at + len(NEW_MAGIC)] != NEW_MAGIC:
        raise LdCacheError(f"{name}: not an ld.so.cache (neither {OLD_MAGIC.decode()!r} "
                           f"nor {NEW_MAGIC.decode()!r} at its start)")
    return _new_entries(data, new_at, name)


def _old_entries(data: bytes, count: int, strings_at: int, name: str) -> list[Entry]:
    entries = []
    for i in range(count):
        flags, key, value = _unpack("<iII", data, 16 + 12 * i, name)
        entries.append(Entry(soname=_string(data, strings_at + key, name),
                             path=_string(data, strings_at + value, name), flags=flags))
    return entries


def _new_entries(data: bytes, base: int, name: str) -> list[Entry]:
    count = _u32(data, base + 20, name)
    if len(data) < base + 48:
        raise LdCacheError(f"{name}: truncated in its header")
    if data[base + 32] == 3:      # written big-endian by another machine
        raise LdCacheError(f"{name}: a big-endian cache, not this machine's")
    entries = []
    for i in range(count):
        flags, key, value = _unpack("<iII", data, base + 48 + 24 * i, name)
        entries.append(Entry(soname=_string(data, base + key, name),
                             path=_string(data, base + value, name), flags=flags))
    return entries


def _u32(data: bytes, at: int, name: str) -> int:
    return _unpack("<I", data, at, name)[0]


def _unpack(fmt: str, data: bytes, at: int, name: str) -> tuple:
    try:
        return struct.unpack_from(fmt, data, at)
    except struct.error:
        raise LdCacheError(f"{name}: truncated at byte {at}") from None


def _string(data: bytes, at: int, name: str) -> str:
    end = data.find(b"\0", at)
    if at >= len(data) or end < 0:
        raise LdCacheError(f"{name}: a string offset ({at}) lies outside the file")
    return data[at:end].decode("utf-8", "surrogateescape")


def describe(flags: int) -> str:
    """The flags as `ldconfig -p` prints them: ``libc6,x86-64``."""
    kind = "libc6" if flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6 else f"type {flags & 0xff:#x}"
    abi = ABI_NAMES.get(flags & FLAG_REQUIRED_MASK, f"{flags & FLAG_REQUIRED_MASK:#x}")
    return f"{kind},{abi}" if abi else kind
