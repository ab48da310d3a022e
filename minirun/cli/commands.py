"""The root of `minirun`'s click tree: the `cli` group with its global
options (--root, --runroot, --explain), `oci`, and the nouns' commands
registered on it, each noun in its own module (images, containers, volumes,
networks, lazy, info).  Each command is thin: parse, call the engine,
print.  Errors print as podman prints them (``Error: ...``) and exit with
podman's codes (125 for minirun's own)."""
import os

import click

from minirun import __version__
from minirun.cli import (build, cdi, containers, hot, images, info, lazy, networks, pods,
                         system, volumes)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minirun", message="%(prog)s version %(version)s")
@click.option("--explain", is_flag=True, help="narrate each step on stderr")
@click.option("--root", "store_root", metavar="DIR", envvar="MINIRUN_ROOT",
              help="image store (default /var/lib/minirun, rootless ~/.local/share/minirun)")
@click.option("--runroot", metavar="DIR", envvar="MINIRUN_RUNROOT",
              help="runtime state: containers' processes, lazy mounts, helpers (default "
                   "/run/minirun, rootless $XDG_RUNTIME_DIR/minirun)")
@click.pass_context
def cli(ctx, explain: bool, store_root: str | None, runroot: str | None) -> None:
    """A daemonless, rootless container runtime built on Linux primitives."""
    # absolute: the monitor and the lazy server do not start in our directory
    ctx.obj = {"root": os.path.abspath(store_root) if store_root else None}
    if runroot:
        hot.set_runroot(runroot)
    if explain:
        from minirun import explain as ex
        ex.enable()
        ex.set_actor("cli", "the minirun command: image, container record, bundle")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                               "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def oci(args) -> None:
    """The runc-compatible runtime (same as minirun-oci)."""
    from minirun.cli import oci as oci_cli
    raise SystemExit(oci_cli.main(list(args)))


for _noun in (images, build, containers, volumes, networks, lazy, info, cdi, system, pods):
    for _cmd in _noun.COMMANDS:
        cli.add_command(_cmd)
