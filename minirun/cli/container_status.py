"""The container commands that only look: ps, inspect, logs, port, stats,
top and wait (containers.py has those that make and change containers).
ps and stats print as podman does: a table, JSON, or a --format template."""
import json

import click

from minirun.cli import hot
from minirun.cli.hot import engine_errors


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


@click.command()
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default="table")
@click.option("-f", "--filter", "filters", multiple=True)
@click.pass_obj
@engine_errors
def ps(obj, all_: bool, quiet: bool, fmt: str, filters) -> None:
    """List containers (running ones; all with -a)."""
    from minirun.engine.containers import records as ct, lifecycle, owner
    template = None if fmt in ("table", "json") else _template(fmt, "ps", _PS_FIELDS)
    store = hot.store(obj)
    owner.sweep(store)         # what dead owners of the Python API left
    rows = []
    for rec in ct.all_records(store):
        try:
            rec = lifecycle.refresh(store, rec)
        except ct.ContainerError:
            continue   # removed meanwhile (--rm)
        if (rec["state"] in ("running", "paused") or all_ or filters) and \
                _matches(rec, list(filters)):
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
        status = {"running": "Up", "created": "Created", "paused": "Paused"}.get(
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


@click.command()
@click.option("-f", "--follow", is_flag=True)
@click.option("--tail", type=int, default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.option("--since", help="from this time: a duration (10m, 1h30m), a Unix time or an "
                              "RFC 3339 time")
@click.option("--until", help="up to this time (the same forms)")
@click.argument("name")
@click.pass_obj
@engine_errors
def logs(obj, follow: bool, tail: int | None, timestamps: bool, since: str | None,
         until: str | None, name: str) -> None:
    """Show a container's output."""
    from minirun.engine.containers import lifecycle
    lifecycle.logs(hot.store(obj), name, follow, tail, timestamps,
                   since=lifecycle.parse_time(since, "--since") if since else None,
                   until=lifecycle.parse_time(until, "--until") if until else None)


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="every container's")
@click.argument("name", required=False)
@click.argument("private", required=False)
@click.pass_obj
@engine_errors
def port(obj, all_: bool, name: str | None, private: str | None) -> None:
    """A container's published ports, as podman prints them (PRIVATE: the
    host address of that one only)."""
    from minirun.engine.containers import records as ct
    from minirun.errors import MiniRunError
    store = hot.store(obj)
    if all_ == bool(name):
        raise click.UsageError("name a container, or use --all")
    recs = ct.all_records(store) if all_ else [ct.find(store, name)]
    for rec in recs:
        ports = rec["options"].get("ports") or []
        if private:
            number, _, proto = private.partition("/")
            found = [p for p in ports if str(p["container_port"]) == number
                     and p["protocol"] == (proto or "tcp")]
            if not found:
                raise MiniRunError(f"failed to find published port {number}/{proto or 'tcp'}")
            for p in found:
                click.echo(f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}")
            continue
        if all_ and ports:
            click.echo(rec["id"][:12])
        for p in ports:
            click.echo(f"{p['container_port']}/{p['protocol']} -> "
                       f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}")


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def wait(obj, names) -> None:
    """Wait for containers to exit; print their exit codes."""
    from minirun.engine.containers import records as ct, lifecycle
    store = hot.store(obj)
    for name in names:
        rec = ct.find(store, name)
        lifecycle.wait_exit(store, rec["id"], None)
        try:      # (refresh: on a full disk the code is shown, not recorded)
            click.echo(lifecycle.refresh(store, ct.record(store, rec["id"]))["exit_code"])
        except ct.ContainerError:
            click.echo(rec["exit_code"] if rec["exit_code"] is not None else 0)


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def inspect(obj, names) -> None:
    """A container's (or an image's) details as JSON."""
    from minirun.engine.containers import inspect as inspection, records as ct, lifecycle
    from minirun.engine.images import service as img
    store = hot.store(obj)
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
        out.append(inspection.container(store, r))
    click.echo(json.dumps(out, indent=2))


@click.command()
@click.option("--no-stream", is_flag=True, help="one sample, then exit")
@click.option("--format", "fmt", default="table", help="table or json")
@click.option("-i", "--interval", type=float, default=5.0, help="seconds between samples")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def stats(obj, no_stream: bool, fmt: str, interval: float, names) -> None:
    """What running containers use: CPU, memory, block IO, pids (from their cgroups)."""
    import time
    from minirun.engine.containers import stats as st
    sampler = st.Sampler(hot.store(obj), list(names))
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


@click.command()
@click.argument("name")
@click.pass_obj
@engine_errors
def top(obj, name: str) -> None:
    """The processes of a running container."""
    from minirun.engine.containers import lifecycle
    click.echo(f"{'PID':<8}{'USER':<8}{'TIME':<10}COMMAND")
    for pid, user, cpu, cmd in lifecycle.top(hot.store(obj), name):
        click.echo(f"{pid:<8}{user:<8}{cpu:<10}{cmd}")
