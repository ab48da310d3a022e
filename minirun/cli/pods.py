"""The `pod` group (create, ps/ls, inspect, start, stop, restart, kill,
pause, unpause, rm, prune, top, logs, exists) and the `kube` group
(generate, play, down): thin, over engine/pods."""
import sys

import click

from minirun.cli import hot
from minirun.cli.common import each
from minirun.cli.hot import engine_errors


@click.group()
def pod() -> None:
    """Manage pods: containers that share a network (localhost), IPC and a
    hostname, held by an infra container."""


@pod.command("create")
@click.option("--name")
@click.option("-p", "--publish", multiple=True, help="[IP:][HOST-PORT:]CONTAINER-PORT[/udp]")
@click.option("--share", default=None, help="namespaces to share: ipc,net,uts (default), pid")
@click.option("--infra/--no-infra", default=True, help="an infra container holds the "
                                                       "namespaces (default)")
@click.option("--hostname", help="the pod's hostname (default: its name)")
@click.option("-l", "--label", multiple=True, help="KEY=VALUE")
@click.option("--network", help="the pod's network (as run's --network)")
@click.pass_obj
@engine_errors
def pod_create(obj, name, publish, share, infra, hostname, label, network) -> None:
    """Create a pod; print its id."""
    from minirun.engine.pods import create
    click.echo(create.create(hot.store(obj), name=name, publish=publish, share=share,
                             infra=infra, hostname=hostname, labels=label, network=network))


POD_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t"
             "{{.NumberOfContainers}}")
POD_HEADERS = {"ID": "POD ID", "InfraID": "INFRA ID", "NumberOfContainers": "# OF CONTAINERS"}


@pod.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="ids only")
@click.option("--no-trunc", is_flag=True, help="whole ids")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.pass_obj
@engine_errors
def pod_ps(obj, quiet: bool, no_trunc: bool, fmt: str | None) -> None:
    """List pods."""
    from minirun.cli import formats
    from minirun.engine.pods import lifecycle
    rows = lifecycle.listing(hot.store(obj))
    short = (lambda i: i) if no_trunc else (lambda i: i[:12])
    if quiet:
        for r in rows:
            click.echo(short(r["Id"]))
        return
    if fmt == "json":
        formats.rows("json", rows, "", {})
        return
    formats.rows(fmt, [dict(r, ID=short(r["Id"]), InfraID=short(r["InfraId"]),
                            Created=formats.ago(r["Created"]),
                            NumberOfContainers=len(r["Containers"])) for r in rows],
                 POD_TABLE, POD_HEADERS)


pod.add_command(pod_ps, "ls")


@pod.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def pod_inspect(obj, fmt: str | None, names) -> None:
    """Pods as podman 4.3 shows them: one pod's JSON object, several pods'
    list (or --format over each)."""
    import json
    from minirun.cli import formats
    from minirun.engine.pods import lifecycle
    data = [lifecycle.inspect(hot.store(obj), name) for name in names]
    if fmt in (None, "", "json"):
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=5))
        return
    formats.objects(fmt, data)


def _verb(verb: str, doc: str, fn):
    """A verb over named pods, printing each one's id (start, pause, unpause)."""
    @pod.command(verb, help=doc)
    @click.argument("names", nargs=-1, required=True)
    @click.pass_obj
    @engine_errors
    def command(obj, names) -> None:
        each(names, lambda name: fn(hot.store(obj), name), echo=lambda name, pid: pid)
    return command


def _start(store, name):
    from minirun.engine.pods import lifecycle
    return lifecycle.start(store, name)


def _pause(store, name):
    from minirun.engine.pods import lifecycle
    return lifecycle.freeze(store, name, True)


def _unpause(store, name):
    from minirun.engine.pods import lifecycle
    return lifecycle.freeze(store, name, False)


_verb("start", "Start pods: the infra container, then the others.", _start)
_verb("pause", "Pause every running container of pods.", _pause)
_verb("unpause", "Unpause every paused container of pods.", _unpause)


@pod.command("stop")
@click.option("-t", "--time", "timeout", type=float, default=None,
              help="seconds before SIGKILL (default: each container's)")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def pod_stop(obj, timeout, names) -> None:
    """Stop pods: their containers, the infra last."""
    from minirun.engine.pods import lifecycle
    each(names, lambda n: lifecycle.stop(hot.store(obj), n, timeout), echo=lambda n, i: i)


@pod.command("restart")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def pod_restart(obj, names) -> None:
    """Stop pods, then start them again."""
    from minirun.engine.pods import lifecycle
    each(names, lambda n: lifecycle.restart(hot.store(obj), n), echo=lambda n, i: i)


@pod.command("kill")
@click.option("-s", "--signal", "sig", default="KILL")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def pod_kill(obj, sig, names) -> None:
    """Send a signal (default SIGKILL) to each running container of pods."""
    from minirun.engine.pods import lifecycle
    each(names, lambda n: lifecycle.kill(hot.store(obj), n, sig), echo=lambda n, i: i)


@pod.command("rm")
@click.option("-f", "--force", is_flag=True, help="stop running containers first")
@click.option("-a", "--all", "all_", is_flag=True, help="every pod")
@click.argument("names", nargs=-1)
@click.pass_obj
@engine_errors
def pod_rm(obj, force: bool, all_: bool, names) -> None:
    """Remove pods and their containers (running ones only with -f)."""
    from minirun.engine.pods import lifecycle, records
    store = hot.store(obj)
    if all_:
        names = [p["id"] for p in records.all_pods(store)]
    elif not names:
        raise click.UsageError("name a pod, or use --all")
    each(names, lambda n: lifecycle.remove(store, n, force), missing=1,
         echo=lambda n, i: i)


@pod.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def pod_prune(obj, force: bool) -> None:
    """Remove every pod whose containers have all ended."""
    from minirun.engine.pods import lifecycle
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
@click.option("--tail", type=int, default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.argument("name")
@click.pass_obj
@engine_errors
def pod_logs(obj, container, follow, tail, timestamps, name: str) -> None:
    """The output of a pod's containers, each line marked with its container."""
    from minirun.engine.pods import lifecycle
    lifecycle.logs(hot.store(obj), name, container, tail, timestamps, follow)


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
@click.argument("filename")
@click.pass_obj
@engine_errors
def kube_play(obj, filename: str) -> None:
    """Make and start the pods of a YAML file (Pods, Deployments)."""
    from minirun.engine.pods import kube as kubes
    for line in kubes.play(obj["root"], hot.store(obj), filename):
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
