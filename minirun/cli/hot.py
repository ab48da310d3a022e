"""The hot verbs, `run` and `exec`, without click.

Importing click costs about 30 ms here, a fifth of what podman takes to run
a whole container; `run` and `exec` are what test systems call in loops.
So their flags live in one table (:data:`RUN_FLAGS`, :data:`EXEC_FLAGS`),
which commands.py turns into click options for `--help` and the rest of
the CLI, and which :func:`parse` reads directly on the fast path.  Anything
the fast parser is unsure of (``--help``, an unknown flag, a bad choice)
goes to click, so errors are worded in one place.
"""
import functools
import os
import sys

from minirun.records import record


@record
class Flag:
    names: tuple[str, ...]            # ("-e", "--env")
    dest: str                          # the keyword it fills
    kind: str = "value"                # "bool", "value" or "many" (repeatable)
    default: object = None
    choices: tuple[str, ...] = ()
    help: str | None = None


def _f(*names, dest=None, **kw) -> Flag:
    return Flag(names, dest or names[-1].lstrip("-").replace("-", "_"), **kw)


# The flags `run` and `create` share, as podman spells them.
CREATE_FLAGS = [
    _f("--name"), _f("-e", "--env", kind="many"), _f("--env-file", kind="many"),
    _f("--tmpfs", kind="many"), _f("--label", "-l", dest="label", kind="many"),
    _f("--annotation", kind="many"), _f("-w", "--workdir"), _f("-u", "--user"),
    _f("-h", "--hostname"), _f("--entrypoint"),
    _f("-t", "--tty", kind="bool"), _f("-i", "--interactive", kind="bool"),
    _f("--rm", kind="bool"), _f("--read-only", kind="bool"),
    _f("--init", kind="bool", help="run a tiny init (catatonit) as pid 1"),
    _f("--privileged", kind="bool"),
    _f("--cap-add", kind="many"), _f("--cap-drop", kind="many"),
    _f("-v", "--volume", kind="many"), _f("--mount", kind="many"),
    _f("--network", default="private",
       help="none, host, bridge or a network's name, slirp4netns, pasta (default: bridge "
            "as root; pasta, else slirp4netns, for a plain user)"),
    _f("--security-opt", kind="many",
       help="no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json"),
    _f("--network-alias", kind="many", help="another name on the network"),
    _f("--dns", kind="many", help="a nameserver for /etc/resolv.conf"),
    _f("--network-bandwidth", help="a rate each way, e.g. 10mbit (a bridge network)"),
    _f("-p", "--publish", kind="many", help="[IP:][HOST-PORT:]CONTAINER-PORT[/udp]"),
    _f("-P", "--publish-all", kind="bool", help="the image's exposed ports, on free ones"),
    _f("--userns", help="host (the default) or keep-id (rootless: your uid inside)"),
    _f("--device", kind="many",
       help="a host device /dev/HOST[:/dev/CONTAINER][:rwm], or a CDI device "
            "vendor.com/class=name (minirun cdi list)"),
    _f("--gpus", help="NVIDIA GPUs: all, a number, or device=0,1 (indexes or GPU-UUIDs)"),
    _f("--runtime", help="an OCI runtime to hand the bundle to (runc, crun, a path)"),
    _f("--pull", default="missing", choices=("always", "missing", "never")),
    _f("--stop-signal", help="the signal stop sends (default: the image's, else SIGTERM)"),
    _f("--stop-timeout", help="seconds stop waits before SIGKILL (default 10)"),
    _f("--add-host", kind="many", help="HOST:IP, a line of /etc/hosts"),
    _f("--sysctl", kind="many", help="a namespaced kernel parameter, NAME=VALUE"),
    _f("--shm-size", help="the size of /dev/shm (default 64m)"),
    _f("--ulimit", kind="many", help="TYPE=SOFT[:HARD], e.g. nofile=1024:4096"),
    _f("--group-add", kind="many", help="a supplementary group, by name or gid"),
    _f("--expose", kind="many", help="PORT[/PROTO] to expose (-P publishes it)"),
    _f("--platform", help="OS/ARCH: only this host's runs here"),
    _f("--read-only-tmpfs", default="true", choices=("true", "false"),
       help="with --read-only, tmpfs on /tmp, /var/tmp and /run (default true)"),
    _f("--log-driver", default="k8s-file", choices=("k8s-file", "none", "passthrough"),
       help="k8s-file (the log, for `logs`), none, or passthrough (our own stdio)"),
    _f("--cidfile", help="write the container's id to this file (which must not exist)"),
    _f("--replace", kind="bool", help="remove a container of the same --name first"),
    _f("--health-cmd", help="a check run in the container: a shell command, or a JSON array"),
    _f("--health-interval", help="between checks (default 30s; disable: none)"),
    _f("--health-retries", help="failures in a row that make it unhealthy (default 3)"),
    _f("--health-start-period", help="failures in this first while do not count (default 0s)"),
    _f("--health-timeout", help="a check running longer fails (default 30s)"),
    _f("--no-healthcheck", kind="bool", help="none, not even the image's"),
    _f("--secret", kind="many", help="NAME[,type=mount|env][,target=T][,uid=U][,gid=G]"
                                     "[,mode=M]: a secret (minirun secret create)"),
    _f("--restart", help="no, on-failure[:N], always or unless-stopped: started again by "
                         "its monitor when it ends (run -d, start)"),
    _f("--pod", help="join a pod (minirun pod ls), or new:NAME to make one: the pod's "
                     "network, IPC and hostname (and PID, if it shares it)"),
    _f("--lazy", kind="bool", help="start before the image is downloaded: indexed layers are "
                                   "read from the registry as they are used (minirun lazy "
                                   "index; MINIRUN_LAZY=1 makes it the default)"),
]
# resource limits (linux.resources), as podman spells them: for create, run and update
LIMIT_FLAGS = [
    _f("-m", "--memory", help="memory limit (bytes, or 512k, 64m, 2g)"),
    _f("--memory-reservation"), _f("--memory-swap", help="memory+swap limit; -1: unlimited"),
    _f("--cpus", help="CPUs' worth of time (0.5: half a CPU)"),
    _f("-c", "--cpu-shares"), _f("--cpu-quota"), _f("--cpu-period"),
    _f("--cpuset-cpus"), _f("--cpuset-mems"), _f("--pids-limit"), _f("--blkio-weight"),
    _f("--device-read-bps", kind="many", help="DEVICE:RATE (e.g. /dev/loop0:1mb)"),
    _f("--device-write-bps", kind="many"), _f("--device-read-iops", kind="many"),
    _f("--device-write-iops", kind="many"), _f("--oom-score-adj"),
]
CREATE_FLAGS += LIMIT_FLAGS + [_f("--dry-run", kind="bool", help="print the config.json and stop")]
RUN_FLAGS = [_f("-d", "--detach", kind="bool"),
             _f("--detach-keys", default="ctrl-p,ctrl-q",
                help="the keys that detach from a terminal (\"\" for none)")] + CREATE_FLAGS
EXEC_FLAGS = [_f("-e", "--env", kind="many"), _f("-u", "--user"), _f("-w", "--workdir"),
              _f("-t", "--tty", kind="bool"), _f("-i", "--interactive", kind="bool"),
              _f("-d", "--detach", kind="bool")]


def defaults(flags: list[Flag]) -> dict:
    return {f.dest: [] if f.kind == "many" else False if f.kind == "bool" else f.default
            for f in flags}


def parse(args: list[str], flags: list[Flag]) -> tuple[dict, list[str]] | None:
    """Flags up to the first operand (the image, the container): (values,
    operands), or None when click should parse and judge the line."""
    by_name = {n: f for f in flags for n in f.names}
    kw = defaults(flags)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            f = by_name.get(name)
            if f is None or (f.kind == "bool" and eq):
                return None
            if f.kind != "bool" and not eq:
                i += 1
                value = args[i] if i < len(args) else None
            if value is None or not _set(kw, f, value):
                return None
        else:                               # -it, -e KEY=V, -eKEY=V
            for j in range(1, len(a)):
                f = by_name.get("-" + a[j])
                if f is None:
                    return None
                if f.kind == "bool":
                    kw[f.dest] = True
                    continue
                value = a[j + 1:]
                if not value:
                    i += 1
                    value = args[i] if i < len(args) else None
                if value is None or not _set(kw, f, value):
                    return None
                break
        i += 1
    return kw, args[i:]


def _set(kw: dict, f: Flag, value) -> bool:
    if f.kind == "bool":
        kw[f.dest] = True
    elif f.choices and value not in f.choices:
        return False
    elif f.kind == "many":
        kw[f.dest].append(value)
    else:
        kw[f.dest] = value
    return True


def engine_errors(fn):
    """MiniRunError -> `Error: message` on stderr and its exit code, as podman;
    any other OSError -> one line naming the call's object, exit 125 (never a
    traceback); a reader of our output that went away -> exit 141, quietly."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from minirun.errors import MiniRunError
        try:
            return fn(*args, **kwargs)
        except MiniRunError as e:
            sys.stdout.flush()
            print(f"Error: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            sys.exit(141)
        except OSError as e:
            sys.stdout.flush()
            where = f": `{e.filename}`" if e.filename else ""
            print(f"Error: {e.strerror or e}{where}", file=sys.stderr)
            sys.exit(125)
        except KeyboardInterrupt:
            sys.exit(130)
    return wrapper


def store(obj: dict):
    """The store named by --root (or the default one), opened once per command."""
    if "store" not in obj:
        from minirun.engine.store import Store
        obj["store"] = Store(obj["root"])
    return obj["store"]


def set_runroot(path: str) -> None:
    """--runroot travels as MINIRUN_RUNROOT: the monitor, the lazy server
    and the network helpers inherit it (runtime.state.default_root reads it),
    absolute since they do not start in our directory."""
    os.environ["MINIRUN_RUNROOT"] = os.path.abspath(path)


def main(argv: list[str]) -> bool:
    """Run `[--root DIR] [--runroot DIR] [--explain] run|exec ...` here and
    exit; return False when click should parse the line."""
    obj = {"root": os.environ.get("MINIRUN_ROOT") or None}
    explain = False
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag, joined, value = argv[i].partition("=")
        if argv[i] == "--explain":
            explain = True
        elif flag in ("--root", "--runroot") and not joined and i + 1 < len(argv):
            i += 1
            obj[flag[2:]] = argv[i]
        elif flag in ("--root", "--runroot") and joined:
            obj[flag[2:]] = value
        else:
            return False
        i += 1
    if obj["root"]:     # the monitor and the lazy server start elsewhere: an absolute path
        obj["root"] = os.path.abspath(obj["root"])
    if obj.get("runroot"):
        set_runroot(obj.pop("runroot"))
    verb, rest = (argv[i], argv[i + 1:]) if i < len(argv) else (None, [])
    flags = {"run": RUN_FLAGS, "exec": EXEC_FLAGS}.get(verb)
    parsed = parse(rest, flags) if flags else None
    if parsed is None or not parsed[1] or (verb == "exec" and len(parsed[1]) < 2):
        return False
    kw, operands = parsed
    if explain:
        from minirun import explain as ex
        ex.enable()
        ex.set_actor("cli", "the minirun command: image, container record, bundle")
    code = 0
    try:
        if verb == "run":
            kw["image"], kw["command"] = operands[0], tuple(operands[1:])
            run(obj, **kw)
        else:
            exec_(obj, name=operands[0], command=tuple(operands[1:]), **kw)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    # Everything is on disk (SQLite commits as it goes): skip the interpreter's
    # orderly teardown, several milliseconds on every run, as minirun-oci does.
    if "store" in obj:
        obj["store"].db.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- what the verbs do ------------------------------------------------------------

def create(obj, kw) -> str:
    """create/run: the spec from the flags (checked before anything is
    pulled or made), the image, then the container; --dry-run prints the
    config that create would write, and stops."""
    from minirun.engine.containers import spec as specs
    made_pod = None
    if kw.get("pod"):                   # the pod's words for the spec (engine/pods)
        made_pod, kw = _pod(obj, kw)
    try:
        return _create(obj, kw, specs)
    except BaseException:
        if made_pod:                    # --pod new:NAME, made for a container not made
            from minirun.engine.pods import lifecycle as pods
            pods.remove(store(obj), made_pod, force=True)
        raise


def _pod(obj, kw) -> tuple[str | None, dict]:
    """--pod NAME (or new:NAME, made here first): (the pod made here, or
    None; the flags with the pod's words in place of its name)."""
    from minirun.engine.pods import create as pod_create, records as pods
    name, made = kw["pod"], None
    if name.startswith("new:"):
        made = name = pod_create.create(store(obj), name=name[4:])
    try:
        return made, dict(kw, pod=pods.joining(store(obj), name))
    except BaseException:
        if made:
            from minirun.engine.pods import lifecycle
            lifecycle.remove(store(obj), made, force=True)
        raise


def _create(obj, kw, specs) -> str:
    spec = specs.make(kw["image"], kw["command"],
                      **{k: v for k, v in kw.items() if k in specs.OPTIONS})
    from minirun.engine.containers.create import ensure_image
    ensure_image(obj["root"], spec.image, kw["pull"], lazy=spec.lazy, store=store(obj))
    if spec.replace and spec.name and not kw["dry_run"]:
        from minirun.engine.containers import lifecycle, records
        try:
            lifecycle.remove(store(obj), spec.name, force=True)
            print(spec.name)            # as podman: the replaced one's name, then the new id
        except records.NoSuchContainer:
            pass
    if kw["dry_run"]:
        import json
        from minirun.engine.containers import bundle, volumes
        from minirun.engine.store import container_dir
        st, cid = store(obj), "0" * 64
        image_id = st.lookup(spec.image)
        made = bundle.build(spec, bundle.image_config(st, image_id),
                            bundle.layer_paths(st, image_id, spec), cid=cid,
                            directory=container_dir(st, cid), volume_dir=volumes.volume_dir(st))
        print(json.dumps(made.config, indent=2))
        sys.exit(0)
    from minirun.engine.containers import create as creating
    from minirun.engine.store import space_errors
    with space_errors(store(obj).root):       # a full disk: one error, nothing left
        return creating.create(store(obj), spec)


@engine_errors
def run(obj, detach: bool, detach_keys: str, **kw) -> None:
    """Run a command in a new container."""
    from minirun.engine.containers import monitor
    if detach_keys != "ctrl-p,ctrl-q":      # checked before anything is made
        from minirun.engine.containers.attach import parse_keys
        parse_keys(detach_keys)
    if detach and kw.get("log_driver") == "passthrough":
        from minirun.engine.containers.monitor import passthrough_detached
        raise passthrough_detached()
    cid = create(obj, kw)
    if detach:
        monitor.start_detached(obj["root"], cid)
        print(cid)
        return
    if kw["tty"] and kw["interactive"] and sys.stdin.isatty():
        # A terminal one can detach from: the container belongs to a monitor
        # of its own, and this command attaches to it, as podman run -it.
        from minirun.engine.containers import attach
        monitor.start_detached(obj["root"], cid, wait_attach=True)
        sys.exit(attach.attach(store(obj), cid, detach_keys, wait=True))
    sys.exit(monitor.run_container(obj["root"], cid, foreground=True,
                                   interactive=kw["interactive"], store=store(obj)))


@engine_errors
def exec_(obj, name: str, command: tuple, env, user, workdir, tty, interactive,
          detach) -> None:
    """Run a process in a running container."""
    from minirun.engine.containers import lifecycle
    sys.exit(lifecycle.exec_in(store(obj), name, list(command), env=list(env),
                               user=user, workdir=workdir, tty=tty, interactive=interactive,
                               detach=detach))
