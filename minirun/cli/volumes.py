"""The `volume` group (create, ls, inspect, exists, rm, prune) and the
`secret` group (create, ls, inspect, rm): what the store keeps for
containers besides images."""

import click

from minirun.cli import hot
from minirun.cli.common import each
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
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-q", "--quiet", is_flag=True)
@click.option("-f", "--filter", "filters", multiple=True, help="name=, label=KEY[=VALUE], "
                                                                "dangling=true|false")
@click.pass_obj
@engine_errors
def volume_ls(obj, fmt: str | None, quiet: bool, filters) -> None:
    """List volumes."""
    from minirun.cli import formats
    from minirun.engine.containers import volumes
    store = hot.store(obj)
    vols = [v for v in volumes.listing(store) if _volume_matches(store, v, filters)]
    if quiet:
        for v in vols:
            click.echo(v["Name"])
        return
    formats.rows(fmt, vols, "table {{.Driver}}\t{{.Name}}", {"Name": "VOLUME NAME"})


def _volume_matches(store, vol: dict, filters) -> bool:
    from minirun.engine.containers import volumes
    from minirun.errors import MiniRunError
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name":
            ok = value in vol["Name"]
        elif key == "label":
            k, _, v = value.partition("=")
            ok = k in vol["Labels"] and (not v or vol["Labels"][k] == v)
        elif key == "dangling":
            ok = (not volumes.users(store, vol["Name"])) == (value == "true")
        else:
            raise MiniRunError(f"--filter {f}: use name=, label= or dangling=")
        if not ok:
            return False
    return True


@volume.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def volume_inspect(obj, fmt: str | None, names) -> None:
    """Show volumes: JSON in podman's shape, or --format."""
    from minirun.cli import formats
    from minirun.engine.containers import volumes
    formats.objects(fmt, [volumes.inspect(hot.store(obj), n) for n in names])


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
    import functools
    from minirun.engine.containers import lifecycle, volumes
    remove_container = functools.partial(lifecycle.remove, force=True)   # volume rm -f's
    each(names, lambda name: volumes.remove(hot.store(obj), name, force, remove_container),
         missing=1, ignore_missing=force)


@volume.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def volume_prune(obj, force: bool) -> None:
    """Remove the volumes no container uses."""
    from minirun.engine.containers import volumes
    for name in volumes.prune(hot.store(obj)):
        click.echo(name)



@click.group()
def secret() -> None:
    """Manage secrets (given to containers with run --secret)."""


@secret.command("create")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE")
@click.option("--replace", is_flag=True, help="replace a secret of the same name")
@click.option("-d", "--driver", default="file", type=click.Choice(["file"]))
@click.argument("name")
@click.argument("source")
@click.pass_obj
@engine_errors
def secret_create(obj, label, replace: bool, driver: str, name: str, source: str) -> None:
    """Keep a secret read from SOURCE (a file, or - for standard input)."""
    import sys
    from minirun.engine.containers import secrets
    from minirun.errors import MiniRunError
    try:
        data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()
    except OSError as e:
        raise MiniRunError(f"secret create {name}: {source}: {e.strerror}") from None
    labels = dict(x.split("=", 1) for x in label if "=" in x)
    click.echo(secrets.create(hot.store(obj), name, data, labels, replace))


@secret.command("ls")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-q", "--quiet", is_flag=True, help="ids only")
@click.pass_obj
@engine_errors
def secret_ls(obj, fmt: str | None, quiet: bool) -> None:
    """List secrets (their names, never their data)."""
    from minirun.cli import formats
    from minirun.engine.containers import secrets
    found = secrets.listing(hot.store(obj))
    if quiet:
        for s in found:
            click.echo(s["ID"])
        return
    rows = [dict(s, Name=s["Spec"]["Name"], Driver=s["Spec"]["Driver"]["Name"],
                 CreatedAt=formats.ago(s["CreatedAt"]), UpdatedAt=formats.ago(s["UpdatedAt"]))
            for s in found]
    formats.rows(fmt, found if fmt == "json" else rows,
                 "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.CreatedAt}}\\t{{.UpdatedAt}}",
                 {"CreatedAt": "CREATED", "UpdatedAt": "UPDATED"})


@secret.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def secret_inspect(obj, fmt: str | None, names) -> None:
    """Show secrets (never their data)."""
    from minirun.cli import formats
    from minirun.engine.containers import secrets
    formats.objects(fmt, [secrets.find(hot.store(obj), n) for n in names])


@secret.command("rm")
@click.option("-a", "--all", "all_", is_flag=True, help="every secret")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def secret_rm(obj, all_: bool, names) -> None:
    """Remove secrets."""
    from minirun.engine.containers import secrets
    store = hot.store(obj)
    if all_:
        names = [s["ID"] for s in secrets.listing(store)]
    elif not names:
        raise click.UsageError("name a secret, or use --all")
    each(names, lambda n: secrets.remove(store, n), echo=lambda n, sid: sid)


COMMANDS = (volume, secret)
