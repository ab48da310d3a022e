"""The functions a template can call: Go's built-ins and podman 4.3's.

Read ``FUNCTIONS`` at the end first: each name with its function, how many
arguments it takes and podman's typed parameters (the evaluator checks
those).  Above it, in the table's order: ``len``, ``index`` and ``slice``
(strings as UTF-8 bytes, as in Go), the comparisons (``_eq``, ``_lt`` with
Go's kinds), ``print``, ``html``, ``urlquery``, then podman's ``title``,
``split``, ``truncate`` and ``pad``.  ``printf`` and ``json`` are in
gofmt.py.  A function refuses its arguments with ``_CallError``.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from minirun.gotemplate.data import GoMap, _bytes, _CallError, _go_type, _text, _truth
from minirun.gotemplate.gofmt import _go_quote, _json, _print, _sprintf


@dataclass(frozen=True)
class _Func:
    fn: object
    least: int
    most: int | None
    types: tuple = ()          # podman's typed parameters; None: any value


def _length(item) -> int:
    if item is None:
        return 0
    if isinstance(item, str):
        return len(_bytes(item))
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    raise _CallError(f"len of type {_go_type(item)}")


def _index(item, *keys):
    for key in keys:
        if item is None:
            raise _CallError("index of untyped nil")
        if isinstance(item, (str, list, tuple)):
            seq = _bytes(item) if isinstance(item, str) else item
            item = seq[_position(key, len(seq))]
        elif isinstance(item, dict):
            if not isinstance(key, str):
                raise _CallError(f"value has type {_go_type(key)}; should be string")
            if key in item:
                item = item[key]
            elif isinstance(item, GoMap):
                item = ""
            else:
                raise _CallError(f"map has no entry for key {_go_quote(key)}")
        else:
            raise _CallError(f"can't index item of type {_go_type(item)}")
    return item


def _position(key, size: int, cap: int | None = None) -> int:
    if key is None:
        raise _CallError("cannot index slice/array with nil")
    if isinstance(key, bool) or not isinstance(key, int):
        raise _CallError(f"cannot index slice/array with type {_go_type(key)}")
    if key < 0 or key > (size - 1 if cap is None else cap):
        raise _CallError(f"index out of range: {key}")
    return key


def _slice(item, *indexes):
    if item is None:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _CallError("cannot 3-index slice a string")
        seq = _bytes(item)
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise _CallError(f"can't slice item of type {_go_type(item)}")
    idx = [_position(key, len(seq), cap=len(seq)) for key in indexes]
    start, stop = (idx + [0])[0], (idx[1:] + [len(seq)])[0]
    for low, high in ((start, stop), (stop, idx[2] if len(idx) == 3 else stop)):
        if low > high:
            raise _CallError(f"invalid slice index: {low} > {high}")
    part = seq[start:stop]
    return _text(part) if isinstance(item, str) else list(part)


def _kind(value) -> str | None:
    """Go's basicKind: the comparable kind of a value, None for none."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def _eq(first, *others) -> bool:
    """Go's eq: true if first equals any of the others; nil equals only nil."""
    if not others:
        raise _CallError("missing argument for comparison")
    for other in others:
        if first is None or other is None:
            if first is None and other is None:
                return True
            continue
        k1, k2 = _kind(first), _kind(other)
        if k1 is None or k2 is None:
            bad = first if k1 is None else other
            raise _CallError(f"non-comparable type {_print(bad)}: {_go_type(bad)}")
        if k1 != k2:
            raise _CallError("incompatible types for comparison")
        if first == other:
            return True
    return False


def _lt(a, b) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 is None or k2 is None or k1 == "bool" and k2 == "bool":
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    if k1 == "string":
        return _bytes(a) < _bytes(b)
    return a < b


def _sprint(*args) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for n, arg in enumerate(args):
        if n and not isinstance(arg, str) and not isinstance(args[n - 1], str):
            out.append(" ")
        out.append(_print(arg))
    return "".join(out)


def _html(*args) -> str:
    text = _sprint(*args)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"),
                 ("'", "&#39;"), ("\0", "\ufffd")):
        text = text.replace(a, b)
    return text


def _urlquery(*args) -> str:
    from urllib.parse import quote_plus
    return quote_plus(_sprint(*args), safe="-_.~")


def _title(s: str) -> str:
    """strings.Title: the first letter of each word in title case."""
    out, prev = [], " "
    for c in s:
        if _separator(prev):
            up = c.title()
            out.append(up if len(up) == 1 else c)
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _separator(c: str) -> bool:
    if ord(c) <= 0x7F:
        return not (c.isalnum() or c == "_")
    if c.isalpha() or unicodedata.category(c) == "Nd":
        return False
    return c.isspace()


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _truncate(s: str, length: int) -> str:
    b = _bytes(s)
    return s if len(b) < length else _text(b[:max(length, 0)])


def _pad(s: str, prefix: int, suffix: int) -> str:
    return s and " " * prefix + s + " " * suffix


def _unsupported(name: str):
    def fn(*args):
        raise _CallError(f"{name} is not supported by minirun's templates")
    return fn


FUNCTIONS: dict[str, _Func] = {
    "and": _Func(None, 1, None), "or": _Func(None, 1, None),
    "not": _Func(lambda x: not _truth(x), 1, 1),
    "len": _Func(_length, 1, 1),
    "index": _Func(_index, 1, None),
    "slice": _Func(_slice, 1, None),
    "print": _Func(_sprint, 0, None),
    "println": _Func(lambda *a: " ".join(_print(x) for x in a) + "\n", 0, None),
    "printf": _Func(lambda f, *a: _sprintf(f, a), 1, None, ("string",)),
    "eq": _Func(_eq, 1, None),
    "ne": _Func(lambda a, b: not _eq(a, b), 2, 2),
    "lt": _Func(_lt, 2, 2),
    "le": _Func(lambda a, b: _lt(a, b) or _eq(a, b), 2, 2),
    "gt": _Func(lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, 2),
    "ge": _Func(lambda a, b: not _lt(a, b), 2, 2),
    "html": _Func(_html, 0, None),
    "urlquery": _Func(_urlquery, 0, None),
    "js": _Func(_unsupported("js"), 0, None),
    "call": _Func(_unsupported("call"), 1, None),
    # podman's own (containers/common pkg/report, podman 4.3)
    "json": _Func(lambda v: _json(v), 1, 1),
    "join": _Func(lambda items, sep: sep.join(items), 2, 2, ("[]string", "string")),
    "lower": _Func(str.lower, 1, 1, ("string",)),
    "upper": _Func(str.upper, 1, 1, ("string",)),
    "title": _Func(_title, 1, 1, ("string",)),
    "truncate": _Func(_truncate, 2, 2, ("string", "int")),
    "split": _Func(_split, 2, 2, ("string", "string")),
    "pad": _Func(_pad, 3, 3, ("string", "int", "int")),
}
