"""The image commands: pull, push, images, rmi, tag, login, logout, save,
load, import, and the `image` group (inspect, prune, copy, and the same
verbs under podman's second names: ls, rm, ...)."""
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


@click.command()
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-q", "--quiet", is_flag=True, help="image ids only")
@click.option("--no-trunc", is_flag=True)
@click.option("-a", "--all", "all_", is_flag=True, help="also the intermediate images "
                                                        "builds make")
@click.option("-n", "--noheading", is_flag=True, help="no header row")
@click.option("-f", "--filter", "filters", multiple=True,
              help="reference=PATTERN, dangling=true|false, label=KEY[=VALUE]")
@click.argument("reference", required=False)
@click.pass_obj
@engine_errors
def images(obj, fmt: str | None, quiet: bool, no_trunc: bool, all_: bool,
           noheading: bool, filters, reference: str | None) -> None:
    """List the images in the store (REFERENCE: those whose name matches it)."""
    from minirun.cli import formats
    from minirun.engine.images import service as img
    wanted = list(filters) + ([f"reference={reference}"] if reference else [])
    summaries = [s for s in img.summaries(obj["root"]) if _image_matches(s, wanted)]
    if not all_:
        from minirun.engine.store import Store, hex_of
        hidden = {hex_of(i) for i in Store(obj["root"]).intermediate_images()}
        summaries = [s for s in summaries if s["Id"] not in hidden]
    if quiet:
        for r in summaries:
            click.echo(r["Id"] if no_trunc else r["Id"][:12])
        return
    if fmt == "json":
        formats.rows("json", summaries, "", {})
        return
    rows = [dict(row, Repository=repo, Tag=tag)         # a matching image's every name,
            for s in summaries for row in [image_row(s, no_trunc)]     # as podman lists it
            for repo, tag in _repo_tags(s)]
    default = IMAGES_TABLE[len("table "):] if noheading else IMAGES_TABLE
    formats.rows(fmt, rows, default, {"ID": "IMAGE ID", "CreatedSince": "CREATED",
                                      "CreatedAt": "CREATED AT"})


def _image_matches(summary: dict, filters: list[str]) -> bool:
    """podman's images --filter: reference= (a name, or a glob of one),
    dangling=, label=KEY[=VALUE]."""
    import fnmatch
    from minirun.errors import MiniRunError
    for f in filters:
        key, _, value = f.partition("=")
        if key == "reference":
            names = summary["Names"]
            ok = any(fnmatch.fnmatch(n, value) or fnmatch.fnmatch(n, f"*/{value}") or
                     fnmatch.fnmatch(n.rsplit(":", 1)[0], value) or
                     fnmatch.fnmatch(n.rsplit(":", 1)[0], f"*/{value}") for n in names)
        elif key == "dangling":
            ok = (not summary["Names"]) == (value == "true")
        elif key == "label":
            k, _, v = value.partition("=")
            labels = summary["Labels"] or {}
            ok = k in labels and (not v or labels[k] == v)
        else:
            raise MiniRunError(f"--filter {f}: use reference=, dangling= or label=")
        if not ok:
            return False
    return True


IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}"


def image_row(summary: dict, no_trunc: bool = False) -> dict:
    """What `images --format '{{.Field}}'` sees: podman's reporter over the
    summary (a short ID, times and the size in words)."""
    from minirun.cli.formats import ago, go_time, size
    created = summary["CreatedAt"]
    return dict(summary, ID=summary["Id"] if no_trunc else summary["Id"][:12],
                Created=ago(created), CreatedSince=ago(created), CreatedAt=go_time(created),
                Size=size(summary["Size"]), ReadOnly=False,
                Dangling=not summary["Names"], History=", ".join(summary["History"]))


def _repo_tags(summary: dict) -> list[tuple[str, str]]:
    """One row per name, as podman lists them (<none> for a nameless image)."""
    out = []
    for name in summary["Names"] or ["<none>:<none>"]:
        if "@" in name:
            out.append((name.split("@")[0], "<none>"))
        else:
            repo, _, tag = name.rpartition(":")
            out.append((repo, tag))
    return out


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
    if force:           # a name that is not there is passed over, as podman does
        store = hot.store(obj)
        names = [n for n in names if _in_store(store, n)]
        if not names:
            return
    try:
        lines = img.remove(obj["root"], list(names), force, remove_container)
    except ImageNotFound as e:
        raise ImageNotFound(str(e), exit_code=1) from None      # podman's 1
    for line in lines:
        click.echo(line)


def _in_store(store, name: str) -> bool:
    from minirun.engine.store import ImageNotFound
    try:
        store.lookup(name)
    except ImageNotFound:
        return False
    return True


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
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.option("--raw", is_flag=True, help="the manifest's bytes as stored or served "
                                          "(the config's, with --config)")
@click.option("--config", "config", is_flag=True, help="the image's config")
@click.option("-n", "--no-tags", is_flag=True, help="no RepoTags (a registry's tags list)")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def image_inspect(obj, fmt: str | None, raw: bool, config: bool, no_tags: bool,
                  tls_verify: bool | None, names) -> None:
    """Show images' details: JSON in podman's shape, or --format.  A name
    with a transport (docker://REF, oci:DIR, ... as skopeo's) is inspected
    where it is, without copying it, in skopeo's shape."""
    from minirun.cli import formats
    from minirun.engine.images import service as img, transports
    remote = [n for n in names if transports.split(n)[1] != n]
    if not remote and not raw and not config:
        formats.objects(fmt, [img.inspect(obj["root"], n) for n in names])
        return
    if len(names) != 1:
        raise click.UsageError("a name with a transport (or --raw, --config) is "
                               "inspected one at a time")
    from minirun.engine.images import remote as rm
    out = rm.inspect(names[0], raw=raw, config=config, tags=not no_tags,
                     tls_verify=tls_verify, root=obj["root"])
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)    # byte for byte, as skopeo --raw
    elif fmt and fmt != "json":
        formats.objects(fmt, [out])
    else:
        click.echo(json.dumps(out, indent=4))


@image.command("copy")
@click.argument("source")
@click.argument("destination")
@click.option("-q", "--quiet", is_flag=True, help="no report of the steps")
@click.option("--src-tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="require HTTPS with a valid certificate from a docker:// source")
@click.option("--dest-tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="the same, for a docker:// destination")
@click.option("-f", "--format", "fmt", type=click.Choice(["oci", "v2s2"]), default=None,
              help="the manifest's format at the destination (default: the source's, "
                   "where the destination holds it)")
@click.option("--digestfile", metavar="FILE", help="write the manifest's digest there")
@click.option("-a", "--all", "all_", is_flag=True,
              help="an index with every image it lists (not only this platform's)")
@click.pass_obj
@engine_errors
def image_copy(obj, source: str, destination: str, quiet: bool, src_tls_verify: bool | None,
               dest_tls_verify: bool | None, fmt: str | None, digestfile: str | None,
               all_: bool) -> None:
    """Copy an image between transports, as skopeo copy: docker://REF,
    oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF],
    dir:PATH, containers-storage:REF (or a bare NAME: the store).  Blobs go
    across as they are, each checked against its digest."""
    from minirun.engine.images import service as img
    digest = img.copy(obj["root"], source, destination, src_tls_verify=src_tls_verify,
                      dest_tls_verify=dest_tls_verify, quiet=quiet, fmt=fmt, all_=all_)
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(digest)


@click.command()
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("--no-trunc", is_flag=True, help="whole ids and commands")
@click.option("-H", "--human", type=click.BOOL, default=True,
              help="times and sizes in words (default true)")
@click.option("-q", "--quiet", is_flag=True, help="ids only")
@click.argument("name")
@click.pass_obj
@engine_errors
def history(obj, fmt: str | None, no_trunc: bool, human: bool, quiet: bool, name: str) -> None:
    """An image's history: how each layer was made, newest first."""
    from minirun.cli import formats
    from minirun.engine.images import service as img
    entries = img.history(obj["root"], name)
    if quiet:
        for e in entries:
            click.echo(e["id"] if no_trunc or e["id"] == "<missing>" else e["id"][:12])
        return
    if fmt == "json":
        formats.rows("json", entries, "", {})
        return
    rows = []
    for e in entries:
        by = e["CreatedBy"]
        rows.append(dict(e, ID=e["id"] if no_trunc or e["id"] == "<missing>" else e["id"][:12],
                         Created=formats.ago(e["created"]) if human else e["created"],
                         CreatedBy=by if no_trunc or len(by) <= 45 else by[:42] + "...",
                         Size=formats.size(e["size"]) if human else e["size"],
                         Comment=e["comment"], Tags=e["tags"]))
    formats.rows(fmt, rows, "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t"
                            "{{.Comment}}", {"CreatedBy": "CREATED BY"})


@click.command()
@click.option("--limit", type=int, default=25, help="at most this many results")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.option("--no-trunc", is_flag=True, help="accepted (descriptions are whole)")
@click.argument("term")
@click.pass_obj
@engine_errors
def search(obj, limit: int, fmt: str | None, tls_verify: bool | None, no_trunc: bool,
           term: str) -> None:
    """Search registries' catalogs for repositories (REGISTRY/TERM: that one)."""
    from minirun.cli import formats
    from minirun.engine.images import remote
    formats.rows(fmt, remote.search(term, limit, tls_verify),
                 "table {{.Name}}\t{{.Description}}", {})


@click.group()
def manifest() -> None:
    """Look at manifests in registries."""


@manifest.command("inspect")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL")
@click.argument("name")
@engine_errors
def manifest_inspect(tls_verify: bool | None, name: str) -> None:
    """The manifest (or index) a registry serves for NAME, without pulling."""
    import json
    from minirun.engine.images import remote
    click.echo(json.dumps(remote.manifest(name, tls_verify), indent=4))


@click.command()
@click.argument("image")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def untag(obj, image: str, names) -> None:
    """Take names off an image (all of them, if none is given); the image stays."""
    from minirun.engine.images import service as img
    img.untag(obj["root"], image, list(names))


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
                    ("save", save), ("load", load), ("import", import_),
                    ("history", history), ("untag", untag)):
    image.add_command(_cmd, _name)

# what commands.py puts at the top: `minirun VERB`
COMMANDS = (pull, push, images, rmi, tag, image, login, logout, save, load, import_, history,
            search, manifest, untag)
