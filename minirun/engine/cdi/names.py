"""CDI's names: a spec's ``kind`` (``vendor/class``), its devices' names, and
the fully qualified device name a container asks for
(``nvidia.com/gpu=0``), with the character rules of the CDI specification.

- vendor and class: start with a letter, end with a letter or digit, and
  hold letters, digits, ``_``, ``-`` and ``.`` between (``nvidia.com``,
  ``gpu``; a dot in the class needs cdiVersion 0.6.0, see versions.py);
- a device name: starts and ends with a letter or digit and holds letters,
  digits, ``_``, ``-``, ``.`` and ``:`` between (``0``, ``GPU-4b1e...``,
  ``all``).  ``all`` is no keyword: a spec defines a device by that name
  when it wants one (NVIDIA's do).

Every error of the room is a ``CDIError``, defined here because the names
are the room's first step.

See: the CDI specification (SPEC.md, "CDI JSON Specification").
"""
from minirun.errors import MiniRunError


class CDIError(MiniRunError):
    """A CDI spec cannot be read, breaks the specification, or cannot give a
    container the device asked for.  The message names the spec file (and
    the field, or the device); fix the file or ask for another device."""


def _letter(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _alnum(c: str) -> bool:
    return _letter(c) or ("0" <= c <= "9")


def _check(word: str, what: str, first, middle: str) -> None:
    if not word:
        raise ValueError(f"empty {what}")
    if not first(word[0]):
        start = "a letter" if first is _letter else "a letter or digit"
        raise ValueError(f"{what} {word!r} should start with {start}")
    for c in word[1:-1]:
        if not (_alnum(c) or c in middle):
            raise ValueError(f"{what} {word!r} has the character {c!r}, "
                             f"allowed are letters, digits and {' '.join(middle)}")
    if not _alnum(word[-1]):
        raise ValueError(f"{what} {word!r} should end with a letter or digit")


def check_vendor(vendor: str) -> None:
    """ValueError unless ``vendor`` follows the vendor rule."""
    _check(vendor, "vendor", _letter, "_-.")


def check_class(cls: str) -> None:
    """ValueError unless ``cls`` follows the class rule."""
    _check(cls, "class", _letter, "_-.")


def check_device_name(name: str) -> None:
    """ValueError unless ``name`` follows the device name rule."""
    _check(name, "device name", _alnum, "_-.:")


def parse_kind(kind: str) -> tuple[str, str]:
    """``vendor/class`` -> (vendor, class); ValueError when malformed."""
    vendor, slash, cls = kind.partition("/")
    if not slash or not vendor or not cls:
        raise ValueError(f"kind {kind!r} is not vendor/class (e.g. nvidia.com/gpu)")
    check_vendor(vendor)
    check_class(cls)
    return vendor, cls


def is_qualified(name: str) -> bool:
    """Whether ``name`` looks like a CDI device name rather than a path:
    ``--device`` takes both, and a path starts with ``/``."""
    return not name.startswith("/") and "=" in name and "/" in name.partition("=")[0]


def parse_qualified(name: str) -> tuple[str, str, str]:
    """``vendor/class=name`` -> (vendor, class, name); CDIError, saying what
    is wrong, when it is not one."""
    kind, eq, device = name.partition("=")
    try:
        if not eq or not device:
            raise ValueError("no device name after '='")
        vendor, cls = parse_kind(kind)
        check_device_name(device)
    except ValueError as e:
        raise CDIError(f"invalid CDI device {name!r}: {e}; "
                       "a CDI device is named vendor/class=name, "
                       "e.g. nvidia.com/gpu=0") from None
    return vendor, cls, device


def qualified(vendor: str, cls: str, device: str) -> str:
    return f"{vendor}/{cls}={device}"
