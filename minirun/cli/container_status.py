"""The container commands that only look: ps, inspect, logs, port, stats,
top and wait (containers.py has those that make and change containers).
ps and stats print as podman does: a table, JSON, or a --format template."""
import json

import click

from minirun.cli import hot
from minirun.cli.hot import engine_errors


def _matches(rec: dict, filters: list[str], pod_names: dict | None = None) -> bool:
    """podman's ps --filter: name=, id=, status=, label=KEY[=VALUE], ancestor=,
    pod=NAME|ID (``pod_names``: pod id -> name)."""
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
        elif key == "pod":
            pod = rec["options"].get("pod") or ""
            ok = bool(pod) and (pod.startswith(value) or (pod_names or {}).get(pod) == value)
        else:
            raise MiniRunError(f"--filter {f}: use name=, id=, status=, label=, ancestor= "
                               "or pod=")
        if not ok:
            return False
    return True


@click.command()
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True, help="whole ids and commands")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-f", "--filter", "filters", multiple=True)
@click.option("-n", "--last", type=int, default=None, help="the N made last")
@click.option("-l", "--latest", is_flag=True, help="the one made last")
@click.option("-p", "--pod", "pods", is_flag=True, help="with each one's pod (id and name)")
@click.pass_obj
@engine_errors
def ps(obj, all_: bool, quiet: bool, no_trunc: bool, fmt: str | None, filters, last,
       latest: bool, pods: bool) -> None:
    """List containers (running and paused ones; all with -a)."""
    from minirun.cli import formats
    from minirun.engine.containers import records as ct, lifecycle, owner
    store = hot.store(obj)
    owner.sweep(store)         # what dead owners of the Python API left
    pod_names = dict(store.db.execute("SELECT id, name FROM pods").fetchall()) \
        if any(f.startswith("pod=") for f in filters) else None
    recs = []
    for rec in ct.all_records(store):
        try:
            rec = lifecycle.refresh(store, rec)
        except ct.ContainerError:
            continue   # removed meanwhile (--rm)
        if (rec["state"] in ("running", "paused") or all_ or filters or last or latest) \
                and _matches(rec, list(filters), pod_names):
            recs.append(rec)
    recs.sort(key=lambda r: r["created"])       # podman's: oldest first, -n N the newest N
    if latest or last:
        recs = recs[-1:] if latest else recs[-last:] if last > 0 else []
    if quiet:
        for r in recs:
            click.echo(r["id"] if no_trunc else r["id"][:12])
        return
    if fmt == "json":
        formats.rows("json", [ps_json(store, r) for r in recs], "", {})
        return
    formats.rows(fmt, [ps_row(store, r, no_trunc) for r in recs],
                 PS_TABLE + ("\\t{{.Pod}}\\t{{.PodName}}" if pods else ""), PS_HEADERS)


PS_TABLE = ("table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.CreatedHuman}}\\t{{.Status}}\\t"
            "{{.Ports}}\\t{{.Names}}")
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "ExitCode": "EXIT CODE",
              "RunningFor": "CREATED", "CreatedAt": "CREATED AT", "ImageID": "IMAGE ID",
              "Cmd": "COMMAND", "Pod": "POD ID", "PodName": "PODNAME"}


def ps_json(store, r: dict) -> dict:
    """A container as `ps --format json` prints it (podman's ListContainer)."""
    from minirun.cli.formats import ago, epoch
    from minirun.engine.containers import joining, records as ct
    opts = r["options"]
    return {
        "AutoRemove": bool(opts.get("rm")), "Command": _command(store, r),
        "CreatedAt": ago(r["created"]), "Exited": r["state"] == "exited",
        "ExitedAt": int(epoch(r["finished"])) if r["finished"] else -62135596800,
        "ExitCode": r["exit_code"] or 0, "Id": r["id"], "Image": image_as_given(store, r),
        "ImageID": ct.hex_of(r["image_id"]), "IsInfra": bool(opts.get("infra")),
        "Labels": opts.get("labels") or None,
        "Mounts": [v.split(":")[1] for v in opts.get("volumes") or [] if ":" in v],
        "Names": [r["name"]], "Namespaces": {},
        "Networks": [] if opts.get("network") in ("none", "host") else [opts.get("network")],
        "Pid": r["pid"] or 0, "Pod": opts.get("pod") or "", "PodName": _pod_name(store, opts),
        "Ports": [{"host_ip": p.get("host_ip") or "", "container_port": p["container_port"],
                   "host_port": p["host_port"], "range": 1, "protocol": p["protocol"]}
                  for p in joining.published(store, r)] or None,
        "Size": None, "StartedAt": int(epoch(r["started"])) if r["started"] else -62135596800,
        "State": r["state"], "Status": "", "Created": int(epoch(r["created"])),
    }


def _pod_name(store, opts: dict) -> str:
    """The name of the pod a container belongs to ("" for none)."""
    if not opts.get("pod"):
        return ""
    row = store.db.execute("SELECT name FROM pods WHERE id=?", (opts["pod"],)).fetchone()
    return row[0] if row else ""


def ps_row(store, r: dict, no_trunc: bool = False) -> dict:
    """What `ps --format '{{.Field}}'` sees: the JSON's fields, with
    podman's reporter's over them (a short ID, the status in words, the
    command and names as text)."""
    from minirun.cli.formats import ago, go_time
    from minirun.engine.containers import joining, restart
    row = ps_json(store, r)
    command = " ".join(row["Command"])
    state = r["state"]
    status = {"running": f"Up {ago(r['started'])}", "created": "Created",
              "paused": "Paused"}.get(state, f"Exited ({row['ExitCode']}) {ago(r['finished'])}")
    from minirun.engine.containers import health
    said = health.state(store, r["id"]).get("Status") if state == "running" else ""
    if said:
        status += f" ({said})"
    return dict(row, ID=r["id"] if no_trunc else r["id"][:12],
                Pod=row["Pod"] if no_trunc else row["Pod"][:12],
                Command=command if no_trunc or len(command) <= 17 else command[:17] + "...",
                Names=r["name"], Status=status, State=status, CreatedHuman=ago(r["created"]),
                RunningFor=ago(r["created"]), CreatedAt=go_time(r["created"]),
                Ports=", ".join(f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}->"
                                f"{p['container_port']}/{p['protocol']}"
                                for p in joining.published(store, r)),
                Networks=",".join(row["Networks"]), Restarts=restart.count(store, r["id"]))


def _command(store, r: dict) -> list[str]:
    """The command it runs (its config's argv, else what it was given)."""
    import os
    from minirun.engine.containers import records as ct
    try:
        with open(os.path.join(ct.container_dir(store, r["id"]), "config.json")) as f:
            args = json.load(f)["process"]["args"]
        return args[2:] if args[:2] == ["/run/minirun-init", "--"] else args
    except (OSError, ValueError, KeyError):
        return list(r["options"].get("command") or [])


def image_as_given(store, r: dict) -> str:
    """The image's name as the user gave it (one of the image's names), not
    another tag of the same image."""
    from minirun.engine.containers import records as ct
    given = r["options"].get("image") or ""
    names = store.names_of(r["image_id"])
    for name in names:
        short = name.rsplit("/", 1)[-1]
        if given in (name, short, short.removesuffix(":latest")) or \
                name.endswith("/" + given) or name.endswith("/" + given + ":latest"):
            return name
    return ct.image_name(store, r["image_id"])


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
    from minirun.engine.containers import joining, records as ct
    from minirun.errors import MiniRunError
    store = hot.store(obj)
    if all_ == bool(name):
        raise click.UsageError("name a container, or use --all")
    recs = ct.all_records(store) if all_ else [ct.find(store, name)]
    for rec in recs:
        ports = joining.published(store, rec)
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
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.option("-t", "--type", "kind", type=click.Choice(["all", "container", "image"]),
              default="all", help="what the names are (default: a container, else an image)")
@click.option("-s", "--size", is_flag=True, help="accepted (sizes are always shown)")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def inspect(obj, fmt: str | None, kind: str, size: bool, names) -> None:
    """Containers' (or images') details: JSON in podman's shape, or --format."""
    from minirun.cli import formats
    from minirun.engine.containers import inspect as inspection, records as ct, lifecycle
    from minirun.engine.images import service as img
    from minirun.engine.store import ImageNotFound
    store = hot.store(obj)
    out, missing = [], None
    for name in names:
        try:
            if kind == "image":
                raise ct.NoSuchContainer(name)
            out.append(inspection.container(store, lifecycle.refresh(store, ct.find(store, name))))
            continue
        except ct.NoSuchContainer:
            pass
        try:
            if kind == "container":
                raise ImageNotFound(name)
            out.append(img.inspect(obj["root"], name))
        except ImageNotFound:
            what = {"container": "container", "image": "image"}.get(kind, "container or image")
            missing = ct.ContainerError(f"no {what} with name or id `{name}`")
    formats.objects(fmt, out)
    if missing:
        raise missing


@click.command()
@click.option("--no-stream", is_flag=True, help="one sample, then exit")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-i", "--interval", type=float, default=5.0, help="seconds between samples")
@click.option("-a", "--all", "all_", is_flag=True, help="accepted (running ones are shown)")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def stats(obj, no_stream: bool, fmt: str | None, interval: float, all_: bool, names) -> None:
    """What running containers use: CPU, memory, network and block IO, pids
    (from their cgroups and network namespaces)."""
    import time
    from minirun.cli import formats
    from minirun.engine.containers import stats as st
    sampler = st.Sampler(hot.store(obj), list(names))
    while True:
        rows = sampler.sample()
        if fmt == "json":
            click.echo(json.dumps([st.as_podman(r) for r in rows], indent=2))
        else:
            if not no_stream:
                click.echo("\x1b[2J\x1b[H", nl=False)      # clear the screen, as podman
            formats.rows(fmt, [st.template_row(r) for r in rows], st.TABLE, st.HEADERS)
        if no_stream:
            return
        time.sleep(interval)


@click.command()
@click.argument("name")
@click.argument("descriptors", nargs=-1)
@click.pass_obj
@engine_errors
def top(obj, name: str, descriptors) -> None:
    """The processes of a running container (DESCRIPTORS: user pid comm ...;
    podman's default: user pid ppid pcpu etime tty time args)."""
    from minirun import gotemplate
    from minirun.engine.containers import top as tops
    for line in gotemplate.align(["\t".join(row) for row in
                                  tops.table(hot.store(obj), name, list(descriptors))]):
        click.echo(line)
