"""The kernel's door to the C half (native/build.py) and the one place where
a failed syscall becomes ``OSError(errno, strerror, path)``.

Only modules in ``minirun.kernel`` import this file.  The C half has one
other door, minirun/engine/lazy/inflate.py (zlib, for lazy layers); the
doors are listed in tests/unit/test_layout.py (NATIVE_DOORS), and no other
module may import minirun._native, ctypes or cffi.
"""
import os

from minirun._native import ffi, lib  # noqa: F401  (re-exported to kernel modules)


def check(ret: int, call: str, path: str | None = None) -> int:
    """Raise OSError for a C pass-through that returned -1 and set errno."""
    if ret == -1:
        err = ffi.errno
        raise OSError(err, f"{call}: {os.strerror(err)}", path)
    return ret


def cstr(value: str | bytes | None):
    """A char* argument: None for NULL, bytes as they are, str as UTF-8."""
    if value is None:
        return ffi.NULL
    if isinstance(value, str):
        return value.encode()
    return value
