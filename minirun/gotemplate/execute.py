"""The evaluator: a parsed tree run over the data, writing as it goes.

Read ``Template.execute``, then ``_Exec``: ``walk`` over the nodes, the
controls (``if_or_with``, ``range`` with its ``bind_range``), ``pipeline``
-> ``command`` -> ``fields``/``operand``, and ``call``, which checks a
function's argument count and podman's typed parameters (``typed``) before
calling it from the table in functions.py.  An error raised on the way
(``_Failed``) becomes a ``TemplateError`` carrying the output so far, as
podman prints that much.
"""
from __future__ import annotations

import itertools

from minirun.gotemplate.data import (_MISSING, GoMap, TemplateError, _CallError, _go_type,
                                     _truth)
from minirun.gotemplate.functions import FUNCTIONS
from minirun.gotemplate.gofmt import _print
from minirun.gotemplate.parser import (_Action, _Chain, _Command, _Control, _Dot, _Field,
                                       _Function, _Jump, _Literal, _Node, _Pipe, _Text,
                                       _Variable)
from minirun.gotemplate.tables import _Header


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
