"""The `system` group: df (what the store holds, and what could go),
prune (what nothing uses) and reset (everything), as podman's."""
import json
import os
import sys

import click

from minirun.cli import hot
from minirun.cli.common import confirm
from minirun.cli.hot import engine_errors


@click.group()
def system() -> None:
    """Manage the store as a whole."""


@system.command("df")
@click.option("--format", "fmt", default=None, help="json, or a Go template")
@click.option("-v", "--verbose", is_flag=True, help="accepted (the summary is shown)")
@click.pass_obj
@engine_errors
def df(obj, fmt: str | None, verbose: bool) -> None:
    """What the store's images, containers and volumes take, and what is
    unused (RECLAIMABLE)."""
    from minirun.cli import formats
    rows = usage(obj)
    if fmt == "json":                   # (podman 4.3 prints the word json here: its bug)
        formats.rows("json", rows, "", {})
        return
    shown = [dict(r, Size=_size(r["Size"]),
                  Reclaimable=f"{_size(r['Reclaimable'])} "
                              f"({int(r['Reclaimable'] * 100 / r['Size']) if r['Size'] else 0}%)")
             for r in rows]
    formats.rows(fmt, shown, "table {{.Type}}\\t{{.Total}}\\t{{.Active}}\\t{{.Size}}\\t"
                             "{{.Reclaimable}}", {})


def usage(obj) -> list[dict]:
    """Images, Containers and Local Volumes: how many, how many in use, their
    bytes and the bytes of those not in use."""
    from minirun.engine.containers import lifecycle, records as ct, volumes
    from minirun.engine.images import service as img
    store = hot.store(obj)
    recs = [lifecycle.refresh(store, r) for r in ct.all_records(store)]
    used_images = {r["image_id"][7:] for r in recs}
    images = img.summaries(obj["root"])
    image_rows = [(i["Size"], i["Id"] in used_images) for i in images]
    container_rows = [(_du(os.path.join(ct.container_dir(store, r["id"]), "upper")),
                       r["state"] in ("running", "paused")) for r in recs]
    volume_rows = [(_du(v["Mountpoint"]), bool(volumes.users(store, v["Name"])))
                   for v in volumes.listing(store)]
    return [{"Type": kind, "Total": len(items), "Active": sum(a for _, a in items),
             "Size": sum(s for s, _ in items), "Reclaimable": sum(s for s, a in items if not a)}
            for kind, items in (("Images", image_rows), ("Containers", container_rows),
                                ("Local Volumes", volume_rows))]


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="also images no container uses")
@click.option("--volumes", is_flag=True, help="also volumes no container uses")
@click.option("-f", "--force", is_flag=True, help="do not ask first")
@click.pass_obj
@engine_errors
def prune(obj, all_: bool, volumes: bool, force: bool) -> None:
    """Remove stopped containers, unused networks, images without a name
    (all unused ones with -a) and, with --volumes, unused volumes."""
    what = ["all stopped containers", "all networks not used by at least one container",
            "all dangling images" if not all_ else "all images without at least one "
            "container associated with them"] + (["all volumes not used by at least one "
                                                 "container"] if volumes else [])
    if not force and not confirm("WARNING! This command removes:\n" +
                                  "".join(f"\t- {w}\n" for w in what)):
        return
    before = sum(r["Size"] for r in usage(obj))
    from minirun.engine.containers import lifecycle, records as ct, volumes as vol
    from minirun.engine.images import service as img
    from minirun.engine.network import bridge
    store = hot.store(obj)
    from minirun.engine.pods import lifecycle as pods
    _said("Deleted Pods", pods.prune(store))        # (their infra containers go with them)
    gone = [lifecycle.remove(store, r["id"]) for r in ct.all_records(store)
            if lifecycle.refresh(store, r)["state"] not in ("running", "paused")
            and not r["options"].get("infra")]
    _said("Deleted Containers", gone)
    _said("Deleted Networks", bridge.prune(store))
    if volumes:
        _said("Deleted Volumes", vol.prune(store))
    _said("Deleted Images", img.prune(obj["root"], all_))
    click.echo(f"Total reclaimed space: {_size(before - sum(r['Size'] for r in usage(obj)))}")


@system.command("reset")
@click.option("-f", "--force", is_flag=True, help="do not ask first")
@click.pass_obj
@engine_errors
def reset(obj, force: bool) -> None:
    """Remove every container, image, volume and network of the store."""
    if not force and not confirm("WARNING! This will remove:\n\t- all containers\n"
                                  "\t- all images\n\t- all volumes\n\t- all networks\n"):
        return
    from minirun.engine.containers import lifecycle, records as ct, volumes as vol
    from minirun.engine.images import service as img
    from minirun.engine.network import bridge
    store = hot.store(obj)
    from minirun.engine.pods import lifecycle as pods, records as pod_records
    for pod in pod_records.all_pods(store):
        pods.remove(store, pod["id"], force=True)
    for r in ct.all_records(store):
        lifecycle.remove(store, r["id"], force=True, volumes=True)
    bridge.prune(store)
    vol.prune(store)
    img.prune(obj["root"], True)


def _said(title: str, names: list[str]) -> None:
    if names:
        click.echo(title)
        for name in names:
            click.echo(name)


def _size(n: int) -> str:
    """go-units' HumanSize, as podman's system df prints it: 2.141MB, 0B."""
    from minirun.cli.formats import size
    return size(n, precision=4, space="")


def _du(path: str) -> int:
    from minirun.engine.store import tree_size
    return tree_size(path)



@click.command()
@click.option("--since", default=None, help="from this time (10m, a Unix time, RFC 3339)")
@click.option("--until", default=None, help="up to this time (the same forms)")
@click.option("-f", "--filter", "filters", multiple=True,
              help="event=, type=, container=, image=, volume=, network= (repeatable)")
@click.option("--format", "fmt", default=None, help="json, or a Go template")
@click.option("--stream", type=click.BOOL, default=True,
              help="keep printing events as they come (default true)")
@click.option("--no-trunc", type=click.BOOL, default=True, help="whole ids (default true)")
@click.pass_obj
@engine_errors
def events(obj, since: str | None, until: str | None, filters, fmt: str | None,
           stream: bool, no_trunc: bool) -> None:
    """What happened in the store, as it happens: containers, images,
    volumes and networks made, started, stopped, removed."""
    from minirun.cli import formats
    from minirun.engine import events as log
    from minirun.engine.containers.lifecycle import parse_time
    since = parse_time(since, "--since") if since else None
    until = parse_time(until, "--until") if until else None
    wanted = _event_filters(filters)
    template = None
    if fmt and fmt != "json":
        from minirun import gotemplate
        template = gotemplate.parse(gotemplate.normalize(fmt))
    for event in log.read(hot.store(obj).root, follow=stream, until=until):
        if (since and event["Time"] < since) or (until and event["Time"] > until) or \
                not all(event_matches(event, k, v) for k, v in wanted):
            continue
        if not no_trunc and event["ID"]:
            event = dict(event, ID=event["ID"][:12])
        if fmt == "json":
            click.echo(json.dumps(event, separators=(",", ":")))
        elif template is not None:
            click.echo(template.execute(formats.typed(event)))
        else:
            click.echo(event_line(event))
        sys.stdout.flush()


def _event_filters(filters) -> list[tuple[str, str]]:
    from minirun.errors import MiniRunError
    out = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("event", "type", "container", "image", "volume", "network"):
            raise MiniRunError(f"--filter {f}: use event=, type=, container=, image=, "
                               "volume= or network=")
        out.append((key, value))
    return out


def event_matches(event: dict, key: str, value: str) -> bool:
    if key == "event":
        return event["Status"] == value
    if key == "type":
        return event["Type"] == value
    if key == "image" and event["Type"] == "container":
        return event["Image"] == value or event["Image"].endswith("/" + value)
    return event["Type"] == key and (value in (event["Name"], event["ID"]) or
                                     event["ID"].startswith(value))


def event_line(event: dict) -> str:
    """One event as podman prints it."""
    from minirun.cli.formats import go_time
    head = f"{go_time(event['Time'])} {event['Type']} {event['Status']}"
    if event["Type"] == "container":
        attrs = {"image": event["Image"], "name": event["Name"], **event["Attributes"]}
        return f"{head} {event['ID']} (" + ", ".join(f"{k}={v}" for k, v in attrs.items()) + ")"
    if event["Type"] == "image":
        return f"{head} {event['ID']} {event['Name']}"
    return f"{head} {event['Name']}"


system.add_command(events, "events")
COMMANDS = (system, events)
