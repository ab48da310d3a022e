"""The `network` group: create, ls, inspect, rm, prune."""

import click

from minirun.cli import hot
from minirun.cli.common import each
from minirun.cli.hot import engine_errors


@click.group()
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
    from minirun.engine.network import bridge
    from minirun.engine.store import check_name
    check_name(name, "network")          # before anything is made
    click.echo(bridge.create(hot.store(obj), name, subnet)["name"])


@network.command("ls")
@click.option("--format", "fmt", default=None, help="json, or a Go template (table ...)")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True, help="whole ids")
@click.pass_obj
@engine_errors
def network_ls(obj, fmt: str | None, quiet: bool, no_trunc: bool) -> None:
    """List networks."""
    from minirun.cli import formats
    from minirun.engine.network import bridge
    nets = bridge.listing(hot.store(obj))
    if quiet:
        for n in nets:
            click.echo(n["name"])
        return
    if fmt == "json":
        formats.rows("json", nets, "", {})
        return
    formats.rows(fmt, [dict(n, ID=n["id"] if no_trunc else n["id"][:12]) for n in nets],
                 "table {{.ID}}\t{{.Name}}\t{{.Driver}}", {"ID": "NETWORK ID"},
                 struct=formats.Network)


@network.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="json, or a Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def network_inspect(obj, fmt: str | None, names) -> None:
    """Show networks: JSON in podman's shape (with minirun's list of their
    containers), or --format."""
    from minirun.cli import formats
    from minirun.engine.network import bridge
    formats.objects(fmt, [bridge.inspect(hot.store(obj), n) for n in names],
                    struct=formats.Network)


@network.command("connect")
@click.argument("network")
@click.argument("container")
@click.pass_obj
@engine_errors
def network_connect(obj, network: str, container: str) -> None:
    """Put a running container on one more network (eth1, eth2 ...)."""
    from minirun.engine.containers import networks
    networks.join(hot.store(obj), container, network)


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="accepted")
@click.argument("network")
@click.argument("container")
@click.pass_obj
@engine_errors
def network_disconnect(obj, force: bool, network: str, container: str) -> None:
    """Take a container off a network it joined with connect."""
    from minirun.engine.containers import networks
    networks.leave(hot.store(obj), container, network)


@network.command("exists")
@click.argument("name")
@click.pass_obj
@engine_errors
def network_exists(obj, name: str) -> None:
    """Exit 0 if the network exists, 1 if it does not (podman's)."""
    from minirun.engine.network import bridge, modes
    try:
        bridge.find(hot.store(obj), name)
    except modes.NoSuchNetwork:
        raise SystemExit(1) from None


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="and the containers on it")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@engine_errors
def network_rm(obj, force: bool, names) -> None:
    """Remove networks."""
    from minirun.engine.containers import lifecycle
    from minirun.engine.network import bridge
    import functools
    remove_container = functools.partial(lifecycle.remove, force=True)   # network rm -f's
    each(names, lambda name: bridge.remove(hot.store(obj), name, force, remove_container),
         missing=1, ignore_missing=force)


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="accepted; minirun never asks")
@click.pass_obj
@engine_errors
def network_prune(obj, force: bool) -> None:
    """Remove the networks no container uses."""
    from minirun.engine.network import bridge
    for name in bridge.prune(hot.store(obj)):
        click.echo(name)


COMMANDS = (network,)
