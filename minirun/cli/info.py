"""`info`: what this host supports, and what is missing."""
import json

import click

from minirun.cli.hot import engine_errors


@click.command()
@click.option("-f", "--format", "fmt", default="text",
              help="text, json, or a Go template ({{.Host.Arch}}, {{.Store.GraphRoot}})")
@click.pass_obj
@engine_errors
def info(obj, fmt: str) -> None:
    """What this host supports, and what is missing."""
    from minirun.engine import hostinfo
    facts = hostinfo.gather(obj["root"])
    facts["store"].update(store_counts(obj))
    facts.update(devices())
    if fmt == "json":
        click.echo(json.dumps(facts, indent=4))
        return
    if fmt != "text":
        from minirun.cli import formats
        formats.objects(fmt, [facts], struct=formats.Capitalized)
        return
    for section, values in facts.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key}: {value}")


@click.command()
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
def version(fmt: str | None) -> None:
    """minirun's version, as podman's `version` prints its own."""
    import platform
    from minirun import __version__
    from minirun.engine.hostinfo import ARCH
    client = {"APIVersion": __version__, "Version": __version__,
              "PythonVersion": platform.python_version(), "GitCommit": "", "BuiltTime": "",
              "Built": 0, "OsArch": f"linux/{ARCH.get(platform.machine(), platform.machine())}",
              "Os": "linux"}
    if fmt == "json":
        click.echo(json.dumps({"Client": client}, indent=2))
    elif fmt:
        from minirun.cli import formats
        formats.objects(fmt, [{"Client": client}], struct=formats.Struct)
    else:
        click.echo(f"Client:       minirun\nVersion:      {__version__}\n"
                   f"API Version:  {__version__}\nPython:       {client['PythonVersion']}\n"
                   f"OS/Arch:      {client['OsArch']}")


def store_counts(obj) -> dict:
    """podman's containerStore and imageStore numbers."""
    from minirun.cli import hot
    from minirun.engine.containers import lifecycle, records as ct
    store = hot.store(obj)
    states = [lifecycle.refresh(store, r)["state"] for r in ct.all_records(store)]
    return {"containerStore": {"number": len(states), "running": states.count("running"),
                               "paused": states.count("paused"),
                               "stopped": len(states) - states.count("running")
                               - states.count("paused")},
            "imageStore": {"number": len(store.images())}}


def devices() -> dict:
    """The "gpus" and "cdiDevices" parts: the NVIDIA driver and its GPUs
    (engine/cdi/discover.py), and the devices the host's CDI specs define
    (engine/cdi/registry.py).  They are gathered here, not in hostinfo:
    hostinfo is the engine's base, which uses no room."""
    from minirun.engine.cdi import discover, registry
    from minirun.errors import MiniRunError
    try:
        driver = discover.discover()
        gpus = {"driver": f"NVIDIA {driver.version}" if driver.found else
                f"none (no NVIDIA kernel module under {driver.root})"}
        for g in driver.gpus:
            gpus[f"gpu {g.index}"] = f"{g.model}, {g.uuid}, {g.pci}, {g.node}"
    except MiniRunError as e:
        gpus = {"driver": f"unreadable: {e}"}
    try:
        found = registry.Registry()
        cdi = {"devices": ", ".join(found.names()) or "none",
               "spec directories": ", ".join(found.dirs)}
        if found.errors:
            cdi["broken specs"] = "; ".join(found.errors.values())
    except MiniRunError as e:
        cdi = {"devices": f"unreadable: {e}"}
    return {"gpus": gpus, "cdiDevices": cdi}


COMMANDS = (info, version)
