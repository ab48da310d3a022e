"""`minirun build` (and `image build`): an image from a Containerfile, with
podman build's flags (engine/build/ does the work)."""
import click

from minirun.cli.hot import engine_errors


def _pairs(values, flag: str) -> dict:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not key:
            raise click.UsageError(f"{flag} {value}: write KEY=VALUE")
        if not sep:                 # --build-arg KEY: the value from our environment
            import os
            if key not in os.environ:
                continue
            rest = os.environ[key]
        out[key] = rest
    return out


@click.command()
@click.argument("context", required=False, default=".")
@click.option("-t", "--tag", "tags", multiple=True, help="name the image (repeatable)")
@click.option("-f", "--file", "containerfile", default=None,
              help="the Containerfile (default CONTEXT/Containerfile, else Dockerfile; "
                   "- reads it from standard input)")
@click.option("--build-arg", "build_args", multiple=True, help="ARG's value: KEY=VALUE")
@click.option("--target", default=None, help="build up to this stage (FROM ... AS NAME)")
@click.option("--no-cache", is_flag=True, help="run every step again (the cache is refilled)")
@click.option("--pull", "pull", default="missing", flag_value="always", is_flag=False,
              type=click.Choice(["always", "missing", "never", "newer", "true", "false"]),
              help="pull base images: always, missing (default), never")
@click.option("--network", default=None, help="RUN's network: private (default), host, none")
@click.option("--layers/--no-layers", default=True,
              help="keep each step as a cached image (the default, as podman build)")
@click.option("--format", "fmt", default="oci", type=click.Choice(["oci", "docker"]),
              help="the image's manifest and config format")
@click.option("--squash", is_flag=True, help="the layers the last stage adds, as one")
@click.option("--label", "labels", multiple=True, help="a label on the image: KEY=VALUE")
@click.option("--platform", default=None, help="only this machine's (linux/ARCH)")
@click.option("-q", "--quiet", is_flag=True, help="print only the image's id")
@click.pass_obj
@engine_errors
def build(obj, context: str, tags, containerfile, build_args, target, no_cache, pull,
          network, layers, fmt, squash, labels, platform, quiet) -> None:
    """Build an image from a Containerfile and the files of CONTEXT (- for
    a Containerfile on standard input and no files)."""
    import contextlib
    from minirun.engine.build import BuildError, builder
    from minirun.engine.images.manifest import host_platform
    if platform:
        here = host_platform()
        if platform not in (f"{here['os']}/{here['architecture']}", here["architecture"]):
            raise BuildError(f"--platform {platform}: minirun builds for this machine only "
                             f"({here['os']}/{here['architecture']}): it runs each RUN here")
    with contextlib.ExitStack() as stack:
        if context == "-":          # nothing for COPY to read: an empty directory
            if containerfile not in (None, "-"):
                raise BuildError(f"a build of - reads its Containerfile from standard input, "
                                 f"not -f {containerfile}: give a context directory for it")
            import tempfile
            context = stack.enter_context(tempfile.TemporaryDirectory(prefix="minirun-build-"))
            containerfile = "-"
        options = builder.Options(
            context=context, containerfile=containerfile, tags=tuple(tags),
            build_args=_pairs(build_args, "--build-arg"), target=target,
            no_cache=no_cache or not layers,
            pull={"true": "always", "false": "missing", "newer": "always"}.get(pull, pull),
            network=network, labels=_pairs(labels, "--label"), fmt=fmt, squash=squash,
            quiet=quiet)
        builder.build(obj["root"], options)


def _image_build() -> None:
    """`image build`, podman's second name for it."""
    from minirun.cli.images import image
    image.add_command(build, "build")


_image_build()
COMMANDS = (build,)
