"""The image commands: pull, push, images, rmi, tag, login, logout, save,
load, import, and the `image` group (inspect, prune, and the same verbs
under podman's second names: ls, rm, ...)."""
import json
import sys

import click

from minirun.cli import hot
from minirun.cli.hot import engine_errors


@click.command()
@click.argument("image")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="require HTTPS with a valid certificate (default: registries.conf)")
@click.pass_obj
@engine_errors
def pull(obj, image: str, quiet: bool, tls_verify: bool | None) -> None:
    """Pull an image from a registry into the store."""
    from minirun.engine.images import service as images
    image_id = images.pull(obj["root"], image, tls_verify=tls_verify, quiet=quiet)
    click.echo(image_id[7:])


@click.command()
@click.argument("image")
@click.argument("destination", required=False)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.option("--lazy-index", is_flag=True,
              help="push the image's lazy indexes too (built here if needed), as an "
                   "artifact referring to it")
@click.pass_obj
@engine_errors
def push(obj, image: str, destination: str | None, quiet: bool, tls_verify: bool | None,
         lazy_index: bool) -> None:
    """Push an image from the store to a registry."""
    from minirun.engine.images import push as push_mod
    digest = push_mod.push(obj["root"], image, destination or image, tls_verify=tls_verify)
    if not quiet:
        click.echo(digest)
    if lazy_index:
        from minirun.engine.images import pull as pl
        from minirun.engine import reference
        from minirun.engine.images import registries
        from minirun.engine.lazy import build
        client = pl.client_for(reference.parse(destination or image), registries.load(),
                               tls_verify)
        build.push_indexes(hot.store(obj), image, destination or image, client,
                           say=(lambda line: None) if quiet else click.echo)


def _human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{size} B"
        size /= 1000
    return str(size)


@click.command()
@click.option("--format", "fmt", default="table", help="table or json")
@click.option("-q", "--quiet", is_flag=True, help="image ids only")
@click.option("--no-trunc", is_flag=True)
@click.pass_obj
@engine_errors
def images(obj, fmt: str, quiet: bool, no_trunc: bool) -> None:
    """List the images in the store."""
    from minirun.engine.images import service as img
    rows = img.listing(obj["root"])
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if quiet:
        for r in rows:
            click.echo(r["Id"] if no_trunc else r["Id"][:12])
        return
    click.echo(f"{'REPOSITORY':<40} {'TAG':<16} {'IMAGE ID':<14} {'CREATED':<22} SIZE")
    for r in rows:
        names = r["Names"] or ["<none>:<none>"]
        for n in names:
            repo, _, tag = n.rpartition(":") if "@" not in n else (n.split("@")[0], "", "<none>")
            click.echo(f"{repo:<40} {tag:<16} {r['Id'][:12]:<14} {r['Created']:<22} "
                       f"{_human(r['Size'])}")


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="also images that containers use")
@click.pass_obj
@engine_errors
def rmi(obj, names, force: bool) -> None:
    """Remove images from the store."""
    from minirun.engine.containers import lifecycle
    from minirun.engine.images import service as img
    import functools
    from minirun.engine.store import ImageNotFound
    remove_container = functools.partial(lifecycle.remove, force=True)   # rmi -f's
    try:
        lines = img.remove(obj["root"], list(names), force, remove_container)
    except ImageNotFound as e:
        raise ImageNotFound(str(e), exit_code=1) from None      # podman's 1
    for line in lines:
        click.echo(line)


@click.command()
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def tag(obj, image: str, names) -> None:
    """Give an image more names."""
    from minirun.engine.images import service as img
    img.tag(obj["root"], image, list(names))


@click.group()
def image() -> None:
    """Manage images."""


@image.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def image_inspect(obj, names) -> None:
    """Show an image's details as JSON."""
    from minirun.engine.images import service as img
    click.echo(json.dumps([img.inspect(obj["root"], n) for n in names], indent=2))


@image.command("exists")
@click.argument("name")
@click.pass_obj
@engine_errors
def image_exists(obj, name: str) -> None:
    """Exit 0 if the image is in the store, 1 if it is not (podman's)."""
    from minirun.engine.store import ImageNotFound
    try:
        hot.store(obj).lookup(name)
    except ImageNotFound:
        raise SystemExit(1) from None


@image.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="also tagged images no container uses")
@click.option("-f", "--force", is_flag=True, help="do not ask (accepted; minirun never asks)")
@click.pass_obj
@engine_errors
def image_prune(obj, all_: bool, force: bool) -> None:
    """Remove images without a name (all unused ones with -a)."""
    from minirun.engine.images import service as img
    for line in img.prune(obj["root"], all_):
        click.echo(line)


@click.command()
@click.argument("registry")
@click.option("-u", "--username", prompt=True)
@click.option("-p", "--password", help="the password (else read from a prompt)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@engine_errors
def login(registry: str, username: str, password: str | None, password_stdin: bool,
          tls_verify: bool | None) -> None:
    """Log in to a registry; credentials go to auth.json, as podman keeps them."""
    from minirun.engine.images import auth
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True)
    path = auth.login(registry, username, password, tls_verify=tls_verify)
    click.echo(f"Login Succeeded! (credentials in {path})")


@click.command()
@click.argument("registry", required=False)
@click.option("-a", "--all", "all_", is_flag=True)
@engine_errors
def logout(registry: str | None, all_: bool) -> None:
    """Forget the credentials of a registry (or of all with -a)."""
    from minirun.engine.images import registries
    if not registry and not all_:
        raise click.UsageError("name a registry, or use --all")
    changed = registries.remove_credentials(None if all_ else registry)
    if not changed and registry:
        from minirun.errors import MiniRunError
        raise MiniRunError(f"not logged into {registry}")
    click.echo(f"Removed login credentials for {'all registries' if all_ else registry}")


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="the file to write")
@click.option("--format", "fmt", default="docker-archive",
              type=click.Choice(["docker-archive", "oci-archive"]))
@click.pass_obj
@engine_errors
def save(obj, names, output: str, fmt: str) -> None:
    """Write images to an archive (docker-archive or oci-archive)."""
    from minirun.engine.images import service as img
    img.save(obj["root"], list(names), output, fmt)


@click.command()
@click.option("-i", "--input", "path", required=True,
              help="a docker-archive, an oci-archive or an OCI layout directory")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_obj
@engine_errors
def load(obj, path: str, quiet: bool) -> None:
    """Load images from an archive."""
    from minirun.engine.images import service as img
    for name in img.load(obj["root"], path):
        if not quiet:
            click.echo(f"Loaded image: {name}")


@click.command("import")
@click.argument("tarball")
@click.argument("name", required=False)
@click.pass_obj
@engine_errors
def import_(obj, tarball: str, name: str | None) -> None:
    """Make a one-layer image of a root filesystem tarball."""
    from minirun.engine.images import service as img
    click.echo(img.import_rootfs(obj["root"], tarball, name)[7:])


# `image VERB`: the same commands under the group, as podman has them
for _name, _cmd in (("pull", pull), ("push", push), ("ls", images), ("rm", rmi), ("tag", tag),
                    ("save", save), ("load", load), ("import", import_)):
    image.add_command(_cmd, _name)

# what commands.py puts at the top: `minirun VERB`
COMMANDS = (pull, push, images, rmi, tag, image, login, logout, save, load, import_)
