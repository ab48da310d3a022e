"""minirun: the podman-like command line (click, loaded lazily).

``minirun oci VERB ...`` hands the rest of the line to minirun-oci, the
runc-compatible CLI (cli/oci.py), unchanged; `run` and `exec` are parsed
without click when the line is plain (cli/hot.py).  Every other line loads
the click tree:

  commands.py    the root group `cli`: global options, `oci`, and the nouns'
                 commands registered on it
  images.py      pull, push, images, rmi, tag, login, logout, save, load,
                 import; the `image` group
  containers.py  run, create, start, attach, stop, rm, ps, logs, port, wait,
                 inspect, exec, stats, update, kill, restart, top, cp; the
                 `container` group
  volumes.py     the `volume` group
  networks.py    the `network` group
  pods.py        the `pod` group and the `kube` group (generate, play, down)
  lazy.py        the `lazy` group (index, record)
  info.py        info
  common.py      what they share (each, listing)
"""
import sys


def main() -> None:
    argv = sys.argv[1:]
    # The runtime verbs skip click entirely: their callers start them often.
    if argv[:1] == ["oci"]:
        from minirun.cli import oci
        sys.exit(oci.main(argv[1:]))
    if argv[:1] in (["--version"], ["-v"]) or argv == ["version"]:
        from minirun import __version__
        print(f"minirun version {__version__}")
        return
    from minirun.cli import hot
    hot.engine_errors(_dispatch)(hot, argv)     # every path: one error line, no traceback


def _dispatch(hot, argv: list[str]) -> None:
    if hot.main(argv):
        return
    import click
    from minirun.cli.commands import cli
    try:
        code = cli.main(args=argv, prog_name="minirun", standalone_mode=False)
    except click.UsageError as e:
        # podman's: one line, then where to look; exit 125 (click's own is 2)
        where = e.ctx.command_path if e.ctx else "minirun"
        print(f"Error: {_lower_first(e.format_message())}\nSee '{where} --help'",
              file=sys.stderr)
        sys.exit(125)
    except click.Abort:
        sys.exit(130)
    except click.ClickException as e:
        print(f"Error: {e.format_message()}", file=sys.stderr)
        sys.exit(125)
    sys.exit(code if isinstance(code, int) else 0)


def _lower_first(message: str) -> str:
    """click's "No such option: --x" as podman words its errors."""
    return message[:1].lower() + message[1:] if message[1:2].islower() else message
