"""`info`: what this host supports, and what is missing."""
import json

import click

from minirun.cli.hot import engine_errors


@click.command()
@click.option("--format", "fmt", default="text", help="text or json")
@click.pass_obj
@engine_errors
def info(obj, fmt: str) -> None:
    """What this host supports, and what is missing."""
    from minirun.engine import hostinfo
    facts = hostinfo.gather(obj["root"])
    facts.update(devices())
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2))
        return
    for section, values in facts.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key}: {value}")


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


COMMANDS = (info,)
