"""The parser: tokens into a small tree of nodes, with Go's checks.

Read the nodes first (the tree: text, actions with their pipelines and
commands, and the ``if``/``with``/``range`` controls), then ``_Parser``:
``parse`` -> ``item_list`` -> ``action`` -> ``control`` or ``pipeline`` ->
``command`` -> ``operand`` -> ``term``.  Functions and variables must be
defined, controls closed, ``break`` and ``continue`` inside ``range``.  The
functions' names come in as an argument, so the parser does not import them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from minirun.gotemplate.gofmt import _go_quote
from minirun.gotemplate.lexer import _Lexer, _parse_error, _Token


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
