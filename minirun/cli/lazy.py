"""The `lazy` group: index and record, for lazily read layers."""
import click

from minirun.cli import hot
from minirun.cli.hot import engine_errors


@click.group()
def lazy() -> None:
    """Lazily read layers (SOCI-style): indexes of gzip layers."""


@lazy.command("index")
@click.argument("image")
@click.option("--spacing", default="1MiB", metavar="SIZE",
              help="uncompressed bytes between checkpoints (default 1MiB)")
@click.option("--push", is_flag=True,
              help="push the indexes to the registry, as an artifact referring to IMAGE")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.pass_obj
@engine_errors
def lazy_index(obj, image: str, spacing: str, push: bool, tls_verify: bool | None) -> None:
    """Index each gzip layer of IMAGE (in a registry) and keep the indexes."""
    from minirun.engine.lazy import build
    build.index_image(hot.store(obj), image, _size(spacing), tls_verify=tls_verify, push=push,
                      say=click.echo)


@lazy.command("record", context_settings={"ignore_unknown_options": True})
@click.argument("image")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.pass_obj
@engine_errors
def lazy_record(obj, image: str, command, tls_verify: bool | None) -> None:
    """Run COMMAND in IMAGE once and record the files its start reads, in
    order: cold starts fetch them first (push them with lazy index --push)."""
    from minirun.engine.lazy import build
    build.record(hot.store(obj), image, list(command), tls_verify=tls_verify, say=click.echo)


def _size(text: str) -> int:
    import re
    from minirun.errors import MiniRunError
    m = re.match(r"^(\d+)\s*(|k|kib|m|mib)$", text.strip().lower())
    if not m:
        raise MiniRunError(f"--spacing {text}: give a size such as 4MiB or 512KiB")
    return int(m.group(1)) << {"": 0, "k": 10, "kib": 10, "m": 20, "mib": 20}[m.group(2)]


COMMANDS = (lazy,)
