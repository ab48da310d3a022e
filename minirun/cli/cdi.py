"""The `cdi` group: `generate` writes a CDI spec for this host's NVIDIA
driver (what `nvidia-ctk cdi generate` does, without the toolkit); `list`
prints the devices the host's CDI specs name.

The driver is read under "/", or under $MINIRUN_DRIVER_ROOT (the tests'
fake driver root: see engine/cdi/discover.py); the specs in /etc/cdi,
/var/run/cdi and a plain user's $XDG_CONFIG_HOME/cdi, or the directories
$MINIRUN_CDI_DIRS lists (engine/cdi/registry.py).
"""
import os

import click

from minirun.cli.hot import engine_errors


@click.group()
def cdi() -> None:
    """Container Device Interface: specs for GPUs and other devices."""


@cdi.command("generate")
@click.option("--output", "-o", metavar="FILE",
              help="write the spec to FILE (default: standard output)")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default=None,
              help="yaml (the default) or json; with --output, FILE's extension decides "
                   "when not given")
@engine_errors
def cdi_generate(output: str | None, fmt: str | None) -> None:
    """Write a CDI spec for this host's NVIDIA GPUs (kind nvidia.com/gpu)."""
    from minirun.engine.cdi import discover, generate
    if fmt is None:
        fmt = "json" if output and output.endswith(".json") else "yaml"
    text = generate.dump(generate.spec(discover.discover()), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    _write(output, text)


def _write(path: str, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it,
    renamed over it (a reader never sees half a spec)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        from minirun.errors import MiniRunError
        raise MiniRunError(f"cannot write the spec to `{path}`: `{folder}` is not a directory "
                           f"(make it first: mkdir -p {folder})")
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=".cdi-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:  # noqa: BLE001 - any failure, even ^C: the temporary file goes
        os.unlink(tmp)
        raise


@cdi.command("list")
@engine_errors
def cdi_list() -> None:
    """The devices the host's CDI specs define (vendor/class=name), one a line.
    A spec file that cannot be read is named on stderr; its devices are not listed."""
    from minirun.engine.cdi import registry
    found = registry.Registry()
    for name in found.names():
        click.echo(name)
    for error in found.errors.values():
        click.echo(f"Warning: {error} (its devices are not listed)", err=True)


COMMANDS = (cdi,)
