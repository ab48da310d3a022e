"""minirun-oci: the runc-compatible command line (``minirun oci VERB`` too).

podman (through conmon), containerd and CRI-O call it as they call runc::

    minirun-oci [--root DIR] [--log FILE --log-format json] create --bundle DIR \\
        --pid-file FILE [--console-socket SOCK] ID
    minirun-oci start ID;  minirun-oci state ID;  minirun-oci kill ID SIGNAL
    minirun-oci delete [--force] ID

It is the hot path of every container those engines start, so it uses the
standard library's argparse and imports nothing it does not need (a click
import alone costs about 30 ms here).  Each verb parses, calls one function
of ``minirun.runtime.lifecycle``, prints, and maps errors to an exit code.
"""
import argparse
import json
import os
import sys

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A width given up front keeps argparse from importing shutil (and with
    # it bz2 and lzma) on every call just to measure the terminal.
    return argparse.HelpFormatter(prog, width=int(os.environ.get("COLUMNS", "100")))


def _bundle_args(sp) -> None:
    sp.add_argument("-b", "--bundle", default=".")
    sp.add_argument("--console-socket")
    sp.add_argument("--pid-file")
    sp.add_argument("--preserve-fds", type=int, default=0)
    sp.add_argument("--no-pivot", action="store_true")
    sp.add_argument("--no-new-keyring", action="store_true")
    sp.add_argument("id")


def _kill_args(sp) -> None:
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("id")
    sp.add_argument("signal", nargs="?", default="TERM")


def _delete_args(sp) -> None:
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("id")


def _run_args(sp) -> None:
    sp.add_argument("-d", "--detach", action="store_true")
    sp.add_argument("--keep", action="store_true")
    _bundle_args(sp)


def _exec_args(sp) -> None:
    sp.add_argument("-p", "--process", help="process.json to run")
    sp.add_argument("-t", "--tty", action="store_true")
    sp.add_argument("-d", "--detach", action="store_true")
    sp.add_argument("--pid-file")
    sp.add_argument("--console-socket")
    sp.add_argument("--cwd")
    sp.add_argument("-e", "--env", action="append", default=[])
    sp.add_argument("-u", "--user", help="UID[:GID]")
    sp.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    sp.add_argument("-c", "--cap", action="append", default=[])
    sp.add_argument("--no-new-privs", action="store_true")
    sp.add_argument("--preserve-fds", type=int, default=0)
    sp.add_argument("--process-label", "--apparmor", dest="ignored_label")
    sp.add_argument("id")
    sp.add_argument("args", nargs=argparse.REMAINDER)


def _list_args(sp) -> None:
    sp.add_argument("-f", "--format", default="table", choices=["table", "json"])
    sp.add_argument("-q", "--quiet", action="store_true")


def _spec_args(sp) -> None:
    sp.add_argument("-b", "--bundle", default=".")
    sp.add_argument("--rootless", action="store_true")


def _update_args(sp) -> None:
    sp.add_argument("-r", "--resources", required=True, metavar="FILE",
                    help="linux.resources as JSON (\"-\": stdin), as podman passes them")
    sp.add_argument("id")


def _id_arg(sp) -> None:
    sp.add_argument("id")


def _rest(sp) -> None:
    sp.add_argument("rest", nargs=argparse.REMAINDER)


VERBS = {
    "create": ("create a container from a bundle; its process waits for start", _bundle_args),
    "start": ("run the process of a created container", _id_arg),
    "state": ("print a container's state as JSON", _id_arg),
    "kill": ("send a signal to a container's process", _kill_args),
    "delete": ("remove a stopped container (--force: any)", _delete_args),
    "run": ("create and start a container, wait for it, delete it", _run_args),
    "exec": ("run another process in a running container", _exec_args),
    "list": ("list containers", _list_args),
    "spec": ("write a default config.json", _spec_args),
    "features": ("print what this runtime supports, as JSON", lambda sp: None),
    "update": ("change a running container's resource limits", _update_args),
    **{name: (f"({name} is not supported)", _rest)
       for name in ("pause", "resume", "checkpoint", "restore", "events", "ps")},
}
GLOBAL_WITH_VALUE = {"--root", "--log", "--log-format", "--rootless", "--criu"}


def _verb_in(argv: list[str]) -> str | None:
    """The verb of a command line, found without parsing it all."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """A usage error is minirun's own error: exit 125, as podman does."""
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(125)


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that verb's subparser (each one costs
    argparse a few gettext look-ups, and the runtime starts often)."""
    p = _Parser(prog="minirun-oci", description="runc-compatible OCI runtime",
                formatter_class=_formatter)
    p.add_argument("--root", help="state directory (default /run/minirun, rootless "
                   "$XDG_RUNTIME_DIR/minirun)")
    p.add_argument("--log", help="also write errors to this file")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--explain", action="store_true", help="narrate each step on stderr")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--rootless", default="auto")
    p.add_argument("--criu", help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true")
    # prog= given, or argparse builds a help formatter now (importing shutil).
    sub = p.add_subparsers(dest="verb", metavar="VERB", prog="minirun-oci")
    for name, (help_, add_args) in VERBS.items():
        if only is None or name == only:
            add_args(sub.add_parser(name, help=help_, formatter_class=_formatter))
    return p


class Output:
    """Errors to stderr, and to --log in runc's format, once."""

    def __init__(self, args):
        self.log, self.json = args.log, args.log_format == "json"

    def error(self, message: str) -> None:
        sys.stderr.write(f"minirun-oci: {message}\n")
        if self.log:
            try:
                import datetime
                with open(self.log, "a") as f:
                    if self.json:  # runc's format, which podman and containerd read
                        t = datetime.datetime.now(datetime.timezone.utc).isoformat()
                        f.write(json.dumps({"level": "error", "msg": message, "time": t}) + "\n")
                    else:
                        f.write(f"error: {message}\n")
            except OSError:
                pass


def _exec_process(args, base):
    """The process for `exec`: --process JSON, or args over the container's own."""
    from minirun.runtime import spec as spec_mod
    if args.process:
        with open(args.process) as f:
            return spec_mod.process_from_json(json.load(f))
    if not args.args:
        raise spec_mod.ConfigError("exec: name a command, or a process.json with --process")
    proc = base or spec_mod.Process(args=("sh",))
    user = proc.user
    if args.user:
        uid, _, gid = args.user.partition(":")
        user = user._replace(uid=int(uid), gid=int(gid) if gid else user.gid)
    if args.additional_gids:
        user = user._replace(additional_gids=tuple(args.additional_gids))
    caps = proc.capabilities
    if args.cap and caps is not None:
        extra = tuple(args.cap)
        caps = caps._replace(bounding=caps.bounding + extra,
                                   effective=caps.effective + extra,
                                   permitted=caps.permitted + extra)
    env = tuple(proc.env) + tuple(args.env)
    return proc._replace(args=tuple(args.args), env=env, user=user,
                               cwd=args.cwd or proc.cwd, terminal=args.tty, capabilities=caps,
                               no_new_privileges=proc.no_new_privileges or args.no_new_privs,
                               console_size=None)


def _run_verb(args) -> int:
    from minirun import explain
    explain.say(f"minirun-oci {args.verb}: command line parsed")
    from minirun.runtime import lifecycle
    from minirun.runtime.state import Store, default_root
    explain.say("runtime modules imported")
    store = Store(args.root or default_root())
    v = args.verb
    if v in ("create", "run") and args.no_pivot:
        from minirun.errors import MiniRunError
        raise MiniRunError("--no-pivot is not supported: minirun always uses pivot_root")
    if v == "create":
        from minirun.runtime import launch
        _, handle = launch.create(store, args.id, args.bundle,
                                  console_socket=args.console_socket, pid_file=args.pid_file,
                                  preserve_fds=args.preserve_fds)
        handle.chan.close()
        return 0
    if v == "start":
        lifecycle.start(store, args.id)
        return 0
    if v == "state":
        print(json.dumps(lifecycle.state(store, args.id), indent=2))
        return 0
    if v == "kill":
        lifecycle.kill(store, args.id, lifecycle.parse_signal(args.signal), args.all)
        return 0
    if v == "delete":
        lifecycle.delete(store, args.id, args.force)
        return 0
    if v == "run":
        return lifecycle.run(store, args.id, args.bundle, detach=args.detach, keep=args.keep,
                             console_socket=args.console_socket, pid_file=args.pid_file,
                             preserve_fds=args.preserve_fds)
    if v == "exec":
        return _exec(store, args)
    if v == "list":
        return _list(store, args)
    if v == "spec":
        from minirun.runtime import defaults
        return defaults.write_spec(args.bundle, args.rootless)
    if v == "update":
        from minirun.errors import ConfigError
        try:
            text = sys.stdin.read() if args.resources == "-" else open(args.resources).read()
            resources = json.loads(text)
        except OSError as e:
            raise ConfigError(f"--resources {args.resources}: {e.strerror}") from None
        except ValueError as e:
            raise ConfigError(f"--resources {args.resources}: not JSON ({e})") from None
        if not isinstance(resources, dict):
            raise ConfigError(f"--resources {args.resources}: expected a JSON object "
                              "(linux.resources)")
        lifecycle.update(store, args.id, resources)
        return 0
    if v == "features":
        from minirun.runtime import defaults
        print(json.dumps(defaults.features(), indent=2))
        return 0
    from minirun.errors import MiniRunError
    raise MiniRunError(f"`{v}` is not supported by minirun-oci yet")


def _exec(store, args) -> int:
    from minirun.runtime import launch, lifecycle, spec as spec_mod
    st = store.load(args.id)
    base = spec_mod.load_saved(store.dir(args.id), st.bundle).process
    proc = _exec_process(args, base)
    terminal = None
    if proc.terminal and not args.console_socket and not args.detach:
        from minirun.runtime.console import OwnTerminal
        terminal = OwnTerminal()
    handle = launch.exec_process(store, args.id, proc, console_socket=args.console_socket,
                                 console_fd=terminal.child_fd() if terminal else -1,
                                 pid_file=args.pid_file, preserve_fds=args.preserve_fds)
    handle.chan.close()
    master = terminal.receive_master() if terminal else -1
    if args.detach:
        return 0
    return lifecycle.wait_forwarding(handle.init_pid, master)


def _list(store, args) -> int:
    from minirun.runtime import lifecycle
    rows = lifecycle.list_containers(store)
    if args.quiet:
        for r in rows:
            print(r["id"])
    elif args.format == "json":
        print(json.dumps(rows))
    else:
        print(f"{'ID':<24}{'PID':<9}{'STATUS':<10}{'BUNDLE':<40}{'CREATED':<32}OWNER")
        for r in rows:
            print(f"{r['id']:<24}{r['pid']:<9}{r['status']:<10}{r['bundle']:<40}"
                  f"{r['created']:<32}{r['owner']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the minirun-oci command; returns the exit code."""
    return _main(argv)


def console() -> None:
    """The installed minirun-oci script.  Ends with os._exit: the runtime
    owns no buffered state beyond stdio, and the interpreter's orderly
    teardown costs several milliseconds on every container operation."""
    code = _main(None)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    verb = _verb_in(argv)
    if verb in ("create", "run", "exec") and os.geteuid() == 0:
        # before anything else, so that the kernel's wait (kernel/cgroups.py)
        # passes while this process parses and imports
        from minirun.kernel import cgroups
        cgroups.warm_migration()
    args = _parser(verb if verb in VERBS else None).parse_args(argv)
    out = Output(args)
    if args.version:
        print(f"minirun-oci version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if args.explain or args.debug:
        # --debug is what engines pass: the same narration, into --log when
        # given, so that it never mixes with the container's own stderr.
        from minirun import explain
        explain.enable(args.log if args.debug and not args.explain else None)
    if args.systemd_cgroup:
        out.error("--systemd-cgroup is not supported: minirun manages cgroupfs paths itself; "
                  "configure the engine with the cgroupfs cgroup manager")
        return 125
    if not args.verb:
        _parser().print_help()
        return 125
    from minirun.errors import MiniRunError
    try:
        return _run_verb(args)
    except MiniRunError as e:
        out.error(str(e))
        return e.exit_code
    except OSError as e:
        out.error(f"{e.strerror or e}" + (f": `{e.filename}`" if e.filename else ""))
        return 125
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
