"""Inflating one span of a gzip layer from its middle: the lazy room's door
to C (tests/unit/test_layout.py lists it in NATIVE_DOORS, beside
minirun/kernel/_native.py, the kernel's).

A span starts where a deflate block does, which need not be on a byte
boundary, and its blocks refer back up to 32 KiB into the output before
it.  So the inflater must be primed with the first few bits (zlib's
``inflatePrime``) and given that output as a dictionary
(``inflateSetDictionary``), as zlib's examples/zran.c does.  Python's zlib
module has neither, so the inflating happens in C: ``mr_inflate_span`` in
native/build.py, compiled into minirun._native against zlib.h.  The call
releases the GIL (cffi does that for every call), so the lazy filesystem's
threads inflate spans in parallel.

Why a door of its own and not a module in kernel/: zlib is a library, not
a syscall, and kernel/ is where syscalls happen; why not ctypes: a
hand-copied ``z_stream`` is a struct layout no compiler checks.

See: zlib(3), zlib's examples/zran.c, RFC 1951.
"""
import errno

from minirun._native import ffi, lib

_WHY = {errno.EIO: "a span is not deflate data",
        errno.EINVAL: "a span's first bits or window are not ones zlib takes",
        errno.ENOMEM: "zlib could not start inflating",
        errno.EOVERFLOW: "a span is over 4 GiB, more than zlib inflates at once"}


def inflate_span(data: bytes, bits: int, window: bytes, size: int) -> bytes:
    """``size`` bytes inflated from a span's compressed ``data``: the raw
    deflate stream starts ``bits`` bits before the end of its first byte
    (0: at that byte), with ``window`` as the output before it.  A span
    that is not deflate data, or that ends early, is ``OSError(EIO)``."""
    out = bytearray(size)
    n = lib.mr_inflate_span(ffi.from_buffer(data), len(data), bits,
                            ffi.from_buffer(window), len(window), ffi.from_buffer(out), size)
    if n == -1:
        err = ffi.errno
        raise OSError(err, _WHY.get(err, f"inflating a span: {errno.errorcode.get(err, err)}"))
    if n != size:
        raise OSError(errno.EIO, f"a span inflated to {n} bytes, not {size}")
    return bytes(out)
