"""The click command tree of `minirun`.  Each command is thin: parse, call,
print.  The engine commands (pull, run, ps, ...) arrive with their issues."""
import click

from minirun import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minirun")
@click.option("--explain", is_flag=True, help="narrate each step on stderr")
def cli(explain: bool) -> None:
    """A daemonless, rootless container runtime built on Linux primitives."""
    if explain:
        from minirun import explain as ex
        ex.enable()


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                               "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def oci(args) -> None:
    """The runc-compatible runtime (same as minirun-oci)."""
    from minirun.cli import oci as oci_cli
    raise SystemExit(oci_cli.main(list(args)))
