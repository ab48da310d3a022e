"""podman's tables: what it does around the template for ``table`` formats.

Read in the order of the flow (the package's docstring shows it):
``is_table`` and ``normalize`` (the format's ``\\t``, ``\\n`` and a table's
spaces into tabs and newlines), ``_Header`` (the value a header row is
rendered over: a field of it is the field's name, split by ``camel_split``
and upper-cased), and ``align`` (the cells into columns, as Go's tabwriter
does).  ``header`` itself, which renders a format over a ``_Header``, is in
``__init__.py`` with the rest of the API, because it runs the whole engine.
"""
from __future__ import annotations

import re


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
