"""Values as Go prints them: fmt's ``%v``, ``printf``'s verbs, encoding/json.

Read ``_print`` first (``%v``, what an action prints), with Go's shortest
float (``_shortest``) and ``strconv.Quote`` (``_go_quote``); then ``_json``
(podman's ``json``); then printf: ``_sprintf`` cuts the format into verbs,
``_format`` gives each argument to ``_integer``, ``_float`` or ``_string``,
and an argument that does not fit its verb prints Go's error form
(``%!d(string=x)``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from minirun.gotemplate.data import (GoMap, GoStruct, NilMap, NilSlice, _bytes, _CallError,
                                     _go_type)


def _print(value, nested: bool = False) -> str:
    """fmt's %v of a value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _shortest(value, "g")
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_print(v, True) for v in value) + "]"
    if isinstance(value, GoStruct):
        return "{" + " ".join(_print(v, True) for v in value.values()) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{_print(k, True)}:{_print(value[k], True)}"
                                 for k in sorted(value)) + "]"
    return str(value)


def _digits(x: float) -> tuple[str, int]:
    """The shortest decimal digits that give x back, and the position of the
    decimal point among them (strconv's shortest form)."""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    return digits.rstrip("0") or "0", point


def _shortest(x: float, style: str) -> str:
    """strconv.FormatFloat(x, style, -1, 64): 'g' as %v prints (an exponent
    from 1e+06 or below 1e-04), 'json' as encoding/json writes floats."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    sign = "-" if math.copysign(1, x) < 0 else ""
    if x == 0:
        return sign + "0"
    digits, point = _digits(x)
    exp = point - 1
    if style == "g":
        exponent = exp < -4 or exp >= 6
    else:
        exponent = abs(x) < 1e-6 or abs(x) >= 1e21
    if exponent:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = f"{abs(exp):02d}" if style == "g" or exp > 0 else str(abs(exp))
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{e}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}
    out = []
    for c in s:
        if c in named:
            out.append(named[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80 or 0xDC80 <= ord(c) <= 0xDCFF:
            out.append(f"\\x{ord(c) & 0xFF:02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _json(value, sort: bool = False) -> str:
    """encoding/json with SetEscapeHTML(false), compact, as podman's json."""
    if value is None or isinstance(value, (NilMap, NilSlice)):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise _CallError(f"json: unsupported value: {_shortest(value, 'g')}")
        return _shortest(value, "json")
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value) if isinstance(value, GoMap) else list(value)
        return "{" + ",".join(f"{_json_string(str(k))}:{_json(value[k])}" for k in keys) + "}"
    return _json_string(str(value))


def _json_string(s: str) -> str:
    named = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\u2028": "\\u2028", "\u2029": "\\u2029"}
    out = []
    for c in s:
        if c in named:
            out.append(named[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        elif 0xD800 <= ord(c) <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------- printf

VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(\[|.)?", re.S)


@dataclass
class _Spec:
    flags: str
    width: int | None
    prec: int | None
    verb: str


def _sprintf(fmt: str, args: tuple) -> str:
    """fmt.Sprintf with Go's verbs, flags and error forms (%!d(string=x))."""
    out, args, pos = [], list(args), 0
    used = 0
    while (m := VERB.search(fmt, pos)) is not None:
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if verb == "[" or (verb == "v" and "#" in flags):
            raise _CallError(f"printf: %{flags}{verb} is not supported by minirun's templates")
        spec = _Spec(flags, None, None, verb)
        for name, text in (("width", width), ("prec", prec)):
            if text == "*":
                star = args[used] if used < len(args) else None
                used += 1
                setattr(spec, name, star if isinstance(star, int) else None)
            elif text is not None:
                setattr(spec, name, int(text) if text else 0)
        if spec.width is not None and spec.width < 0:
            spec.flags, spec.width = spec.flags + "-", -spec.width
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format(args[used], spec))
        used += 1
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(_bad_arg(a) for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad_arg(value) -> str:
    """An argument in printf's error forms: ``int=5``, ``<nil>``."""
    return "<nil>" if value is None else f"{_go_type(value)}={_print(value)}"


def _format(value, spec: _Spec) -> str:
    """One argument under one verb; lists and maps verb by verb, as Go does."""
    if isinstance(value, (list, tuple)) and spec.verb in "vsqdboxXcUeEfFgGt":
        return "[" + " ".join(_format(v, spec) for v in value) + "]"
    if isinstance(value, dict) and spec.verb in "vsqdboxXcUeEfFgGt":
        return "map[" + " ".join(f"{_format(k, spec)}:{_format(value[k], spec)}"
                                 for k in sorted(value)) + "]"
    text = _scalar(value, spec)
    return f"%!{spec.verb}({_bad_arg(value)})" if text is None else text


def _scalar(value, spec: _Spec) -> str | None:
    verb = spec.verb
    if value is None:
        return _pad_to("<nil>", spec) if verb == "v" else None
    if isinstance(value, bool):
        return _pad_to(_print(value), spec) if verb in "vt" else None
    if isinstance(value, int):
        return _integer(value, spec)
    if isinstance(value, float):
        return _float(value, spec)
    if isinstance(value, str):
        return _string(value, spec)
    return None


def _pad_to(text: str, spec: _Spec, numeric: bool = False) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if "-" in spec.flags:
        return text + " " * (width - len(text))
    if "0" in spec.flags and (not numeric or spec.prec is None or spec.verb in "eEfFgG"):
        sign = text[0] if numeric and text[:1] in "+- " else ""
        return sign + "0" * (width - len(text)) + text[len(sign):]
    return " " * (width - len(text)) + text


def _integer(n: int, spec: _Spec) -> str | None:
    verb = spec.verb
    if verb == "c":
        return _pad_to(chr(n), spec)
    if verb == "q":
        return _pad_to("'" + _go_quote(chr(n))[1:-1].replace("\\\"", '"')
                       .replace("'", "\\'") + "'", spec)
    if verb == "U":
        return _pad_to(f"U+{n:04X}", spec)
    bases = {"v": (10, ""), "d": (10, ""), "b": (2, "0b"), "o": (8, "0"), "O": (8, "0o"),
             "x": (16, "0x"), "X": (16, "0X")}
    if verb not in bases:
        return None
    base, prefix = bases[verb]
    digits = {10: str, 2: lambda v: format(v, "b"), 8: lambda v: format(v, "o"),
              16: lambda v: format(v, "x")}[base](abs(n))
    if verb == "X":
        digits = digits.upper()
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and n == 0 else digits.zfill(spec.prec)
    if verb == "O" or ("#" in spec.flags and base != 10):
        digits = prefix + digits
    sign = "-" if n < 0 else "+" if "+" in spec.flags else " " if " " in spec.flags else ""
    return _pad_to(sign + digits, spec, numeric=True)


def _float(x: float, spec: _Spec) -> str | None:
    verb = "g" if spec.verb == "v" else spec.verb
    if verb not in "eEfFgG":
        return None
    if math.isinf(x) or math.isnan(x):          # +Inf, -Inf, NaN: never zero-padded
        return _pad_to(_shortest(x, "g"), _Spec(spec.flags.replace("0", ""), spec.width,
                                                None, verb))
    if verb in "gG" and spec.prec is None:
        text = _shortest(x, "g")
        text = text.upper() if verb == "G" else text
    else:
        prec = 6 if spec.prec is None else spec.prec
        text = format(abs(x), f".{prec}{verb.lower() if verb == 'F' else verb}")
        text = ("-" if math.copysign(1, x) < 0 else "") + text
    if text[0] != "-":
        text = ("+" if "+" in spec.flags else " " if " " in spec.flags else "") + text
    return _pad_to(text, spec, numeric=True)


def _string(s: str, spec: _Spec) -> str | None:
    verb = spec.verb
    if spec.prec is not None and verb in "vsq":
        s = s[:spec.prec]
    if verb in "vs":
        return _pad_to(s, spec)
    if verb == "q":
        if "#" in spec.flags and "`" not in s and all(c.isprintable() for c in s):
            return _pad_to(f"`{s}`", spec)
        return _pad_to(_go_quote(s), spec)
    if verb in "xX":
        data = _bytes(s)
        if spec.prec is not None:
            data = data[:spec.prec]
        form = "{:02X}" if verb == "X" else "{:02x}"
        prefix = ("0X" if verb == "X" else "0x") if "#" in spec.flags else ""
        if " " in spec.flags:
            return _pad_to(" ".join(prefix + form.format(b) for b in data), spec)
        return _pad_to(prefix + "".join(form.format(b) for b in data), spec)
    return None
