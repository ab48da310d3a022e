"""The `volume` group: create, ls, inspect, rm, prune."""
import json

import click

from minirun.cli import hot
from minirun.cli.common import each, listing
from minirun.cli.hot import engine_errors


@click.group()
def volume() -> None:
    """Manage named volumes."""


@volume.command("create")
@click.argument("name", required=False)
@click.option("--label", "-l", multiple=True)
@click.pass_obj
@engine_errors
def volume_create(obj, name, label) -> None:
    """Create a volume."""
    from minirun.engine.containers import volumes
    labels = dict(x.split("=", 1) for x in label if "=" in x)
    click.echo(volumes.create(hot.store(obj), name, labels))


@volume.command("ls")
@click.option("--format", "fmt", default="table")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_obj
@engine_errors
def volume_ls(obj, fmt: str, quiet: bool) -> None:
    """List volumes."""
    from minirun.engine.containers import volumes
    listing(volumes.listing(hot.store(obj)), fmt, quiet, f"{'DRIVER':<10}VOLUME NAME",
             lambda v: v["Name"], lambda v: f"{v['Driver']:<10}{v['Name']}")


@volume.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def volume_inspect(obj, names) -> None:
    """Show volumes as JSON."""
    from minirun.engine.containers import volumes
    click.echo(json.dumps([volumes.inspect(hot.store(obj), n) for n in names], indent=2))


@volume.command("exists")
@click.argument("name")
@click.pass_obj
@engine_errors
def volume_exists(obj, name: str) -> None:
    """Exit 0 if the volume exists, 1 if it does not (podman's)."""
    from minirun.engine.containers import volumes
    if not volumes.exists(hot.store(obj), name):
        raise SystemExit(1)


@volume.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def volume_rm(obj, force: bool, names) -> None:
    """Remove volumes."""
    from minirun.engine.containers import volumes
    each(names, lambda name: volumes.remove(hot.store(obj), name, force), missing=1)


@volume.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def volume_prune(obj, force: bool) -> None:
    """Remove the volumes no container uses."""
    from minirun.engine.containers import volumes
    for name in volumes.prune(hot.store(obj)):
        click.echo(name)


COMMANDS = (volume,)
