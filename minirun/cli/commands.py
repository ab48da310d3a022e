"""The click command tree of `minirun`.  Each command is thin: parse, call
the engine, print.  Errors print as podman prints them (``Error: ...``) and
exit with podman's codes (125 for minirun's own)."""
import functools
import json
import sys

import click

from minirun import __version__


def engine_errors(fn):
    """MiniRunError -> `Error: message` on stderr and its exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from minirun.errors import MiniRunError
        try:
            return fn(*args, **kwargs)
        except MiniRunError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minirun")
@click.option("--explain", is_flag=True, help="narrate each step on stderr")
@click.option("--root", "store_root", metavar="DIR", envvar="MINIRUN_ROOT",
              help="image store (default /var/lib/minirun, rootless ~/.local/share/minirun)")
@click.pass_context
def cli(ctx, explain: bool, store_root: str | None) -> None:
    """A daemonless, rootless container runtime built on Linux primitives."""
    ctx.obj = {"root": store_root}
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


# --- images ------------------------------------------------------------------

@cli.command()
@click.argument("image")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="require HTTPS with a valid certificate (default: registries.conf)")
@click.pass_obj
@engine_errors
def pull(obj, image: str, quiet: bool, tls_verify: bool | None) -> None:
    """Pull an image from a registry into the store."""
    from minirun.engine import images
    image_id = images.pull(obj["root"], image, tls_verify=tls_verify, quiet=quiet)
    click.echo(image_id[7:])


@cli.command()
@click.argument("image")
@click.argument("destination", required=False)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.pass_obj
@engine_errors
def push(obj, image: str, destination: str | None, quiet: bool, tls_verify: bool | None) -> None:
    """Push an image from the store to a registry."""
    from minirun.engine import push as push_mod
    digest = push_mod.push(obj["root"], image, destination or image, tls_verify=tls_verify)
    if not quiet:
        click.echo(digest)


def _human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{size} B"
        size /= 1000
    return str(size)


@cli.command()
@click.option("--format", "fmt", default="table", help="table or json")
@click.option("-q", "--quiet", is_flag=True, help="image ids only")
@click.option("--no-trunc", is_flag=True)
@click.pass_obj
@engine_errors
def images(obj, fmt: str, quiet: bool, no_trunc: bool) -> None:
    """List the images in the store."""
    from minirun.engine import images as img
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


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="also images that containers use")
@click.pass_obj
@engine_errors
def rmi(obj, names, force: bool) -> None:
    """Remove images from the store."""
    from minirun.engine import images as img
    for line in img.remove(obj["root"], list(names), force):
        click.echo(line)


@cli.command()
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def tag(obj, image: str, names) -> None:
    """Give an image more names."""
    from minirun.engine import images as img
    img.tag(obj["root"], image, list(names))


@cli.group()
def image() -> None:
    """Manage images."""


@image.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def image_inspect(obj, names) -> None:
    """Show an image's details as JSON."""
    from minirun.engine import images as img
    click.echo(json.dumps([img.inspect(obj["root"], n) for n in names], indent=2))


@image.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="also tagged images no container uses")
@click.option("-f", "--force", is_flag=True, help="do not ask (accepted; minirun never asks)")
@click.pass_obj
@engine_errors
def image_prune(obj, all_: bool, force: bool) -> None:
    """Remove images without a name (all unused ones with -a)."""
    from minirun.engine import images as img
    for line in img.prune(obj["root"], all_):
        click.echo(line)


image.add_command(pull, "pull")
image.add_command(push, "push")
image.add_command(images, "ls")
image.add_command(rmi, "rm")
image.add_command(tag, "tag")


@cli.command()
@click.argument("registry")
@click.option("-u", "--username", prompt=True)
@click.option("-p", "--password", help="the password (else read from a prompt)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@engine_errors
def login(registry: str, username: str, password: str | None, password_stdin: bool,
          tls_verify: bool | None) -> None:
    """Log in to a registry; credentials go to auth.json, as podman keeps them."""
    from minirun.engine import auth
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None:
        password = click.prompt("Password", hide_input=True)
    path = auth.login(registry, username, password, tls_verify=tls_verify)
    click.echo(f"Login Succeeded! (credentials in {path})")


@cli.command()
@click.argument("registry", required=False)
@click.option("-a", "--all", "all_", is_flag=True)
@engine_errors
def logout(registry: str | None, all_: bool) -> None:
    """Forget the credentials of a registry (or of all with -a)."""
    from minirun.engine import registries
    if not registry and not all_:
        raise click.UsageError("name a registry, or use --all")
    changed = registries.remove_credentials(None if all_ else registry)
    if not changed and registry:
        from minirun.errors import MiniRunError
        raise MiniRunError(f"not logged into {registry}")
    click.echo(f"Removed login credentials for {'all registries' if all_ else registry}")


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="the file to write")
@click.option("--format", "fmt", default="docker-archive",
              type=click.Choice(["docker-archive", "oci-archive"]))
@click.pass_obj
@engine_errors
def save(obj, names, output: str, fmt: str) -> None:
    """Write images to an archive (docker-archive or oci-archive)."""
    from minirun.engine import images as img
    img.save(obj["root"], list(names), output, fmt)


@cli.command()
@click.option("-i", "--input", "path", required=True,
              help="a docker-archive, an oci-archive or an OCI layout directory")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_obj
@engine_errors
def load(obj, path: str, quiet: bool) -> None:
    """Load images from an archive."""
    from minirun.engine import images as img
    for name in img.load(obj["root"], path):
        if not quiet:
            click.echo(f"Loaded image: {name}")


@cli.command("import")
@click.argument("tarball")
@click.argument("name", required=False)
@click.pass_obj
@engine_errors
def import_(obj, tarball: str, name: str | None) -> None:
    """Make a one-layer image of a root filesystem tarball."""
    from minirun.engine import images as img
    click.echo(img.import_rootfs(obj["root"], tarball, name)[7:])


image.add_command(save, "save")
image.add_command(load, "load")
image.add_command(import_, "import")
