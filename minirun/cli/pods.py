"""The `pod` group (create, ps/ls/list, inspect, start, stop, restart, kill,
pause, unpause, rm, prune, top, logs, exists) and the `kube` group
(generate, play, down): thin, over engine/pods."""
import sys

import click

from minirun.cli import hot
from minirun.cli.common import confirm, each
from minirun.cli.hot import engine_errors


@click.group()
def pod() -> None:
    """Manage pods: containers that share a network (localhost), IPC and a
    hostname, held by an infra container."""


@pod.command("create")
@click.option("-n", "--name", help="the pod's name (or give it as NAME)")
@click.option("-p", "--publish", multiple=True, help="[IP:][HOST-PORT:]CONTAINER-PORT[/udp]")
@click.option("--share", default=None, help="namespaces to share: ipc,net,uts (default), pid; "
              "+pid: the default ones and pid; none: none, and no infra container")
@click.option("--infra", type=click.BOOL, is_flag=False, flag_value=True, default=None,
              help="an infra container holds the namespaces (default; --infra=false: none)")
@click.option("--no-infra", is_flag=True, help="the same as --infra=false")
@click.option("--infra-name", help="the infra container's name (default: POD-ID-infra)")
@click.option("-h", "--hostname", help="the pod's hostname (default: its name)")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE")
@click.option("--network", help="the pod's network (as run's --network)")
@click.option("--pod-id-file", help="write the pod's id to this file (which must not exist)")
@click.option("--replace", is_flag=True, help="remove a pod of that name first")
@click.argument("name_arg", required=False, metavar="[NAME]")
@click.pass_obj
@engine_errors
def pod_create(obj, name, publish, share, infra, no_infra, infra_name, hostname, label,
               network, pod_id_file, replace, name_arg) -> None:
    """Create a pod; print its id."""
    from minirun.engine.pods import create
    if name and name_arg and name != name_arg:
        raise click.UsageError(f"the pod is named twice (--name {name} and {name_arg}): "
                               "give its name once")
    if no_infra and infra:
        raise click.UsageError("--infra and --no-infra: choose one")
    click.echo(create.create(hot.store(obj), name=name or name_arg, publish=publish,
                             share=share, infra=False if no_infra else infra,
                             hostname=hostname, labels=label, network=network,
                             infra_name=infra_name, replace=replace, id_file=pod_id_file))


POD_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}"
POD_HEADERS = {"ID": "POD ID", "InfraID": "INFRA ID", "NumberOfContainers": "# OF CONTAINERS",
               "ContainerIds": "IDS", "ContainerNames": "NAMES",
               "ContainerStatuses": "STATUS"}


@pod.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="ids only")
@click.option("--no-trunc", is_flag=True, help="whole ids")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-f", "--filter", "filters", multiple=True,
              help="name=, id=, label=, status=, network=, ctr-names=, ctr-ids=, "
                   "ctr-status=, ctr-number= (one key's values or'ed, keys and'ed)")
@click.option("--sort", default="created", help="created (newest first), id, name, number "
                                                "or status")
@click.option("--ctr-ids", is_flag=True, help="a column of the containers' ids")
@click.option("--ctr-names", is_flag=True, help="a column of the containers' names")
@click.option("--ctr-status", is_flag=True, help="a column of the containers' states")
@click.option("--noheading", is_flag=True, help="no header row")
@click.pass_obj
@engine_errors
def pod_ps(obj, quiet: bool, no_trunc: bool, fmt: str | None, filters, sort: str,
           ctr_ids: bool, ctr_names: bool, ctr_status: bool, noheading: bool) -> None:
    """List pods."""
    from minirun.cli import formats
    from minirun.engine.pods import listing
    rows = listing.listing(hot.store(obj), filters, sort)
    if quiet:                           # (whole ids, as podman's)
        for r in rows:
            click.echo(r["Id"])
        return
    if fmt == "json":
        formats.rows("json", rows, "", {})
        return
    short = (lambda i: i) if no_trunc else (lambda i: i[:12])
    columns = [c for c, on in (("ContainerIds", ctr_ids), ("ContainerNames", ctr_names),
                               ("ContainerStatuses", ctr_status)) if on]
    table = POD_TABLE + "".join(f"\t{{{{.{c}}}}}" for c in columns or ["NumberOfContainers"])
    formats.rows(fmt, [dict(r, ID=short(r["Id"]), InfraID=short(r["InfraId"]),
                            Created=formats.ago(r["Created"]), Networks=",".join(r["Networks"]),
                            NumberOfContainers=len(r["Containers"]),
                            ContainerIds=",".join(short(c["Id"]) for c in r["Containers"]),
                            ContainerNames=",".join(c["Names"] for c in r["Containers"]),
                            ContainerStatuses=",".join(c["Status"] for c in r["Containers"]))
                       for r in rows],
                 table, POD_HEADERS, heading=not noheading)


pod.add_command(pod_ps, "ls")
pod.add_command(pod_ps, "list")


@pod.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.option("-l", "--latest", is_flag=True, help="the pod made last")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def pod_inspect(obj, fmt: str | None, latest: bool, names) -> None:
    """Pods as podman 4.3 shows them: one pod's JSON object, several pods'
    list (or --format over each); those found are shown, then the first
    missing one is said (exit 125)."""
    import json
    from minirun.cli import formats
    from minirun.engine.pods import listing, records
    store = hot.store(obj)
    data, missing = [], None
    for name in _targets(store, names, False, latest):
        try:
            data.append(listing.inspect(store, name))
        except records.NoSuchPod as e:
            missing = missing or e
    if fmt in (None, "", "json"):
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=5))
    else:
        formats.objects(fmt, data)
    if missing:
        raise missing


def _targets(store, names, all_: bool, latest: bool) -> list[str]:
    """The pods a verb acts on: those named, every one (--all) or the one
    made last (--latest)."""
    from minirun.engine.pods import records
    if (all_ or latest) and names:
        raise click.UsageError(f"no pod names are needed with --{'all' if all_ else 'latest'}")
    if all_:
        return [p["id"] for p in records.all_pods(store)]
    if latest:
        newest = records.all_pods(store)[:1]
        if not newest:
            raise records.NoSuchPod("no pods to act on: --latest takes the pod made last")
        return [newest[0]["id"]]
    if not names:
        raise click.UsageError("name a pod, or use --all")
    return list(names)


ALL = click.option("-a", "--all", "all_", is_flag=True, help="every pod")
LATEST = click.option("-l", "--latest", is_flag=True, help="the pod made last")
IGNORE = click.option("-i", "--ignore", is_flag=True, help="a pod that is not there is no "
                                                           "error")
TIME = click.option("-t", "--time", "timeout", type=float, default=None,
                    help="seconds a container has to stop before SIGKILL (pod stop: its "
                         "own stop timeout by default; pod rm -f: none)")


def _verb(verb: str, doc: str, fn, *options, missing: int | None = None):
    """A verb over pods (named, --all or --latest), printing each one's id:
    ``fn(store, name, **the options' values)``; with --ignore among
    ``options`` (and for pod rm -f), a pod that is not there is passed over
    quietly."""
    def command(obj, names, all_, latest, ignore=False, **kw) -> None:
        store = hot.store(obj)
        targets = _targets(store, names, all_, latest)
        each(targets, lambda name: fn(store, name, **kw), missing=missing,
             echo=lambda name, pod_id: pod_id,
             ignore_missing=ignore or verb == "rm" and kw.get("force"))   # pod rm -f too
    for option in (*options, LATEST, ALL):
        command = option(command)
    command = click.argument("names", nargs=-1)(click.pass_obj(engine_errors(command)))
    return pod.command(verb, help=doc)(command)


def _lifecycle():
    from minirun.engine.pods import lifecycle
    return lifecycle


_verb("start", "Start pods: the infra container, then the others.",
      lambda store, name: _lifecycle().start(store, name))
_verb("stop", "Stop pods: their containers, the infra last.",
      lambda store, name, timeout: _lifecycle().stop(store, name, timeout), TIME, IGNORE)
_verb("restart", "Stop pods, then start them again.",
      lambda store, name: _lifecycle().restart(store, name))
_verb("kill", "Send a signal (default SIGKILL) to each running container of pods.",
      lambda store, name, sig: _lifecycle().kill(store, name, sig),
      click.option("-s", "--signal", "sig", default="KILL"))
_verb("pause", "Pause every running container of pods.",
      lambda store, name: _lifecycle().freeze(store, name, True))
_verb("unpause", "Unpause every paused container of pods.",
      lambda store, name: _lifecycle().freeze(store, name, False))
_verb("rm", "Remove pods and their containers (running ones only with -f).",
      lambda store, name, force, timeout: _lifecycle().remove(store, name, force, timeout),
      click.option("-f", "--force", is_flag=True, help="stop running containers first"),
      TIME, IGNORE, missing=1)


@pod.command("prune")
@click.option("-f", "--force", is_flag=True, help="do not ask first")
@click.pass_obj
@engine_errors
def pod_prune(obj, force: bool) -> None:
    """Remove every pod whose containers have all ended."""
    from minirun.engine.pods import lifecycle
    if not force and not confirm("WARNING! This will remove all stopped/exited pods..\n"):
        return
    for pod_id in lifecycle.prune(hot.store(obj)):
        click.echo(pod_id)


@pod.command("exists")
@click.argument("name")
@click.pass_obj
@engine_errors
def pod_exists(obj, name: str) -> None:
    """Exit 0 if the pod exists, 1 if not."""
    from minirun.engine.pods import lifecycle
    sys.exit(0 if lifecycle.exists(hot.store(obj), name) else 1)


@pod.command("top")
@click.argument("name")
@click.argument("descriptors", nargs=-1)
@click.pass_obj
@engine_errors
def pod_top(obj, name: str, descriptors) -> None:
    """The processes of a pod's running containers."""
    from minirun import gotemplate
    from minirun.engine.pods import lifecycle
    rows = lifecycle.top(hot.store(obj), name, list(descriptors))
    for line in gotemplate.align(["\t".join(row) for row in rows]) if rows else []:
        click.echo(line)


@pod.command("logs")
@click.option("-c", "--container", help="one container's only")
@click.option("-f", "--follow", is_flag=True, help="until the containers end")
@click.option("-n", "--names", is_flag=True, help="mark lines with the container's name, "
                                                  "not its id")
@click.option("--since", help="from this time: a duration (10m), a Unix time or an RFC 3339 "
                              "stamp")
@click.option("--until", help="up to this time (the same forms)")
@click.option("--tail", type=int, default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.argument("name")
@click.pass_obj
@engine_errors
def pod_logs(obj, container, follow, names, since, until, tail, timestamps, name: str) -> None:
    """The output of a pod's containers, each line marked with its container."""
    from minirun.engine.containers.lifecycle import parse_time
    from minirun.engine.pods import lifecycle
    lifecycle.logs(hot.store(obj), name, container, tail, timestamps, follow, names=names,
                   since=parse_time(since, "--since") if since else None,
                   until=parse_time(until, "--until") if until else None)


@click.group()
def kube() -> None:
    """Kubernetes YAML: a pod (or container) written as a v1 Pod, and Pods
    and Deployments played as pods."""


@kube.command("generate")
@click.option("-f", "--filename", help="write it there instead of stdout")
@click.argument("name")
@click.pass_obj
@engine_errors
def kube_generate(obj, filename, name: str) -> None:
    """Write a pod, or a container, as a Kubernetes v1 Pod."""
    from minirun.engine.pods import kube as kubes
    text = kubes.generate(hot.store(obj), name)
    if filename:
        with open(filename, "w") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


@kube.command("play")
@click.option("--replace", is_flag=True, help="take pods of the same names down first")
@click.option("--start", type=click.BOOL, is_flag=False, flag_value=True, default=True,
              help="start the pods (default; --start=false: only make them)")
@click.argument("filename")
@click.pass_obj
@engine_errors
def kube_play(obj, replace: bool, start: bool, filename: str) -> None:
    """Make and start the pods of a YAML file (Pods, Deployments)."""
    from minirun.engine.pods import kube as kubes
    for line in kubes.play(obj["root"], hot.store(obj), filename, replace, start):
        click.echo(line)


@kube.command("down")
@click.argument("filename")
@click.pass_obj
@engine_errors
def kube_down(obj, filename: str) -> None:
    """Stop and remove the pods `kube play FILE` made."""
    from minirun.engine.pods import kube as kubes
    for line in kubes.down(hot.store(obj), filename):
        click.echo(line)


COMMANDS = [pod, kube]
