"""Go's text/template language, as podman's ``--format`` speaks it.

podman renders ``--format`` with Go's text/template and the functions of
containers/common's ``pkg/report``; users' scripts depend on both
(``{{.State.Status}}``, ``{{json .Config}}``, ``{{range .Mounts}}...{{end}}``,
``table {{.ID}}\\t{{.Image}}``).  No well-kept pure-Python implementation
exists, so this package is one.  It follows Go 1.19, which podman 4.3 was
built with (no ``{{else with}}``, no range over an integer), and is checked
against podman itself in tests/e2e/test_gotemplate_oracle.py.  Its modules,
in reading order (each one's docstring says how to read it):

    data.py       what all parts share: the data's Go types, TemplateError
    lexer.py      ``_Lexer``: text into tokens
    parser.py     ``_Parser``: tokens into a small tree of nodes
    execute.py    ``Template``, ``_Exec``: the tree over the data
    functions.py  the functions a template can call (``FUNCTIONS``)
    gofmt.py      Go's value printing: ``fmt``'s ``%v``, ``printf``'s verbs,
                  ``encoding/json``
    tables.py     podman's tables: ``is_table``, ``normalize``, ``align``
    __init__.py   this guide and the API: ``parse``, ``render``, ``header``

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

from minirun.gotemplate.data import GoMap, GoStruct, NilMap, NilSlice, TemplateError
from minirun.gotemplate.execute import Template
from minirun.gotemplate.functions import FUNCTIONS
from minirun.gotemplate.parser import _Parser
from minirun.gotemplate.tables import _Header, align, camel_split, is_table, normalize

__all__ = ["parse", "render", "header", "Template", "TemplateError", "GoMap", "GoStruct",
           "NilMap", "NilSlice", "is_table", "normalize", "align", "camel_split"]


# ---------------------------------------------------------------- the API

def parse(text: str) -> Template:
    """A template, or TemplateError naming what does not parse."""
    return Template(text, _Parser(text, FUNCTIONS).parse())


def render(text: str, data) -> str:
    """``parse(text).execute(data)``."""
    return parse(text).execute(data)


def header(text: str, names: dict[str, str]) -> str:
    """The header row of a table format: the template rendered with each
    ``{{.Field}}`` standing for ``names[Field]`` (upper-cased, as podman
    does), else the field's name split at its capitals and upper-cased
    (``ContainerID`` -> ``CONTAINER ID``).  Functions apply as in a row
    (podman renders ``{{.Tag | lower}}``'s header as ``tag``)."""
    return parse(normalize(text)).execute(_Header("", "", names))
