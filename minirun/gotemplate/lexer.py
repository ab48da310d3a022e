"""The lexer: a template's text into tokens, as Go's text/template/parse
cuts it.

Read ``_Lexer.run`` first: text outside ``{{ }}`` becomes one token, a
comment none, an action its tokens (``_Lexer.action``, one ``item`` at a
time).  Then the literals' values (``_unquote``, ``_number``) and
``_parse_error``, which the parser shares: "template: parsing: ..." in Go's
words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from minirun.gotemplate.data import TemplateError


SPACES = " \t\r\n"


KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue",
            "define", "template", "block"}


NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
                    r"|0[bB][01_]+|0[oO][0-7_]+"
                    r"|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?")


ALNUM = re.compile(r"[\w]+")


ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class _Token:
    kind: str        # text left right space field dot var ident keyword bool nil
    value: object    # number string pipe lparen rparen declare assign comma eof
    pos: int
    src: str = ""


class _Lexer:
    """Text into tokens, as Go's text/template/parse lexer cuts it."""

    def __init__(self, text: str):
        self.text, self.i, self.tokens, self.depth = text, 0, [], 0

    def error(self, message: str, pos: int | None = None):
        raise _parse_error(self.text, self.i if pos is None else pos, message)

    def emit(self, kind: str, value, start: int) -> None:
        self.tokens.append(_Token(kind, value, start, self.text[start:self.i]))

    def run(self) -> list[_Token]:
        text = self.text
        while self.i < len(text):
            start = text.find("{{", self.i)
            if start < 0:
                self.tokens.append(_Token("text", text[self.i:], self.i))
                break
            after = start + 2
            trim = text.startswith("-", after) and text[after + 1:after + 2] in tuple(SPACES)
            chunk = text[self.i:start]
            if trim:
                chunk = chunk.rstrip(SPACES)
            if chunk:
                self.tokens.append(_Token("text", chunk, self.i))
            self.i = after + (2 if trim else 0)
            if text.startswith("/*", self.i):
                self.comment()
            else:
                self.i = after + (1 if trim else 0)
                self.tokens.append(_Token("left", "{{", start))
                self.action()
        self.tokens.append(_Token("eof", "", len(text)))
        return self.tokens

    def at_right(self) -> tuple[bool, bool]:
        """(at the closing delimiter, with a trim marker)."""
        t, i = self.text, self.i
        if t[i:i + 1] in tuple(SPACES) and t.startswith("-}}", i + 1):
            return True, True
        return t.startswith("}}", i), False

    def close(self, trim: bool) -> None:
        """Past ``}}`` or `` -}}``; the latter trims the text after it."""
        self.i += 4 if trim else 2
        if trim:
            while self.i < len(self.text) and self.text[self.i] in SPACES:
                self.i += 1

    def comment(self) -> None:
        """``{{/* ... */}}``: no token; the comment must end the action."""
        end = self.text.find("*/", self.i + 2)
        if end < 0:
            self.error("unclosed comment")
        self.i = end + 2
        at, trim = self.at_right()
        if not at:
            self.error("comment ends before closing delimiter")
        self.close(trim)

    def action(self) -> None:
        """Tokens up to and including the closing ``}}``."""
        while True:
            at, trim = self.at_right()
            if at:
                if self.depth:
                    self.error("unclosed left paren")
                self.tokens.append(_Token("right", "}}", self.i, "}}"))
                self.close(trim)
                return
            if self.i >= len(self.text):
                self.error("unclosed action")
            self.item()

    def item(self) -> None:
        t, start = self.text, self.i
        c, nxt = t[start], t[start + 1:start + 2]
        simple = {"|": "pipe", "=": "assign", ",": "comma"}
        if c in SPACES:
            self.space()
        elif c in simple:
            self.i += 1
            self.emit(simple[c], c, start)
        elif c == ":":
            if nxt != "=":
                self.error("expected :=")
            self.i += 2
            self.emit("declare", ":=", start)
        elif c in "()":
            self.depth += 1 if c == "(" else -1
            if self.depth < 0:
                self.error(f"unexpected right paren {_rune(c)}")
            self.i += 1
            self.emit("lparen" if c == "(" else "rparen", c, start)
        elif c == '"' or c == "`":
            self.string(c)
        elif c == "'":
            self.char()
        elif c.isdigit() or (c in "+-." and nxt[:1].isdigit()) or \
                (c in "+-" and nxt == "." and t[start + 2:start + 3].isdigit()):
            self.number()
        elif c in ".$":
            self.i += 1
            name = ALNUM.match(t, self.i)
            self.i = name.end() if name else self.i
            kind = "field" if c == "." else "var"
            if c == "." and not name:
                kind = "dot"
            self.emit(kind, t[start:self.i], start)
        elif c.isalpha() or c == "_":
            self.identifier()
        else:
            self.error(f"bad character {_rune(c)}")

    def space(self) -> None:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in SPACES:
            self.i += 1
        if self.text.startswith("-}}", self.i) and self.i - start > 0:
            self.i -= 1        # that space belongs to the trim marker " -}}"
        if self.i > start:
            self.emit("space", " ", start)

    def identifier(self) -> None:
        start = self.i
        self.i = ALNUM.match(self.text, start).end()
        word = self.text[start:self.i]
        if not (self.at_right()[0] or self.i >= len(self.text)
                or self.text[self.i] in SPACES + ".,|:()"):
            self.error(f"bad character {_rune(self.text[self.i])}")
        if word in ("true", "false"):
            self.emit("bool", word == "true", start)
        elif word == "nil":
            self.emit("nil", None, start)
        else:
            self.emit("keyword" if word in KEYWORDS else "ident", word, start)

    def number(self) -> None:
        start = self.i
        m = NUMBER.match(self.text, start)
        self.i = m.end()
        if self.i < len(self.text) and (self.text[self.i].isalnum() or self.text[self.i] == "."):
            self.error(f"bad number syntax: {self.text[start:self.i + 1]!r}")
        self.emit("number", _number(self.text[start:self.i], lambda m: self.error(m, start)),
                  start)

    def string(self, quote: str) -> None:
        start, t = self.i, self.text
        i = start + 1
        while i < len(t) and t[i] != quote:
            if quote == '"' and t[i] == "\n":
                break
            i += 2 if quote == '"' and t[i] == "\\" else 1
        if i >= len(t) or t[i] != quote:
            self.error("unterminated quoted string" if quote == '"'
                       else "unterminated raw quoted string")
        self.i = i + 1
        body = t[start + 1:i]
        value = body if quote == "`" else _unquote(body, lambda m: self.error(m, start))
        self.emit("string", value, start)

    def char(self) -> None:
        start, t = self.i, self.text
        i = start + 1
        while i < len(t) and t[i] not in "'\n":
            i += 2 if t[i] == "\\" else 1
        if i >= len(t) or t[i] != "'":
            self.error("unterminated character constant")
        self.i = i + 1
        value = _unquote(t[start + 1:i], lambda m: self.error(m, start))
        if len(value) != 1:
            self.error(f"malformed character constant: {t[start:self.i]}")
        self.emit("number", ord(value), start)


def _rune(c: str) -> str:
    return f"U+{ord(c):04X} {c!r}" if c.isprintable() else f"U+{ord(c):04X}"


def _unquote(body: str, fail) -> str:
    """A Go string literal's body with its escapes decoded (strconv.Unquote)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1:i + 2]
        if e in ESCAPES:
            out.append(ESCAPES[e])
            i += 2
        elif e in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + size]
            if len(digits) != size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                fail(f"invalid syntax: \\{e}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + size
        elif e in "01234567" and len(body) >= i + 4:
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            fail(f"invalid syntax: unknown escape \\{e}")
    return "".join(out)


def _number(text: str, fail):
    """A number literal's value: an int, or a float where Go's template would
    pass one (a '.', an exponent)."""
    clean = text.replace("_", "")
    if clean.endswith("i"):
        fail(f"complex numbers are not supported: {text}")
    hexa = clean.lstrip("+-")[:2] in ("0x", "0X")
    try:
        if not hexa and any(c in clean for c in ".eE"):
            return float(clean)
        if hexa and any(c in clean for c in ".pP"):
            return float.fromhex(clean)
        body = clean.lstrip("+-")
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            clean = clean.replace(body, "0o" + body[1:])
        return int(clean, 0)
    except ValueError:
        fail(f"bad number syntax: {text!r}")


def _parse_error(text: str, pos: int, message: str) -> TemplateError:
    line = text.count("\n", 0, pos) + 1
    where = f"line {line}: " if "\n" in text.rstrip("\n") else ""
    return TemplateError(f"template: parsing: {where}{message}")
