"""`info`: what this host supports, and what is missing."""
import json

import click

from minirun.cli.hot import engine_errors


@click.command()
@click.option("--format", "fmt", default="text", help="text or json")
@click.pass_obj
@engine_errors
def info(obj, fmt: str) -> None:
    """What this host supports, and what is missing."""
    from minirun.engine import hostinfo
    facts = hostinfo.gather(obj["root"])
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2))
        return
    for section, values in facts.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key}: {value}")


COMMANDS = (info,)
