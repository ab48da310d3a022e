"""Go's text/template language, as podman's ``--format`` speaks it.

podman renders ``--format`` with Go's text/template and the functions of
containers/common's ``pkg/report``; users' scripts depend on both
(``{{.State.Status}}``, ``{{json .Config}}``, ``{{range .Mounts}}...{{end}}``,
``table {{.ID}}\\t{{.Image}}``).  No well-kept pure-Python implementation
exists, so this module is one: a lexer (``_Lexer``: text into tokens), a
parser (``_Parser``: tokens into a small tree of nodes) and an evaluator
(``_Exec``: the tree over the data), then Go's value printing (``fmt``'s
``%v``, ``printf``'s verbs, ``encoding/json``) and podman's tables.  It
follows Go 1.19, which podman 4.3 was built with (no ``{{else with}}``, no
range over an integer), and is checked against podman itself in
tests/e2e/test_gotemplate_oracle.py.

    render('{{.Name}} {{join .Args ","}}', data)        # parse + execute
    t = parse(text); t.execute(row1); t.execute(row2)   # one parse, many rows

What podman does around the template is the caller's: ``normalize`` (the
characters ``\\t``/``\\n``, and a table's spaces, become tabs and newlines)
and, for ``table`` formats (``is_table``), a header row and aligned columns:

    body = parse(normalize(fmt))
    lines = align([header(fmt, names)] + [body.execute(row) for row in rows])

podman also ends each row with a newline, and its ``inspect`` runs the
format over the list of objects (``{{range .}}FORMAT{{end}}``), so there
``$`` is that list, not the object.

Supported: text and actions with ``{{-``/``-}}`` trimming and ``{{/* */}}``
comments; fields ``.A.B``, ``.``, ``$``, variables (``$x := ...``,
``$x = ...``, ``range $i, $e := ...``), literals (strings, raw strings,
characters, numbers, ``true``/``false``/``nil``), pipelines with ``|``,
parenthesised pipelines and their fields (``(index .L 0).Name``);
``if``/``else if``/``else``, ``with``/``else``, ``range``/``else`` over lists
and maps (sorted keys), ``break``, ``continue``.  Functions: Go's ``and or
not len index slice print printf println eq ne lt le gt ge html urlquery``
and podman 4.3's ``json join lower upper title truncate split pad``.

The data is JSON-like Python (dict, list, str, int, float, bool, None).  Go
sees typed structs and maps where we see dicts, so:

- A plain dict is a Go struct: an unknown ``.Field`` is an error ("can't
  evaluate field Foo"), as in podman.  A ``GoMap`` is a Go map: a missing
  key prints ``<no value>`` and ``index`` of one gives "" (the zero value of
  podman's ``map[string]string``).  ``NilMap()``/``NilSlice()`` are Go's nil
  map and slice: they print ``map[]``/``[]`` and encode as JSON ``null``.
  ``None`` is Go's untyped nil: printed ``<no value>`` at the top and
  ``<nil>`` inside a list; a field of it is ``<no value>``; ``len`` and
  ``range`` take it as empty.
- Any dict prints as ``map[k:v ...]`` (sorted keys); Go prints a struct as
  ``{v1 v2 ...}`` with every field, which JSON data cannot reproduce.
- Strings are measured in UTF-8 bytes by ``len``, ``index``, ``slice`` and
  ``truncate``, as in Go.  Numbers are ``int`` or ``float64`` to ``printf``'s
  error forms (``%!s(int=5)``; Go may say ``int64``).
- Not supported (an error says so, none is silently different):
  ``define``, ``template``, ``block``, the ``js`` and ``call`` functions,
  ``printf``'s ``%#v`` and ``%[n]``, complex numbers.  ``printf``'s ``%x``
  of a float prints Go's error form ``%!x(float64=...)``.
"""
from __future__ import annotations

import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, field

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


class NilMap(GoMap):
    """Go's nil map (``"Labels": null``): prints ``map[]``, encodes as ``null``."""


class NilSlice(list):
    """Go's nil slice (``"Entrypoint": null``): prints ``[]``, encodes as ``null``."""


# ---------------------------------------------------------------- the lexer

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


# ---------------------------------------------------------------- the tree

@dataclass
class _Node:
    src: str = field(default="", kw_only=True)     # the source text, for errors


@dataclass
class _Text(_Node):
    text: str


@dataclass
class _Literal(_Node):
    value: object          # str, int, float, bool, or None for nil


@dataclass
class _Dot(_Node):
    pass


@dataclass
class _Field(_Node):
    names: list[str]       # .A.B on dot


@dataclass
class _Variable(_Node):
    name: str              # $x, or $ for the data
    names: list[str]       # $x.A.B


@dataclass
class _Function(_Node):
    name: str


@dataclass
class _Chain(_Node):
    node: _Node            # (pipeline).A.B
    names: list[str]


@dataclass
class _Command(_Node):
    args: list[_Node]


@dataclass
class _Pipe(_Node):
    decl: list[str]
    assign: bool
    cmds: list[_Command]


@dataclass
class _Action(_Node):
    pipe: _Pipe


@dataclass
class _Control(_Node):
    kind: str              # if, with, range
    pipe: _Pipe
    body: list[_Node]
    orelse: list[_Node] | None


@dataclass
class _Jump(_Node):
    kind: str              # break, continue


# ---------------------------------------------------------------- the parser

class _Parser:
    """Tokens into nodes, with Go's checks: functions and variables must be
    defined, control structures closed, break only inside range."""

    def __init__(self, text: str, funcs):
        self.text, self.funcs = text, funcs
        self.tokens = _Lexer(text).run()
        self.i, self.vars, self.range_depth = 0, ["$"], 0

    def error(self, message: str, token: _Token | None = None):
        raise _parse_error(self.text, (token or self.tokens[self.i - 1]).pos, message)

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next_nonspace(self) -> _Token:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_nonspace(self) -> _Token:
        tok = self.next_nonspace()
        self.i -= 1
        return tok

    def unexpected(self, tok: _Token, context: str):
        self.error(f"unexpected {_describe(tok)} in {context}", tok)

    def parse(self) -> list[_Node]:
        nodes, end = self.item_list()
        if end is not None:
            self.error(f"unexpected {{{{{end.value}}}}}", end)
        return nodes

    def item_list(self) -> tuple[list[_Node], _Token | None]:
        """Nodes up to an {{else}} or {{end}} (returned) or the end (None)."""
        nodes = []
        while (tok := self.next()).kind != "eof":
            if tok.kind == "text":
                nodes.append(_Text(tok.value, src=tok.value))
                continue
            key = self.peek_nonspace()
            if key.kind == "keyword" and key.value in ("else", "end"):
                self.next_nonspace()
                after = self.peek_nonspace()
                if key.value == "end" or (after.kind, after.value) != ("keyword", "if"):
                    self.expect_right(key.value)
                return nodes, key
            nodes.append(self.action())
        return nodes, None

    def expect_right(self, context: str) -> None:
        tok = self.next_nonspace()
        if tok.kind != "right":
            self.unexpected(tok, context)

    def action(self) -> _Node:
        tok = self.peek_nonspace()
        if tok.kind == "keyword":
            self.next_nonspace()
            if tok.value in ("if", "with", "range"):
                return self.control(tok)
            if tok.value in ("break", "continue"):
                if not self.range_depth:
                    self.error(f"{{{{{tok.value}}}}} outside {{{{range}}}}", tok)
                self.expect_right(f"{{{{{tok.value}}}}}")
                return _Jump(tok.value, src=tok.value)
            self.error(f"{{{{{tok.value}}}}} is not supported by minirun's templates", tok)
        return _Action(self.pipeline("command", "right"), src=tok.src)

    def control(self, key: _Token) -> _Control:
        """if/with/range: the pipeline, the body, an else; the variables
        declared in them go out of scope at the end."""
        mark = len(self.vars)
        pipe = self.pipeline(key.value, "right")
        self.range_depth += key.value == "range"
        body, end = self.item_list()
        self.range_depth -= key.value == "range"
        if end is None:
            self.error("unexpected EOF", self.tokens[-1])
        orelse = None
        if end.value == "else":
            after = self.peek_nonspace()
            if after.kind == "keyword" and after.value == "if":
                if key.value != "if":
                    self.unexpected(after, "input")
                orelse = [self.control(self.next_nonspace())]
            else:
                orelse, end = self.item_list()
                if end is None or end.value != "end":
                    self.error(f"expected end; found {'EOF' if end is None else '{{else}}'}",
                               end or self.tokens[-1])
        del self.vars[mark:]
        return _Control(key.value, pipe, body, orelse, src=key.value)

    def pipeline(self, context: str, until: str) -> _Pipe:
        start = self.peek_nonspace().pos
        decl, assign = self.declarations(context)
        cmds = []
        while True:
            tok = self.next_nonspace()
            if tok.kind == until:
                end = tok.pos
                if until == "rparen":
                    self.i -= 1
                break
            if tok.kind in ("bool", "number", "string", "nil", "dot", "field", "var",
                            "ident", "lparen"):
                self.i -= 1
                cmds.append(self.command())
            else:
                self.unexpected(tok, context)
        if not cmds:
            self.error(f"missing value for {context}")
        for n, cmd in enumerate(cmds[1:], 2):
            if isinstance(cmd.args[0], (_Literal, _Dot)):
                self.error(f"non executable command in pipeline stage {n}")
        self.vars.extend(decl)
        return _Pipe(decl, assign, cmds, src=self.text[start:end].strip())

    def declarations(self, context: str) -> tuple[list[str], bool]:
        """``$x :=``, ``$x =`` or (in range) ``$i, $e :=`` at the start of a pipeline."""
        mark, decl = self.i, []
        while (v := self.peek_nonspace()).kind == "var":
            self.next_nonspace()
            after = self.next_nonspace()
            if after.kind in ("declare", "assign"):
                decl.append(v.value)
                if after.kind == "assign" and v.value not in self.vars:
                    self.error(f"undefined variable {v.value!r}".replace("'", '"'), v)
                return decl, after.kind == "assign"
            if after.kind == "comma":
                decl.append(v.value)
                if context != "range":
                    self.error(f"too many declarations in {context}", after)
                if len(decl) > 1:
                    self.error("too many declarations in range", after)
                if self.peek_nonspace().kind != "var":
                    self.error("range can only initialize variables", after)
                continue
            break
        self.i = mark
        return [], False

    def command(self) -> _Command:
        start = self.peek_nonspace().pos
        args = []
        while True:
            while self.peek().kind == "space":
                self.next()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("right", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                self.unexpected(tok, "operand")
            break
        if not args:
            self.error("empty command")
        end = self.tokens[self.i - 1].pos if self.tokens[self.i - 1].kind == "pipe" \
            else self.peek().pos
        return _Command(args, src=self.text[start:end].strip())

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        names = []
        while self.peek().kind == "field":
            names.append(self.next().value[1:])
        if isinstance(node, (_Literal, _Dot)):
            self.error(f"unexpected . after term {node.src!r}".replace("'", '"'))
        src = node.src + "." + ".".join(names)
        if isinstance(node, _Field):
            return _Field(node.names + names, src=src)
        if isinstance(node, _Variable):
            return _Variable(node.name, node.names + names, src=src)
        return _Chain(node.node, node.names + names, src=src)

    def term(self) -> _Node | None:
        tok = self.next_nonspace()
        kind, value = tok.kind, tok.value
        if kind == "ident":
            if value not in self.funcs:
                self.error(f'function "{value}" not defined', tok)
            return _Function(value, src=value)
        if kind == "dot":
            return _Dot(src=".")
        if kind in ("nil", "bool", "number", "string"):
            return _Literal(value, src=tok.src)
        if kind == "var":
            if value not in self.vars:
                self.error(f'undefined variable "{value}"', tok)
            return _Variable(value, [], src=value)
        if kind == "field":
            return _Field([value[1:]], src=value)
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            if self.next().kind != "rparen":
                self.error("unclosed left paren", tok)
            return _Chain(pipe, [], src=f"({pipe.src})")
        self.i -= 1
        return None


def _describe(tok: _Token) -> str:
    """A token as Go's parser names it in "unexpected X in Y"."""
    if tok.kind == "eof":
        return "EOF"
    if tok.kind in ("keyword", "dot", "nil"):
        return f"<{tok.src}>"
    text = tok.src
    if len(text) > 10:
        return _go_quote(text[:10]) + "..."
    return _go_quote(text)


# ---------------------------------------------------------------- execution

_MISSING = object()        # no value piped in from a previous command


class _Stop(Exception):
    """A {{break}} or {{continue}} leaving its iteration."""

    def __init__(self, kind: str):
        self.kind = kind


class _Failed(Exception):
    """An execution error, before it is given the output so far."""


class Template:
    """A parsed template; ``execute`` may be called for each row."""

    def __init__(self, text: str, nodes: list[_Node]):
        self.text, self.nodes = text, nodes

    def execute(self, data) -> str:
        run = _Exec(data)
        try:
            run.walk(self.nodes, data)
        except _Failed as e:
            raise TemplateError(f"template: {e}", "".join(run.out)) from None
        return "".join(run.out)


class _Exec:
    """One execution: the output so far and the variables in scope."""

    def __init__(self, data):
        self.out: list[str] = []
        self.vars: list[list] = [["$", data]]

    def fail(self, at: _Node, message: str):
        raise _Failed(f"executing at <{at.src}>: {message}")

    def walk(self, nodes: list[_Node], dot) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append("<no value>" if value is None else _print(value))
            elif isinstance(node, _Jump):
                raise _Stop(node.kind)
            elif node.kind == "range":
                self.range(node, dot)
            else:
                self.if_or_with(node, dot)

    def if_or_with(self, node: _Control, dot) -> None:
        mark = len(self.vars)
        value = self.pipeline(node.pipe, dot)
        if _truth(value):
            self.walk(node.body, value if node.kind == "with" else dot)
        elif node.orelse is not None:
            self.walk(node.orelse, dot)
        del self.vars[mark:]

    def range(self, node: _Control, dot) -> None:
        mark = len(self.vars)
        value = self.pipeline(node.pipe, dot)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            self.fail(node.pipe, f"range can't iterate over {_print(value)}")
        for key, elem in items:
            self.bind_range(node.pipe, key, elem, mark)
            inner = len(self.vars)
            try:
                self.walk(node.body, elem)
            except _Stop as stop:
                if stop.kind == "break":
                    break
            finally:
                del self.vars[inner:]
        if not items and node.orelse is not None:
            self.walk(node.orelse, dot)
        del self.vars[mark:]

    def bind_range(self, pipe: _Pipe, key, elem, mark: int) -> None:
        """``$e`` or ``$i, $e`` for one iteration."""
        values = [elem] if len(pipe.decl) == 1 else [key, elem]
        for name, value in zip(pipe.decl, values):
            if pipe.assign:
                self.set_var(name, value)
            else:
                for slot in reversed(self.vars[mark:]):
                    if slot[0] == name:
                        slot[1] = value
                        break

    def set_var(self, name: str, value) -> None:
        for slot in reversed(self.vars):
            if slot[0] == name:
                slot[1] = value
                return
        raise _Failed(f"undefined variable: {name}")

    def get_var(self, node: _Node, name: str):
        for slot in reversed(self.vars):
            if slot[0] == name:
                return slot[1]
        self.fail(node, f"undefined variable: {name}")

    def pipeline(self, pipe: _Pipe, dot):
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        for name in pipe.decl:
            if pipe.assign:
                self.set_var(name, value)
            else:
                self.vars.append([name, value])
        return value

    def command(self, cmd: _Command, dot, final):
        first, args = cmd.args[0], cmd.args[1:]
        if isinstance(first, _Function):
            return self.call(cmd, first.name, args, dot, final)
        with_args = bool(args) or final is not _MISSING
        if isinstance(first, (_Field, _Variable, _Chain)):
            if isinstance(first, _Field):
                base = dot
            elif isinstance(first, _Variable):
                base = self.get_var(first, first.name)
            else:
                base = self.pipeline(first.node, dot)
            if not first.names:
                if with_args:
                    self.fail(first, f"can't give argument to non-function {first.src}")
                return base
            return self.fields(first, base, first.names, with_args)
        if isinstance(first, _Literal) and first.value is None and first.src == "nil":
            self.fail(first, "nil is not a command")
        if with_args:
            self.fail(first, f"can't give argument to non-function {first.src}")
        return self.operand(first, dot)

    def fields(self, node: _Node, value, names: list[str], with_args: bool = False):
        for n, name in enumerate(names):
            last = n == len(names) - 1
            if last and with_args and value is not None:
                what = "is not a method but has arguments" if isinstance(value, GoMap) \
                    else "has arguments but cannot be invoked as function"
                self.fail(node, f"{name} {what}")
            value = self.field(node, value, name)
        return value

    def field(self, node: _Node, value, name: str):
        if value is None:
            return None
        if isinstance(value, _Header):
            return value.field(name)
        if isinstance(value, GoMap):
            return value.get(name)
        if isinstance(value, dict) and name in value:
            return value[name]
        self.fail(node, f"can't evaluate field {name} in type {_go_type(value)}")

    def operand(self, node: _Node, dot):
        """An argument's value."""
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return self.fields(node, dot, node.names)
        if isinstance(node, _Variable):
            return self.fields(node, self.get_var(node, node.name), node.names)
        if isinstance(node, _Chain):
            return self.fields(node, self.pipeline(node.node, dot), node.names)
        if isinstance(node, _Function):
            return self.call(_Command([node], src=node.src), node.name, [], dot, _MISSING)
        raise AssertionError(node)

    def call(self, cmd: _Command, name: str, args: list[_Node], dot, final):
        spec = FUNCTIONS[name]
        count = len(args) + (final is not _MISSING)
        if count < spec.least or (spec.most is not None and count > spec.most):
            want = f"at least {spec.least}" if spec.most is None else str(spec.least)
            self.fail(_Function(name, src=name),
                      f"wrong number of args for {name}: want {want} got {count}")
        if name in ("and", "or"):
            return self.and_or(name, args, dot, final)
        values = [self.operand(a, dot) for a in args]
        if final is not _MISSING:
            values.append(final)
        for n, (value, kind) in enumerate(zip(values, spec.types)):
            values[n] = self.typed(args[n] if n < len(args) else cmd, value, kind)
        try:
            return spec.fn(*values)
        except _CallError as e:
            self.fail(cmd, f"error calling {name}: {e}")

    def and_or(self, name: str, args: list[_Node], dot, final):
        """Go 1.18's short-circuit: the first false (and) or true (or) value,
        else the last."""
        values = (self.operand(arg, dot) for arg in args)     # evaluated one by one
        if final is not _MISSING:
            values = itertools.chain(values, [final])
        value = None
        for value in values:
            if _truth(value) == (name == "or"):
                return value
        return value

    def typed(self, node: _Node, value, kind: str | None):
        """A value for one of podman's typed parameters (string, int, []string)."""
        if kind is None:
            return value
        if value is None:
            if kind == "[]string":
                return []
            self.fail(node, f"invalid value; expected {kind}")
        ok = {"string": isinstance(value, str),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "[]string": isinstance(value, list) and all(isinstance(v, str) for v in value)}
        if not ok[kind]:
            self.fail(node, f"wrong type for value; expected {kind}; got {_go_type(value)}")
        return value


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


# ---------------------------------------------------------------- functions

class _CallError(Exception):
    """A function refused its arguments: "error calling NAME: <this>"."""


@dataclass(frozen=True)
class _Func:
    fn: object
    least: int
    most: int | None
    types: tuple = ()          # podman's typed parameters; None: any value


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


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


# ---------------------------------------------------------------- values as Go prints them

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


# ---------------------------------------------------------------- podman's tables

TABLE = re.compile(r"table |\\t| |\\n")


def is_table(text: str) -> bool:
    """podman's rule: a format starting with ``table `` prints a header row
    and aligns its columns."""
    return text.startswith("table ")


def normalize(text: str) -> str:
    """podman's NormalizeFormat, less the newline it appends: a table drops
    ``table `` and turns every space and ``\\t`` into a column break (a tab);
    any format turns the two characters ``\\t`` and ``\\n`` into a tab and a
    newline."""
    if is_table(text):
        return TABLE.sub(lambda m: {"table ": "", "\\n": "\n"}.get(m.group(), "\t"), text)
    return text.replace("\\t", "\t").replace("\\n", "\n")


class _Header(str):
    """A column's name, standing in for a row's value when the header row
    is rendered: a field of it is the name of that field."""

    def __new__(cls, text: str, path: str = "", names: dict | None = None):
        self = super().__new__(cls, text)
        self.path, self.names = path, names or {}
        return self

    def field(self, name: str) -> "_Header":
        path = f"{self.path}.{name}" if self.path else name
        given = self.names.get(path)
        text = given.upper() if given is not None else " ".join(camel_split(name)).upper()
        return _Header(text, path, self.names)


def header(text: str, names: dict[str, str]) -> str:
    """The header row of a table format: the template rendered with each
    ``{{.Field}}`` standing for ``names[Field]`` (upper-cased, as podman
    does), else the field's name split at its capitals and upper-cased
    (``ContainerID`` -> ``CONTAINER ID``).  Functions apply as in a row
    (podman renders ``{{.Tag | lower}}``'s header as ``tag``)."""
    return parse(normalize(text)).execute(_Header("", "", names))


def camel_split(word: str) -> list[str]:
    """podman's camelcase.Split: ``PDFLoader`` -> ``PDF Loader``, ``GL11Version``
    -> ``GL 11 Version``."""
    runs: list[list[str]] = []
    last = None
    for c in word:
        kind = 1 if c.islower() else 2 if c.isupper() else 3 if c.isdigit() else 4
        if kind == last:
            runs[-1].append(c)
        else:
            runs.append([c])
        last = kind
    for n in range(len(runs) - 1):
        if runs[n][0].isupper() and runs[n + 1][0].islower():
            runs[n + 1].insert(0, runs[n].pop())
    return ["".join(r) for r in runs if r]


def align(rows: list[str], minwidth: int = 12, padding: int = 2) -> list[str]:
    """Lines with tab-separated cells aligned as Go's tabwriter aligns them
    in podman (minwidth 12, padding 2, spaces): a column is as wide as its
    widest cell plus 2, at least 12, within each block of consecutive lines
    that have that column; the last cell of a line is not a column."""
    lines = [line.split("\t") for line in "\n".join(rows).split("\n")]
    widths: list[int] = []
    out = [""] * len(lines)
    _align_block(lines, 0, len(lines), widths, out, minwidth, padding)
    return out


def _align_block(lines, first: int, end: int, widths: list[int], out: list[str],
                 minwidth: int, padding: int) -> None:
    """tabwriter's format(): find each block of lines with a cell in the
    next column, size that column over the block, and recurse."""
    column = len(widths)
    this = first
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, first, this, widths, out)
        first = this
        width = minwidth
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _align_block(lines, first, this, widths + [width], out, minwidth, padding)
        first = this
    _write(lines, first, end, widths, out)


def _write(lines, first: int, end: int, widths: list[int], out: list[str]) -> None:
    for n in range(first, end):
        cells = lines[n]
        out[n] = "".join(c.ljust(widths[j]) if j < len(widths) else c
                         for j, c in enumerate(cells))


# ---------------------------------------------------------------- the API

def parse(text: str) -> Template:
    """A template, or TemplateError naming what does not parse."""
    return Template(text, _Parser(text, FUNCTIONS).parse())


def render(text: str, data) -> str:
    """``parse(text).execute(data)``."""
    return parse(text).execute(data)
