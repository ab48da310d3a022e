"""The click command tree of `minirun`.  Each command is thin: parse, call
the engine, print.  Errors print as podman prints them (``Error: ...``) and
exit with podman's codes (125 for minirun's own)."""
import json
import os
import sys

import click

from minirun import __version__
from minirun.cli import hot


engine_errors = hot.engine_errors
_store = hot.store


def _each(names, fn) -> None:
    """Do ``fn(name)`` for each name and print it, as podman's verbs do."""
    for name in names:
        fn(name)
        click.echo(name)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minirun")
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
@click.option("--lazy-index", is_flag=True,
              help="push the image's lazy indexes too (built here if needed), as an "
                   "artifact referring to it")
@click.pass_obj
@engine_errors
def push(obj, image: str, destination: str | None, quiet: bool, tls_verify: bool | None,
         lazy_index: bool) -> None:
    """Push an image from the store to a registry."""
    from minirun.engine import push as push_mod
    digest = push_mod.push(obj["root"], image, destination or image, tls_verify=tls_verify)
    if not quiet:
        click.echo(digest)
    if lazy_index:
        from minirun.engine import pull as pl
        from minirun.engine import reference, registries
        from minirun.lazy import build
        client = pl.client_for(reference.parse(destination or image), registries.load(),
                               tls_verify)
        build.push_indexes(_store(obj), image, destination or image, client,
                           say=(lambda line: None) if quiet else click.echo)


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


# --- containers ------------------------------------------------------------------

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


@cli.command(context_settings=_CMDLINE)
@_click_options(hot.RUN_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(obj, **kw) -> None:
    """Run a command in a new container."""
    hot.run(obj, **kw)


@cli.command(context_settings=_CMDLINE)
@_click_options(hot.CREATE_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
@engine_errors
def create(obj, **kw) -> None:
    """Create a container without starting it."""
    click.echo(hot.create(obj, kw))


@cli.command()
@click.option("-a", "--attach", "attach_", is_flag=True, help="attach to its output (one name)")
@click.option("-i", "--interactive", is_flag=True, help="with -a: and pass our input on")
@click.option("--detach-keys", default="ctrl-p,ctrl-q")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def start(obj, attach_: bool, interactive: bool, detach_keys: str, names) -> None:
    """Start created or stopped containers (in the background, or attached with -a)."""
    from minirun.engine import attach, containers as ct, monitor
    if attach_:
        if len(names) != 1:
            raise click.UsageError("start --attach takes one container")
        rec = ct.find(_store(obj), names[0])
        if rec["state"] != "running":
            monitor.start_detached(obj["root"], rec["id"], wait_attach=True)
        sys.exit(attach.attach(_store(obj), rec["id"], detach_keys, stdin=interactive,
                               wait=True))

    def start_one(name):
        rec = ct.find(_store(obj), name)
        if rec["state"] != "running":
            monitor.start_detached(obj["root"], rec["id"])
    _each(names, start_one)


@cli.command("attach")
@click.option("--detach-keys", default="ctrl-p,ctrl-q",
              help="the keys that detach again (\"\" for none)")
@click.option("--no-stdin", is_flag=True, help="do not pass our input on")
@click.argument("name")
@click.pass_obj
@engine_errors
def attach_(obj, detach_keys: str, no_stdin: bool, name: str) -> None:
    """Attach to a running container's terminal or output (Ctrl-P Ctrl-Q leaves)."""
    from minirun.engine import attach
    sys.exit(attach.attach(_store(obj), name, detach_keys, stdin=not no_stdin))


@cli.command()
@click.option("-t", "--time", "timeout", type=float, default=10.0)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def stop(obj, timeout: float, names) -> None:
    """Stop containers: the stop signal, then SIGKILL after --time seconds."""
    from minirun.engine import lifecycle
    _each(names, lambda name: lifecycle.stop(_store(obj), name, timeout))


@cli.command()
@click.option("-f", "--force", is_flag=True)
@click.option("-a", "--all", "all_", is_flag=True, help="every container")
@click.option("-v", "--volumes", is_flag=True, help="also the container's anonymous volumes")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def rm(obj, force: bool, all_: bool, volumes: bool, names) -> None:
    """Remove containers."""
    from minirun.engine import containers as ct, lifecycle
    if all_:
        names = [rec["id"] for rec in ct.all_records(_store(obj))]
    elif not names:
        raise click.UsageError("name a container, or use --all")
    for name in names:
        click.echo(lifecycle.remove(_store(obj), name, force, volumes))


def _matches(rec: dict, filters: list[str]) -> bool:
    """podman's ps --filter: name=, id=, status=, label=KEY[=VALUE], ancestor=."""
    from minirun.errors import MiniRunError
    for f in filters:
        key, _, value = f.partition("=")
        labels = rec["options"].get("labels") or {}
        if key == "name":
            ok = value in rec["name"]
        elif key == "id":
            ok = rec["id"].startswith(value)
        elif key == "status":
            ok = rec["state"] == value
        elif key == "label":
            k, _, v = value.partition("=")
            ok = k in labels and (not v or labels[k] == v)
        elif key == "ancestor":
            ok = value in (rec["image_id"], rec["image_id"][7:19])
        else:
            raise MiniRunError(f"--filter {f}: use name=, id=, status=, label= or ancestor=")
        if not ok:
            return False
    return True


@cli.command()
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default="table")
@click.option("-f", "--filter", "filters", multiple=True)
@click.pass_obj
@engine_errors
def ps(obj, all_: bool, quiet: bool, fmt: str, filters) -> None:
    """List containers (running ones; all with -a)."""
    from minirun.engine import containers as ct, lifecycle
    template = None if fmt in ("table", "json") else _template(fmt, "ps", _PS_FIELDS)
    store = _store(obj)
    rows = []
    for rec in ct.all_records(store):
        try:
            rec = lifecycle.refresh(store, rec)
        except ct.ContainerError:
            continue   # removed meanwhile (--rm)
        if (rec["state"] == "running" or all_ or filters) and _matches(rec, list(filters)):
            rows.append(rec)
    if quiet:
        for r in rows:
            click.echo(r["id"][:12])
        return
    if fmt == "json":
        click.echo(json.dumps([{
            "Id": r["id"], "Names": [r["name"]], "Image": ct.image_name(store, r["image_id"]),
            "State": r["state"], "Pid": r["pid"] or 0, "ExitCode": r["exit_code"],
            "Created": r["created"], "StartedAt": r["started"], "ExitedAt": r["finished"],
            "Command": r["options"].get("command")} for r in rows], indent=2))
        return
    if template is None:
        click.echo(f"{'CONTAINER ID':<14}{'IMAGE':<40}{'STATUS':<22}NAMES")
    for r in rows:
        status = {"running": "Up", "created": "Created"}.get(
            r["state"], f"Exited ({r['exit_code']})")
        fields = {"ID": r["id"][:12], "Image": ct.image_name(store, r["image_id"]),
                  "Status": status, "Names": r["name"], "State": r["state"],
                  "Pid": r["pid"] or 0, "ExitCode": r["exit_code"], "CreatedAt": r["created"],
                  "Command": " ".join(r["options"].get("command") or [])}
        if template is not None:
            click.echo(template(fields))
            continue
        click.echo(f"{fields['ID']:<14}{fields['Image']:<40}{status:<22}{r['name']}")


# the fields `ps --format '{{.Field}}'` knows, as podman names them
_PS_FIELDS = ("ID", "Image", "Status", "Names", "State", "Pid", "ExitCode", "CreatedAt",
              "Command")


def _template(fmt: str, verb: str, known: tuple[str, ...]):
    """``--format '{{.ID}} {{.Names}}'``: the fields of a Go template, and
    nothing more of one (no pipelines, no functions); a field the verb does
    not have is refused, as podman's template engine refuses it.  Returns
    fields -> line."""
    import re
    from minirun.errors import MiniRunError
    fmt = fmt[len("table "):] if fmt.startswith("table ") else fmt
    parts = re.split(r"(\{\{.*?\}\})", fmt)
    for part in parts:
        if part.startswith("{{") and part.endswith("}}"):
            m = re.fullmatch(r"\{\{\s*\.(\w+)\s*\}\}", part)
            if not m:
                raise MiniRunError(f"template: {verb}: {part}: minirun knows only "
                                   f"{{{{.Field}}}}, with fields {', '.join(known)}")
            if m.group(1) not in known:
                col = fmt.index(part) + 2
                raise MiniRunError(f"template: {verb}:1:{col}: executing \"{verb}\" at "
                                   f"<.{m.group(1)}>: can't evaluate field {m.group(1)} "
                                   f"(known: {', '.join(known)})")
        elif "{{" in part or "}}" in part:
            raise MiniRunError(f"template: {verb}: unbalanced braces in `{fmt}`")
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")     # as podman reads them

    def line(fields: dict) -> str:
        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: str(fields[m.group(1)]), fmt)
    return line


@cli.command()
@click.option("-f", "--follow", is_flag=True)
@click.option("--tail", type=int, default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.option("--since", help="an RFC 3339 time, or a duration such as 10s, 5m, 1h")
@click.argument("name")
@click.pass_obj
@engine_errors
def logs(obj, follow: bool, tail: int | None, timestamps: bool, since: str | None,
         name: str) -> None:
    """Show a container's output."""
    from minirun.engine import lifecycle
    lifecycle.logs(_store(obj), name, follow, tail, timestamps,
                   since=lifecycle.parse_since(since) if since else None)


@cli.command()
@click.argument("name")
@click.pass_obj
@engine_errors
def port(obj, name: str) -> None:
    """A container's published ports, as podman prints them."""
    from minirun.engine import containers as ct
    for p in ct.find(_store(obj), name)["options"].get("ports") or []:
        click.echo(f"{p['container_port']}/{p['protocol']} -> "
                   f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}")


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def wait(obj, names) -> None:
    """Wait for containers to exit; print their exit codes."""
    from minirun.engine import containers as ct, lifecycle
    store = _store(obj)
    for name in names:
        rec = ct.find(store, name)
        lifecycle.wait_exit(store, rec["id"], None)
        try:      # (refresh: on a full disk the code is shown, not recorded)
            click.echo(lifecycle.refresh(store, ct.record(store, rec["id"]))["exit_code"])
        except ct.ContainerError:
            click.echo(rec["exit_code"] if rec["exit_code"] is not None else 0)


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def inspect(obj, names) -> None:
    """A container's (or an image's) details as JSON."""
    from minirun.engine import containers as ct, images as img, lifecycle
    store = _store(obj)
    out = []
    for name in names:
        try:
            r = lifecycle.refresh(store, ct.find(store, name))
        except ct.ContainerError:
            from minirun.engine.store import ImageNotFound
            try:
                out.append(img.inspect(obj["root"], name))
            except ImageNotFound:
                raise ct.ContainerError(f"no container with name or id `{name}`, and no "
                                        "image by that name either") from None
            continue
        out.append({"Id": r["id"], "Name": r["name"], "Image": r["image_id"],
                    "ImageName": ct.image_name(store, r["image_id"]), "Created": r["created"],
                    "State": {"Status": r["state"], "Running": r["state"] == "running",
                              "Pid": r["pid"] or 0, "ExitCode": r["exit_code"] or 0,
                              "OOMKilled": bool(r["usage"].get("oom_kills")),
                              "StartedAt": r["started"], "FinishedAt": r["finished"]},
                    # what its cgroups counted over its run (recorded when it exits)
                    "Usage": {"CPUTimeNs": r["usage"].get("cpu_ns"),
                              "MemoryPeakBytes": r["usage"].get("memory_peak"),
                              "BlockReadBytes": r["usage"].get("io_read"),
                              "BlockWriteBytes": r["usage"].get("io_write")},
                    "Config": r["options"],
                    "Bundle": ct.container_dir(store, r["id"])})
    click.echo(json.dumps(out, indent=2))


@cli.command("exec", context_settings=_CMDLINE)
@_click_options(hot.EXEC_FLAGS)
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, **kw) -> None:
    """Run a process in a running container."""
    hot.exec_(obj, **kw)


@cli.command()
@click.option("--no-stream", is_flag=True, help="one sample, then exit")
@click.option("--format", "fmt", default="table", help="table or json")
@click.option("-i", "--interval", type=float, default=5.0, help="seconds between samples")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def stats(obj, no_stream: bool, fmt: str, interval: float, names) -> None:
    """What running containers use: CPU, memory, block IO, pids (from their cgroups)."""
    import time
    from minirun.engine import stats as st
    sampler = st.Sampler(_store(obj), list(names))
    while True:
        rows = sampler.sample()
        if fmt == "json":
            click.echo(json.dumps([st.as_podman(r) for r in rows], indent=2))
        else:
            if not no_stream:
                click.echo("\x1b[2J\x1b[H", nl=False)      # clear the screen, as podman
            click.echo(st.table(rows))
        if no_stream:
            return
        time.sleep(interval)


@cli.command()
@_click_options(hot.LIMIT_FLAGS)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def update(obj, names, **kw) -> None:
    """Change the resource limits of running containers."""
    from minirun.engine import lifecycle
    from minirun.engine.limits import resources
    res = resources(kw)
    _each(names, lambda name: lifecycle.update(_store(obj), name, res))


@cli.command()
@click.option("-s", "--signal", "sig", default="KILL")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def kill(obj, sig: str, names) -> None:
    """Send a signal to containers' main process."""
    from minirun.engine import lifecycle
    _each(names, lambda name: lifecycle.kill(_store(obj), name, sig))


@cli.command()
@click.option("-t", "--time", "timeout", type=float, default=10.0)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def restart(obj, timeout: float, names) -> None:
    """Stop, then start containers again."""
    from minirun.engine import lifecycle, monitor
    _each(names, lambda name: monitor.start_detached(
        obj["root"], lifecycle.stop(_store(obj), name, timeout)))


@cli.command()
@click.option("--format", "fmt", default="text", help="text or json")
@click.pass_obj
@engine_errors
def info(obj, fmt: str) -> None:
    """What this host supports, and what is missing."""
    from minirun.engine import hostinfo
    facts = hostinfo.gather(obj["root"])
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2))
        return
    for section, values in facts.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key}: {value}")


@cli.group()
def container() -> None:
    """Manage containers."""


@container.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def container_prune(obj, force: bool) -> None:
    """Remove every container that is not running."""
    from minirun.engine import containers as ct, lifecycle
    store = _store(obj)
    for rec in ct.all_records(store):
        if lifecycle.refresh(store, rec)["state"] != "running":
            click.echo(lifecycle.remove(store, rec["id"]))


for _name, _cmd in (("run", run), ("create", create), ("start", start), ("stop", stop),
                    ("rm", rm), ("ls", ps), ("ps", ps), ("logs", logs), ("exec", exec_),
                    ("kill", kill), ("restart", restart), ("wait", wait), ("inspect", inspect),
                    ("attach", attach_), ("update", update)):
    container.add_command(_cmd, _name)


@cli.command()
@click.argument("name")
@click.pass_obj
@engine_errors
def top(obj, name: str) -> None:
    """The processes of a running container."""
    from minirun.engine import lifecycle
    click.echo(f"{'PID':<8}{'USER':<8}{'TIME':<10}COMMAND")
    for pid, user, cpu, cmd in lifecycle.top(_store(obj), name):
        click.echo(f"{pid:<8}{user:<8}{cpu:<10}{cmd}")


container.add_command(top, "top")


@cli.group()
def volume() -> None:
    """Manage named volumes."""


@volume.command("create")
@click.argument("name", required=False)
@click.option("--label", "-l", multiple=True)
@click.pass_obj
@engine_errors
def volume_create(obj, name, label) -> None:
    """Create a volume."""
    from minirun.engine import volumes
    labels = dict(x.split("=", 1) for x in label if "=" in x)
    click.echo(volumes.create(_store(obj), name, labels))


@volume.command("ls")
@click.option("--format", "fmt", default="table")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_obj
@engine_errors
def volume_ls(obj, fmt: str, quiet: bool) -> None:
    """List volumes."""
    from minirun.engine import volumes
    _listing(volumes.listing(_store(obj)), fmt, quiet, f"{'DRIVER':<10}VOLUME NAME",
             lambda v: v["Name"], lambda v: f"{v['Driver']:<10}{v['Name']}")


def _listing(rows: list[dict], fmt: str, quiet: bool, header: str, name, line) -> None:
    """`ls` as podman prints it: JSON, names only (-q), or a table."""
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not quiet:
        click.echo(header)
    for row in rows:
        click.echo(name(row) if quiet else line(row))


@volume.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def volume_inspect(obj, names) -> None:
    """Show volumes as JSON."""
    from minirun.engine import volumes
    click.echo(json.dumps([volumes.inspect(_store(obj), n) for n in names], indent=2))


@volume.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def volume_rm(obj, force: bool, names) -> None:
    """Remove volumes."""
    from minirun.engine import volumes
    for name in names:
        volumes.remove(_store(obj), name, force)
        click.echo(name)


@cli.group()
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
    from minirun.lazy import build
    build.index_image(_store(obj), image, _size(spacing), tls_verify=tls_verify, push=push,
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
    from minirun.lazy import build
    build.record(_store(obj), image, list(command), tls_verify=tls_verify, say=click.echo)


def _size(text: str) -> int:
    import re
    from minirun.errors import MiniRunError
    m = re.match(r"^(\d+)\s*(|k|kib|m|mib)$", text.strip().lower())
    if not m:
        raise MiniRunError(f"--spacing {text}: give a size such as 4MiB or 512KiB")
    return int(m.group(1)) << {"": 0, "k": 10, "kib": 10, "m": 20, "mib": 20}[m.group(2)]


@cli.group()
def network() -> None:
    """Manage networks (bridges of minirun's; a plain user's live in a network
    namespace of the user's)."""


@network.command("create")
@click.option("--subnet", help="an IPv4 CIDR (default: the next free 10.89.N.0/24)")
@click.argument("name")
@click.pass_obj
@engine_errors
def network_create(obj, subnet: str | None, name: str) -> None:
    """Create a network: a bridge, a subnet, NAT out, names inside."""
    from minirun.engine import network as net
    from minirun.engine.containers import check_name
    check_name(name, "network")          # before anything is made
    click.echo(net.create(_store(obj), name, subnet)["name"])


@network.command("ls")
@click.option("--format", "fmt", default="table")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_obj
@engine_errors
def network_ls(obj, fmt: str, quiet: bool) -> None:
    """List networks."""
    from minirun.engine import network as net
    _listing(net.listing(_store(obj)), fmt, quiet,
             f"{'NAME':<20}{'SUBNET':<20}{'INTERFACE':<12}CONTAINERS", lambda r: r["name"],
             lambda r: f"{r['name']:<20}{r['subnet']:<20}{r['interface']:<12}"
                       f"{len(r['containers'])}")


@network.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def network_inspect(obj, names) -> None:
    """Show networks as JSON (with their containers and addresses)."""
    from minirun.engine import network as net
    click.echo(json.dumps([net.inspect(_store(obj), n) for n in names], indent=2))


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="and the containers on it")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def network_rm(obj, force: bool, names) -> None:
    """Remove networks."""
    from minirun.engine import network as net
    _each(names, lambda name: net.remove(_store(obj), name, force))


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def network_prune(obj, force: bool) -> None:
    """Remove the networks no container uses."""
    from minirun.engine import network as net
    for name in net.prune(_store(obj)):
        click.echo(name)


@volume.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def volume_prune(obj, force: bool) -> None:
    """Remove the volumes no container uses."""
    from minirun.engine import volumes
    for name in volumes.prune(_store(obj)):
        click.echo(name)


@cli.command()
@click.argument("source")
@click.argument("destination")
@click.pass_obj
@engine_errors
def cp(obj, source: str, destination: str) -> None:
    """Copy files between a container and the host (CONTAINER:PATH)."""
    from minirun.engine import containers as ct, copy, lifecycle
    from minirun.errors import MiniRunError
    store = _store(obj)

    def split(arg):
        name, sep, path = arg.partition(":")
        return (name, path) if sep and not arg.startswith("/") else (None, arg)
    (sname, spath), (dname, dpath) = split(source), split(destination)
    if bool(sname) == bool(dname):
        raise MiniRunError("cp: name the container on exactly one side (NAME:PATH)")
    rec = lifecycle.refresh(store, ct.find(store, sname or dname))
    direction, src, dest = ("out" if sname else "in"), spath, dpath
    if rec["state"] == "running":
        (copy.out_of if sname else copy.into)(f"/proc/{rec['pid']}/root", src, dest)
    else:
        from minirun.engine import userns
        d = ct.container_dir(store, rec["id"])
        with open(os.path.join(d, "config.json")) as f:
            overlay = json.load(f)["annotations"]["org.minirun.rootfs.overlay"]
        userns.in_child(copy.with_stopped, overlay, os.path.join(d, "rootfs"), direction,
                        os.path.abspath(src) if direction == "in" else src,
                        dest if direction == "in" else os.path.abspath(dest))


container.add_command(cp, "cp")
