"""The container commands that make and change containers: run, create,
start, attach, stop, rm, exec, update, kill, restart, cp, and the
`container` group (prune, and the same verbs again, with those of
container_status.py: ps, logs, port, wait, inspect, stats, top).  run, create, exec and
update take their flags from hot.py's tables, which its fast parser reads."""
import os
import sys

import click

from minirun.cli import hot
from minirun.cli.common import each
from minirun.cli.container_status import inspect, logs, port, ps, stats, top, wait
from minirun.cli.hot import engine_errors


def _click_options(flags: list[hot.Flag]):
    """click options made from a table of hot.py, in its order."""
    def decorate(f):
        for flag in reversed(flags):
            f = click.option(*flag.names, flag.dest, is_flag=flag.kind == "bool",
                             multiple=flag.kind == "many", default=flag.default,
                             type=click.Choice(flag.choices) if flag.choices else None,
                             help=flag.help)(f)
        return f
    return decorate


# Flags end at the image: what follows is the container's command line.
_CMDLINE = {"allow_interspersed_args": False}


@click.command(context_settings=_CMDLINE)
@_click_options(hot.RUN_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(obj, **kw) -> None:
    """Run a command in a new container."""
    hot.run(obj, **kw)


@click.command(context_settings=_CMDLINE)
@_click_options(hot.CREATE_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
@engine_errors
def create(obj, **kw) -> None:
    """Create a container without starting it."""
    from minirun.engine.containers import owner
    owner.sweep(hot.store(obj))      # what dead owners of the Python API left
    click.echo(hot.create(obj, kw))


@click.command()
@click.option("-a", "--attach", "attach_", is_flag=True, help="attach to its output (one name)")
@click.option("-i", "--interactive", is_flag=True, help="with -a: and pass our input on")
@click.option("--detach-keys", default="ctrl-p,ctrl-q")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def start(obj, attach_: bool, interactive: bool, detach_keys: str, names) -> None:
    """Start created or stopped containers (in the background, or attached with -a)."""
    from minirun.engine.containers import attach, records as ct, monitor
    if attach_:
        if len(names) != 1:
            raise click.UsageError("start --attach takes one container")
        rec = ct.find(hot.store(obj), names[0])
        if rec["state"] != "running":
            monitor.start_detached(obj["root"], rec["id"], wait_attach=True)
        sys.exit(attach.attach(hot.store(obj), rec["id"], detach_keys, stdin=interactive,
                               wait=True))

    def start_one(name):
        rec = ct.find(hot.store(obj), name)
        if rec["state"] != "running":
            monitor.start_detached(obj["root"], rec["id"])
    each(names, start_one)


@click.command("attach")
@click.option("--detach-keys", default="ctrl-p,ctrl-q",
              help="the keys that detach again (\"\" for none)")
@click.option("--no-stdin", is_flag=True, help="do not pass our input on")
@click.argument("name")
@click.pass_obj
@engine_errors
def attach_(obj, detach_keys: str, no_stdin: bool, name: str) -> None:
    """Attach to a running container's terminal or output (Ctrl-P Ctrl-Q leaves)."""
    from minirun.engine.containers import attach
    sys.exit(attach.attach(hot.store(obj), name, detach_keys, stdin=not no_stdin))


@click.command()
@click.option("-t", "--time", "timeout", type=float, default=None,
              help="seconds to wait before SIGKILL (default: the container's, else 10)")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def stop(obj, timeout: float, names) -> None:
    """Stop containers: the stop signal, then SIGKILL after --time seconds."""
    from minirun.engine.containers import lifecycle
    each(names, lambda name: lifecycle.stop(hot.store(obj), name, timeout))


@click.command()
@click.option("-f", "--force", is_flag=True)
@click.option("-a", "--all", "all_", is_flag=True, help="every container")
@click.option("-v", "--volumes", is_flag=True, help="also the container's anonymous volumes")
@click.option("-i", "--ignore", is_flag=True, help="a name that is not there is no error "
                                                   "(-f too)")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def rm(obj, force: bool, all_: bool, volumes: bool, ignore: bool, names) -> None:
    """Remove containers."""
    from minirun.engine.containers import records as ct, lifecycle, owner
    if all_:        # (a pod's infra container goes with its pod: pod rm)
        names = [rec["id"] for rec in ct.all_records(hot.store(obj))
                 if not rec["options"].get("infra")]
    elif not names:
        raise click.UsageError("name a container, or use --all")
    try:
        each(names, lambda name: lifecycle.remove(hot.store(obj), name, force, volumes),
             missing=1, echo=lambda name, cid: cid if all_ else name,
             ignore_missing=force or ignore)
    finally:          # after: a container named here is removed by name, as asked
        owner.sweep(hot.store(obj))     # what dead owners of the Python API left


@click.command("exec", context_settings=_CMDLINE)
@_click_options(hot.EXEC_FLAGS)
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, **kw) -> None:
    """Run a process in a running container."""
    hot.exec_(obj, **kw)


@click.command()
@_click_options(hot.LIMIT_FLAGS)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def update(obj, names, **kw) -> None:
    """Change the resource limits of running containers."""
    from minirun.engine.containers import lifecycle
    from minirun.engine.containers.limits import resources
    res = resources(kw)
    each(names, lambda name: lifecycle.update(hot.store(obj), name, res))


@click.command()
@click.option("-s", "--signal", "sig", default="KILL")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def kill(obj, sig: str, names) -> None:
    """Send a signal to containers' main process."""
    from minirun.engine.containers import lifecycle
    each(names, lambda name: lifecycle.kill(hot.store(obj), name, sig))


@click.command()
@click.option("-t", "--time", "timeout", type=float, default=None,
              help="seconds to wait before SIGKILL (default: the container's, else 10)")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def restart(obj, timeout: float, names) -> None:
    """Stop, then start containers again."""
    from minirun.engine.containers import lifecycle, monitor
    each(names, lambda name: monitor.start_detached(
        obj["root"], lifecycle.stop(hot.store(obj), name, timeout)))


@click.group()
def container() -> None:
    """Manage containers."""


@container.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def container_prune(obj, force: bool) -> None:
    """Remove every container that is not running."""
    from minirun.engine.containers import records as ct, lifecycle, owner
    store = hot.store(obj)
    owner.sweep(store)               # what dead owners of the Python API left
    for rec in ct.all_records(store):
        if lifecycle.refresh(store, rec)["state"] != "running" and \
                not rec["options"].get("infra"):        # (pod prune removes those)
            click.echo(lifecycle.remove(store, rec["id"]))


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="every running container")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def pause(obj, all_: bool, names) -> None:
    """Freeze the processes of running containers."""
    _freeze(obj, all_, names, True)


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="every paused container")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def unpause(obj, all_: bool, names) -> None:
    """Thaw paused containers."""
    _freeze(obj, all_, names, False)


def _freeze(obj, all_: bool, names, on: bool) -> None:
    from minirun.engine.containers import records as ct, lifecycle
    store = hot.store(obj)
    if all_:
        names = [r["name"] for r in ct.all_records(store)
                 if lifecycle.refresh(store, r)["state"] == ("running" if on else "paused")]
    elif not names:
        raise click.UsageError("name a container, or use --all")
    each(names, lambda name: lifecycle.freeze(store, name, on))


@click.command()
@click.option("-c", "--change", "changes", multiple=True,
              help="a Containerfile instruction for the config: CMD, ENTRYPOINT, ENV, "
                   "EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR")
@click.option("-a", "--author", default="", help="the image's author")
@click.option("-m", "--message", default="", help="a comment for its history")
@click.option("-p", "--pause", type=click.BOOL, default=True,
              help="pause a running container while its layer is written (default true)")
@click.option("-q", "--quiet", is_flag=True, help="no progress (minirun prints none)")
@click.argument("name")
@click.argument("image", required=False)
@click.pass_obj
@engine_errors
def commit(obj, changes, author: str, message: str, pause: bool, quiet: bool, name: str,
           image: str | None) -> None:
    """Make an image of a container's changes."""
    from minirun.engine.containers import commit as committing
    from minirun.engine.store import hex_of
    click.echo(hex_of(committing.commit(hot.store(obj), name, image, changes=changes,
                                        author=author, message=message, pause=pause)))


@click.command()
@click.option("--format", "fmt", default=None, help="json")
@click.argument("name")
@click.pass_obj
@engine_errors
def diff(obj, fmt: str | None, name: str) -> None:
    """A container's changes to its image's files: A added, C changed, D deleted."""
    import json
    from minirun.engine.containers import commit as committing
    found = committing.diff(hot.store(obj), name)
    if fmt == "json":
        kinds = {"A": "added", "C": "changed", "D": "deleted"}
        out: dict = {}
        for kind, path in found:
            out.setdefault(kinds[kind], []).append(path)
        click.echo(json.dumps(out, indent=4))
        return
    for kind, path in found:
        click.echo(f"{kind} {path}")


@click.command()
@click.option("-o", "--output", default=None, help="a file (default: standard output)")
@click.argument("name")
@click.pass_obj
@engine_errors
def export(obj, output: str | None, name: str) -> None:
    """A container's whole filesystem as a tar archive."""
    import sys
    from minirun.engine.containers import export as exporting
    from minirun.errors import MiniRunError
    if output is None and sys.stdout.isatty():
        raise MiniRunError("refusing to export to a terminal: use -o FILE or redirect")
    sys.stdout.flush()
    exporting.export(hot.store(obj), name, output)


@click.group()
def healthcheck() -> None:
    """Run a container's healthcheck."""


@healthcheck.command("run")
@click.argument("name")
@click.pass_obj
@engine_errors
def healthcheck_run(obj, name: str) -> None:
    """Run the check now: exit 0 if it passed; 1 and "unhealthy" if not."""
    from minirun.engine.containers import health
    if not health.run_once(hot.store(obj), name):
        click.echo("unhealthy")
        raise SystemExit(1)


@container.command("exists")
@click.argument("name")
@click.pass_obj
@engine_errors
def container_exists(obj, name: str) -> None:
    """Exit 0 if the container exists, 1 if it does not (podman's)."""
    from minirun.engine.containers import records as ct
    try:
        ct.find(hot.store(obj), name)
    except ct.NoSuchContainer:
        raise SystemExit(1) from None


@container.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.pass_obj
@engine_errors
def rename(obj, name: str, new_name: str) -> None:
    """Give a container another name."""
    from minirun.engine.containers import records as ct
    ct.rename(hot.store(obj), name, new_name)


@click.command()
@click.argument("source")
@click.argument("destination")
@click.pass_obj
@engine_errors
def cp(obj, source: str, destination: str) -> None:
    """Copy files between a container and the host (CONTAINER:PATH)."""
    from minirun.engine.containers import copy
    from minirun.errors import MiniRunError

    def split(arg):
        name, sep, path = arg.partition(":")
        return (name, path) if sep and not arg.startswith("/") else (None, arg)
    (sname, spath), (dname, dpath) = split(source), split(destination)
    if bool(sname) == bool(dname):
        raise MiniRunError("cp: name the container on exactly one side (NAME:PATH)")
    if "-" in (spath, dpath) and (sname and dpath == "-" or dname and spath == "-"):
        _cp_tar(hot.store(obj), sname or dname, spath if sname else dpath, bool(sname))
    elif sname:
        copy.copy(hot.store(obj), sname, "out", spath, os.path.abspath(dpath))
    else:
        copy.copy(hot.store(obj), dname, "in", os.path.abspath(spath), dpath)


def _check_member(work: str, member) -> None:
    """A member of a tar from stdin stays in ``work``: no absolute name, no
    .., and no way through a link extracted before it."""
    from minirun.errors import MiniRunError
    name = os.path.normpath(member.name)
    parent = os.path.realpath(os.path.join(work, os.path.dirname(name)))
    if name.startswith(("/", "..")) or not (parent + "/").startswith(work + "/") or \
            (member.islnk() and os.path.normpath(member.linkname).startswith(("/", ".."))):
        raise MiniRunError(f"cp -: the archive's {member.name!r} leaves its directory")


def _cp_tar(store, name: str, path: str, out: bool) -> None:
    """cp with - : a tar stream on our stdout (out of the container), or
    one read from our stdin and unpacked into the container's ``path``."""
    import shutil
    import sys
    import tarfile
    import tempfile
    from minirun.engine.containers import copy
    from minirun.errors import MiniRunError
    work = os.path.realpath(tempfile.mkdtemp(prefix="minirun-cp-"))
    try:
        if out:
            base = os.path.basename(path.rstrip("/")) or "."
            copy.copy(store, name, "out", path, os.path.join(work, base))
            sys.stdout.flush()
            with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
                tar.add(os.path.join(work, base), arcname=base)
            return
        try:
            with tarfile.open(fileobj=sys.stdin.buffer, mode="r|*") as tar:
                for member in tar:
                    _check_member(work, member)
                    tar.extract(member, work, set_attrs=False)
        except (tarfile.TarError, OSError) as e:
            raise MiniRunError(f"cp - {name}:{path}: the input is not a tar archive ({e})") \
                from None
        for entry in sorted(os.listdir(work)):
            copy.copy(store, name, "in", os.path.join(work, entry),
                      path.rstrip("/") + "/" + entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# `container VERB`: the same commands under the group, as podman has them
for _name, _cmd in (("run", run), ("create", create), ("start", start), ("stop", stop),
                    ("rm", rm), ("ls", ps), ("ps", ps), ("logs", logs), ("exec", exec_),
                    ("kill", kill), ("restart", restart), ("wait", wait), ("inspect", inspect),
                    ("attach", attach_), ("update", update), ("top", top), ("cp", cp),
                    ("port", port), ("stats", stats), ("pause", pause),
                    ("unpause", unpause), ("commit", commit), ("diff", diff),
                    ("export", export)):
    container.add_command(_cmd, _name)

# what commands.py puts at the top: `minirun VERB`
COMMANDS = (run, create, start, attach_, stop, rm, ps, logs, port, wait, inspect, exec_, stats,
            update, kill, restart, top, cp, rename, pause, unpause, commit, diff, export,
            healthcheck, container)
