"""What the nouns' commands share: printing each name a verb acted on
(with podman's exit codes), and podman's question before a prune."""

import click


def each(names, fn, missing: int | None = None, echo=None,
         ignore_missing: bool = False) -> None:
    """``fn(name)`` for each name, printing ``echo(name, result)`` (the name),
    as podman's verbs do: a name that fails is said on stderr and the rest
    go on; the exit code is the last failure's (``missing``: podman's code
    for a name that does not exist, 1 for the rm verbs).  ``ignore_missing``
    (rm -f, rm -i): a name that does not exist is passed over in silence,
    as podman does, so that a clean-up can be run twice."""
    import sys
    from minirun.errors import MiniRunError
    code = 0
    for name in names:
        try:
            result = fn(name)
        except MiniRunError as e:
            if ignore_missing and _not_found(e):
                continue
            sys.stdout.flush()
            print(f"Error: {e}", file=sys.stderr)
            code = missing if missing is not None and _not_found(e) else e.exit_code
            continue
        click.echo(echo(name, result) if echo else name)
    if code:
        sys.exit(code)


def confirm(warning: str) -> bool:
    """podman's question; anything but y or yes (end of input too) is no."""
    import sys
    click.echo(warning + "Are you sure you want to continue? [y/N] ", nl=False)
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):
        click.echo()
    return answer.strip().lower() in ("y", "yes")


def _not_found(e: Exception) -> bool:
    from minirun.engine.containers.records import NoSuchContainer
    from minirun.engine.containers.volumes import NoSuchVolume
    from minirun.engine.network.modes import NoSuchNetwork
    from minirun.engine.pods.records import NoSuchPod
    from minirun.engine.store import ImageNotFound
    return isinstance(e, (NoSuchContainer, NoSuchVolume, NoSuchNetwork, NoSuchPod,
                          ImageNotFound))
