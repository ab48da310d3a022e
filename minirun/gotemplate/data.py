"""What every part of the template engine shares: the data and its errors.

Read first.  ``TemplateError`` is the one error a caller sees.  ``GoMap``,
``NilMap`` and ``NilSlice`` are how a caller gives its JSON-like data Go's
types (the package's docstring says how data maps to Go).  Then how the
evaluator and the functions look at a value: ``_MISSING`` (nothing piped in),
``_truth`` (Go's truth of a value), ``_go_type`` (the Go type a value stands
for, in error messages), ``_bytes``/``_text`` (strings as Go's UTF-8 bytes),
and ``_CallError``, a function refusing its arguments.
"""
from __future__ import annotations

from minirun.errors import MiniRunError


class TemplateError(MiniRunError):
    """A --format template does not parse, or fails on the data (an unknown
    field, a function given the wrong arguments); the message names what, in
    Go's words.  Fix the template.  ``output`` is what an execution wrote
    before it failed (podman prints that much too)."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


class GoMap(dict):
    """A dict that Go holds as a map (Labels, Annotations, a volume's
    Options): a missing key is ``<no value>``, not an error."""


class GoStruct(dict):
    """A dict that Go holds as a struct whose fields are all there, in
    order (a caller's whole record, not JSON that may drop fields): it
    prints as fmt prints a struct, ``{v1 v2 ...}``."""


class NilMap(GoMap):
    """Go's nil map (``"Labels": null``): prints ``map[]``, encodes as ``null``."""


class NilSlice(list):
    """Go's nil slice (``"Entrypoint": null``): prints ``[]``, encodes as ``null``."""


# ---------------------------------------------------------------- a value as Go sees it

_MISSING = object()        # no value piped in from a previous command


def _truth(value) -> bool:
    if value is None or value is _MISSING:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _go_type(value) -> str:
    """The Go type a value stands for, in error messages."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        strings = value and all(isinstance(v, str) for v in value)
        return "[]string" if strings else "[]interface {}"
    if isinstance(value, GoMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "struct"
    return type(value).__name__


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class _CallError(Exception):
    """A function refused its arguments: "error calling NAME: <this>"."""
