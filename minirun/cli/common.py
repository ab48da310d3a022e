"""What the nouns' commands share: printing each name a verb acted on, and
the `ls` of volumes and networks (JSON, names only, or a table)."""
import json

import click


def each(names, fn) -> None:
    """Do ``fn(name)`` for each name and print it, as podman's verbs do."""
    for name in names:
        fn(name)
        click.echo(name)


def listing(rows: list[dict], fmt: str, quiet: bool, header: str, name, line) -> None:
    """`ls` as podman prints it: JSON, names only (-q), or a table."""
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not quiet:
        click.echo(header)
    for row in rows:
        click.echo(name(row) if quiet else line(row))
