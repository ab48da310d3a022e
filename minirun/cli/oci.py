"""minirun-oci: the runc-compatible command line (``minirun oci VERB`` too).

podman (through conmon), containerd and CRI-O call it as they call runc::

    minirun-oci [--root DIR] [--log FILE --log-format json] create --bundle DIR \\
        --pid-file FILE [--console-socket SOCK] ID
    minirun-oci start ID;  minirun-oci state ID;  minirun-oci kill ID SIGNAL
    minirun-oci delete [--force] ID

It is the hot path of every container those engines start, so it imports
nothing it does not need (a click import alone costs about 30 ms here).
The verbs engines call for every container (create, start, state, kill,
delete, run) are declared in one table, :data:`FAST`: :func:`_fast_parse`
reads a command line of exactly that grammar directly, and anything else
(``--help``, an unknown flag, a missing id) goes to argparse, built from the
same table, which words the help and the errors.  argparse with its gettext
look-ups costs about 4 ms, a fifth of runc's whole start.  Each verb
parses, calls one function of ``minirun.runtime.lifecycle``, prints, and
maps errors to an exit code.

It is one module of about 440 lines, over the project's guide of 400, on
purpose: the parser's table and the verbs it dispatches to are read
together, and every further module on this path is found and loaded on
every start (about 0.15 ms each here, measured with ``python -X
importtime``; runc's whole start is about 25 ms).
"""
import json
import os
import sys
from types import SimpleNamespace

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"


def _formatter(prog: str):
    # A width given up front keeps argparse from importing shutil (and with
    # it bz2 and lzma) on every call just to measure the terminal.
    import argparse
    return argparse.HelpFormatter(prog, width=int(os.environ.get("COLUMNS", "100")))


def _flag(*names: str, kind: str = "value", default=None, type=str, help=None, **extra):
    """One option: kind "bool" (a switch) or "value" (takes the next word)."""
    return SimpleNamespace(names=names, dest=names[-1].lstrip("-").replace("-", "_"),
                           kind=kind, default=False if kind == "bool" else default,
                           type=type, help=help, extra=extra)


GLOBAL = [
    _flag("--root", help="state directory (default /run/minirun, rootless "
          "$XDG_RUNTIME_DIR/minirun)"),
    _flag("--log", help="errors here too, and warnings here instead of stderr"),
    _flag("--log-format", default="text", choices=["text", "json"]),
    _flag("--debug", kind="bool"),
    _flag("--explain", kind="bool", help="narrate each step on stderr"),
    _flag("--systemd-cgroup", kind="bool"),
    _flag("--rootless", default="auto"),
    _flag("--criu", help="==SUPPRESS=="),      # argparse.SUPPRESS: accepted, not shown
    _flag("-v", "--version", kind="bool"),
]
BUNDLE = [_flag("-b", "--bundle", default="."), _flag("--console-socket"),
          _flag("--pid-file"), _flag("--preserve-fds", type=int, default=0),
          _flag("--no-pivot", kind="bool"), _flag("--no-new-keyring", kind="bool")]
# verb -> (its options, its operands: name, or name=DEFAULT when optional)
FAST = {
    "create": (BUNDLE, ("id",)),
    "start": ([], ("id",)),
    "state": ([], ("id",)),
    "kill": ([_flag("-a", "--all", kind="bool")], ("id", "signal=TERM")),
    "delete": ([_flag("-f", "--force", kind="bool")], ("id",)),
    "pause": ([], ("id",)),
    "resume": ([], ("id",)),
    "run": ([_flag("-d", "--detach", kind="bool"), _flag("--keep", kind="bool")] + BUNDLE,
            ("id",)),
}


def _take(flags: list, args: list[str], i: int, out: dict) -> int:
    """Options from ``args[i]`` on, into ``out``; the index of the first
    operand, or -1 for anything the table does not say exactly."""
    by_name = {n: f for f in flags for n in f.names}
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        f = by_name.get(name)
        if f is None or (f.kind == "bool" and eq):
            return -1
        if f.kind == "bool":
            out[f.dest] = True
        else:
            if not eq:
                i += 1
                if i == len(args):
                    return -1
                value = args[i]
            if "choices" in f.extra and value not in f.extra["choices"]:
                return -1
            try:
                out[f.dest] = f.type(value)
            except ValueError:
                return -1
        i += 1
    return i


def _fast_parse(argv: list[str]) -> SimpleNamespace | None:
    """The command line as argparse would read it, for the verbs in FAST
    written exactly as engines write them; None for anything else."""
    out = {f.dest: f.default for f in GLOBAL}
    i = _take(GLOBAL, argv, 0, out)
    if i < 0 or i == len(argv) or argv[i] not in FAST:
        return None
    out["verb"] = argv[i]
    flags, operands = FAST[argv[i]]
    out.update({f.dest: f.default for f in flags})
    i = _take(flags, argv, i + 1, out)
    if i < 0:
        return None
    rest = argv[i:]
    required = [o for o in operands if "=" not in o]
    if not len(required) <= len(rest) <= len(operands) or any(a.startswith("-") for a in rest):
        return None
    for j, operand in enumerate(operands):
        name, _, default = operand.partition("=")
        out[name] = rest[j] if j < len(rest) else default
    return SimpleNamespace(**out)


def _add_table(sp, flags: list, operands: tuple[str, ...] = ()) -> None:
    """The same options and operands, for argparse (help and errors)."""
    for f in flags:
        if f.kind == "bool":
            sp.add_argument(*f.names, action="store_true", help=f.help)
        else:
            sp.add_argument(*f.names, default=f.default, type=f.type, help=f.help, **f.extra)
    for operand in operands:
        name, optional, default = operand.partition("=")
        sp.add_argument(name, **({"nargs": "?", "default": default} if optional else {}))


def _fast_args(verb: str):
    return lambda sp: _add_table(sp, *FAST[verb])


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
    sp.add_argument("args", nargs="...")        # argparse.REMAINDER


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
    sp.add_argument("rest", nargs="...")        # argparse.REMAINDER


VERBS = {
    "create": ("create a container from a bundle; its process waits for start",
               _fast_args("create")),
    "start": ("run the process of a created container", _fast_args("start")),
    "state": ("print a container's state as JSON", _fast_args("state")),
    "kill": ("send a signal to a container's process", _fast_args("kill")),
    "delete": ("remove a stopped container (--force: any)", _fast_args("delete")),
    "run": ("create and start a container, wait for it, delete it", _fast_args("run")),
    "exec": ("run another process in a running container", _exec_args),
    "list": ("list containers", _list_args),
    "spec": ("write a default config.json", _spec_args),
    "features": ("print what this runtime supports, as JSON", lambda sp: None),
    "update": ("change a running container's resource limits", _update_args),
    "pause": ("freeze every process of a running container", _fast_args("pause")),
    "resume": ("thaw a paused container", _fast_args("resume")),
    **{name: (f"({name} is not supported)", _rest)
       for name in ("checkpoint", "restore", "events", "ps")},
}
GLOBAL_WITH_VALUE = {n for f in GLOBAL if f.kind == "value" for n in f.names}


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


def _parser(only: str | None = None):
    """The argparse parser; with ``only``, just that verb's subparser (each
    one costs argparse a few gettext look-ups, and the runtime starts often)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):
            """A usage error is minirun's own error: exit 125, as podman does."""
            self.print_usage(sys.stderr)
            sys.stderr.write(f"{self.prog}: error: {message}\n")
            sys.exit(125)

    p = Parser(prog="minirun-oci", description="runc-compatible OCI runtime",
               formatter_class=_formatter)
    _add_table(p, GLOBAL)
    # prog= given, or argparse builds a help formatter now (importing shutil).
    sub = p.add_subparsers(dest="verb", metavar="VERB", prog="minirun-oci")
    for name, (help_, add_args) in VERBS.items():
        if only is None or name == only:
            add_args(sub.add_parser(name, help=help_, formatter_class=_formatter))
    return p


class Output:
    """Errors to stderr and to --log, warnings to --log where it is given
    (else stderr), in runc's format (podman and containerd read it)."""

    def __init__(self, args):
        self.log, self.json = args.log, args.log_format == "json"

    def error(self, message: str) -> None:
        sys.stderr.write(f"minirun-oci: {message}\n")
        self._to_log("error", message)

    def warning(self, message: str) -> None:
        self._to_log("warning", message)

    def _to_log(self, level: str, message: str) -> None:
        if not self.log:
            return
        try:
            import datetime
            with open(self.log, "a") as f:
                if self.json:
                    t = datetime.datetime.now(datetime.timezone.utc).isoformat()
                    f.write(json.dumps({"level": level, "msg": message, "time": t}) + "\n")
                else:
                    f.write(f"{level}: {message}\n")
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
    if v in ("pause", "resume"):
        getattr(lifecycle, v)(store, args.id)
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
    args = _fast_parse(argv) or _parser(verb if verb in VERBS else None).parse_args(argv)
    out = Output(args)
    if args.log:
        from minirun.runtime import checks
        checks.send_warnings_to(out.warning)
    if args.version:
        print(f"minirun-oci version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if args.explain or args.debug:
        # --debug is what engines pass: the same narration, into --log when
        # given, so that it never mixes with the container's own stderr.
        from minirun import explain
        explain.enable(args.log if args.debug and not args.explain else None)
        explain.set_actor("parent", "the runtime, on the host: state, cgroups, id maps")
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
