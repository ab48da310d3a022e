"""A container's spec: everything a container is made from, in one frozen
record, checked in one place.

The CLI builds it from `run`/`create` flags (the fast parser and click
alike), and the Python API from keyword arguments; both call :func:`make`
with the same words (the flags' names: ``memory``, ``volume``,
``security_opt``), so both get the same checks and the same messages.
The bundle builder turns a spec into config.json without side effects
(bundle.py); create makes what it needs (create.py).

    make("busybox", ["sh"], memory="64m", volume=["data:/data"], network="none")
      -> ContainerSpec(image="busybox", command=("sh",), resources={"memory":
         {"limit": 67108864}}, volumes=("data:/data",), network="none", ...)

A spec is stored as the container's record's options (``_asdict``), so
every later command reads the same words.
"""
import os

from minirun.errors import MiniRunError
from minirun.records import record


@record
class ContainerSpec:
    image: str
    command: tuple = ()             # () : the image's Cmd
    entrypoint: str | None = None   # None: the image's; "": none
    name: str | None = None
    env: tuple = ()                 # KEY=VALUE, or KEY (taken from our environment)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tmpfs: tuple = ()
    volumes: tuple = ()             # -v specs, checked
    mounts: tuple = ()              # --mount specs
    init: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple = ()
    cap_drop: tuple = ()
    seccomp: str = "default"        # "default", "unconfined" or a profile's path
    no_new_privileges: bool = False
    userns: str = "host"            # or "keep-id"
    labels: dict = {}
    annotations: dict = {}
    tty: bool = False
    interactive: bool = False
    rm: bool = False
    runtime: str | None = None      # another OCI runtime's path
    network: str = ""               # a mode or a network's name
    publish: tuple = ()
    publish_all: bool = False
    aliases: tuple = ()
    dns: tuple = ()
    bandwidth: int = 0              # bytes/s each way, on a bridge network
    resources: dict = {}            # linux.resources
    oom_score_adj: int | None = None
    lazy: bool = False
    devices: tuple = ()             # --device: host nodes and CDI names, checked
    gpus: tuple = ()                # --gpus: CDI names, or ("count", N)
    stop_signal: str | None = None  # "SIGINT"; None: the image's, else SIGTERM
    stop_timeout: int | None = None  # seconds; None: 10
    add_host: tuple = ()            # (host, address)
    sysctl: dict = {}
    shm_size: int | None = None     # bytes of /dev/shm
    ulimit: tuple = ()              # (RLIMIT_NAME, soft, hard)
    group_add: tuple = ()           # names or gids
    expose: tuple = ()              # "8080/tcp"
    platform: str | None = None     # this host's, checked
    read_only_tmpfs: bool = True    # with read_only: tmpfs on /tmp, /var/tmp, /run
    log_driver: str = "k8s-file"    # or "none", "passthrough"
    cidfile: str | None = None      # the id written there once made
    replace: bool = False           # a container of the same name removed first
    restart: str = "no"             # the policy: no, on-failure, always, unless-stopped
    restart_retries: int = 0        # on-failure's most restarts (0: no limit)
    healthcheck: dict | None = None  # an image's Healthcheck; None: the image's own
    secrets: tuple = ()             # --secret, parsed (secrets.parse)
    pod: str | None = None          # --pod: the pod's id (engine/pods), members and infra
    infra: bool = False             # the pod's infra container: it holds the namespaces
    joins: dict = {}                # namespace type -> the container whose one it joins

    _keywords_only = True       # forty fields in a row are read by name


# The words make() takes, and what each is when not given: the flags of
# `run`/`create` as podman spells them (cli/hot.py's table has the same).
OPTIONS = {
    "name": None, "env": (), "env_file": (), "tmpfs": (), "label": (), "annotation": (),
    "workdir": None, "user": None, "hostname": None, "entrypoint": None,
    "tty": False, "interactive": False, "rm": False, "read_only": False, "init": False,
    "privileged": False, "cap_add": (), "cap_drop": (), "volume": (), "mount": (),
    "network": "private", "security_opt": (), "network_alias": (), "dns": (),
    "network_bandwidth": None, "publish": (), "publish_all": False, "userns": None,
    "runtime": None, "lazy": False, "device": (), "gpus": None,
    "memory": None, "memory_reservation": None, "memory_swap": None, "cpus": None,
    "cpu_shares": None, "cpu_quota": None, "cpu_period": None, "cpuset_cpus": None,
    "cpuset_mems": None, "pids_limit": None, "blkio_weight": None, "device_read_bps": (),
    "device_write_bps": (), "device_read_iops": (), "device_write_iops": (),
    "oom_score_adj": None,
    "stop_signal": None, "stop_timeout": None, "add_host": (), "sysctl": (), "shm_size": None,
    "ulimit": (), "group_add": (), "expose": (), "platform": None, "read_only_tmpfs": "true",
    "log_driver": "k8s-file", "cidfile": None, "replace": False, "restart": None,
    "health_cmd": None, "health_interval": None, "health_retries": None,
    "health_start_period": None, "health_timeout": None, "no_healthcheck": False,
    "secret": (),
    "pod": None,
}


def make(image: str, command=(), **options) -> ContainerSpec:
    """The spec for ``image`` running ``command``, from the words of
    :data:`OPTIONS`; a word it does not know, or a value it cannot use, is
    one :class:`MiniRunError` naming the flag.  Nothing is made or pulled."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise MiniRunError(f"unknown container option(s) {', '.join(unknown)}: the options "
                           "are the flags of `minirun run`, with _ for -")
    kw = {**OPTIONS, **options}
    for word, default in OPTIONS.items():     # (click gives None for a flag not given)
        if isinstance(kw[word], dict) and word != "pod":   # the API's sysctl={...}, label={...}
            kw[word] = tuple(f"{k}={v}" for k, v in kw[word].items())
        if isinstance(default, bool):
            kw[word] = bool(kw[word])
        elif isinstance(default, tuple):
            kw[word] = tuple(kw[word] or ())
    from minirun.engine.containers import tuning
    from minirun.engine.containers.limits import number, resources
    from minirun.engine.network.modes import check_mode, default_mode
    pod = _pod(kw)          # a pod's member: the infra's network, hostname, namespaces
    network = pod.pop("network", None) or (
        default_mode() if kw["network"] == "private" else check_mode(kw["network"]))
    kw["network"] = network
    seccomp, nnp = _security(kw["security_opt"])
    return ContainerSpec(
        image=image, command=tuple(command), entrypoint=kw["entrypoint"],
        name=_name(kw["name"]), env=tuple(_env_files(kw["env_file"])) + tuple(kw["env"]),
        workdir=kw["workdir"], user=kw["user"], hostname=pod.pop("hostname", kw["hostname"]),
        tmpfs=tuple(kw["tmpfs"]), volumes=_volumes(kw["volume"]), mounts=tuple(kw["mount"]),
        init=kw["init"], privileged=kw["privileged"], read_only=kw["read_only"],
        cap_add=tuple(kw["cap_add"]), cap_drop=tuple(kw["cap_drop"]),
        seccomp=seccomp, no_new_privileges=nnp, userns=_userns(kw["userns"]),
        labels=_pairs(kw["label"]), annotations=_pairs(kw["annotation"]),
        tty=kw["tty"], interactive=kw["interactive"], rm=kw["rm"],
        runtime=_runtime(kw["runtime"]), network=network, publish=tuple(kw["publish"]),
        publish_all=kw["publish_all"], aliases=tuple(kw["network_alias"]),
        dns=_dns(kw["dns"]), bandwidth=_bandwidth(kw["network_bandwidth"], network),
        resources=resources(kw), oom_score_adj=number(kw, "oom_score_adj"),
        lazy=bool(kw["lazy"]) or os.environ.get("MINIRUN_LAZY") == "1",
        devices=_devices(kw["device"]), gpus=_gpus(kw["gpus"]),
        log_driver=_log_driver(kw["log_driver"]), cidfile=kw["cidfile"] or None,
        replace=kw["replace"], healthcheck=tuning.healthcheck(kw), secrets=_secrets(kw),
        **pod, **_restart(kw),
        **tuning.check(kw))


# What a pod's member may not set itself: the infra's namespaces decide it
# (podman's words, and its exit code 125).
_POD_REFUSED = {
    "net": (("publish", "publish_all", "expose"), "published or exposed ports must be defined "
            "when the pod is created: network cannot be configured when it is shared with a pod"),
    "uts": (("hostname",), "cannot set hostname when joining the pod UTS namespace"),
}
_POD_NAMESPACES = {"net": "network", "ipc": "ipc", "uts": "uts", "pid": "pid"}


def _pod(kw: dict) -> dict:
    """--pod: the spec's fields for a member of the pod ``kw["pod"]`` (its
    record's words, as engine/pods/records.joining gives them: ``id``,
    ``infra``, ``share``, ``hostname``, ``network``; or ``id`` and ``role: infra`` for
    the infra container itself, which the pods room makes).  A member joins
    the infra container's shared namespaces (and, rootless, its user
    namespace, which owns them); with --no-infra it shares nothing."""
    pod = kw["pod"]
    if not pod:
        return {}
    if not isinstance(pod, dict):
        raise MiniRunError(f"pod {pod!r}: make() takes the pod's words "
                           "(engine/pods/records.joining), not its name")
    if pod.get("role") == "infra" or not pod.get("infra"):
        return {"pod": pod["id"], "infra": pod.get("role") == "infra"}
    share, infra = tuple(pod.get("share") or ()), pod["infra"]
    for ns, (words, why) in _POD_REFUSED.items():
        if ns in share and any(kw[w] for w in words):
            raise MiniRunError(f"invalid config provided: {why}")
    if "net" in share and kw["network"] not in ("private", None):
        raise MiniRunError("invalid config provided: networks must be defined when the pod "
                           "is created: network cannot be configured when it is shared with "
                           "a pod")
    joins = {_POD_NAMESPACES[ns]: infra for ns in share if ns in _POD_NAMESPACES}
    host = "net" in share and pod.get("network") == "host"
    if host:        # the host's network, used as the infra uses it: not joined through
        del joins["network"]    # the infra (a plain user's infra's user namespace does not
        # own the host's network namespace, so setns(2) to it from there is refused)
    if joins and os.geteuid() != 0:       # the user namespace that owns the pod's others
        joins["user"] = infra
        if kw["userns"] not in (None, "host"):
            raise MiniRunError(f"--userns {kw['userns']}: a pod's containers share its infra "
                               "container's user namespace and its id maps")
    out = {"pod": pod["id"], "joins": joins}
    if "net" in share:
        out["network"] = "host" if host else f"container:{infra}"
    if "uts" in share:
        out["hostname"] = pod.get("hostname") or None
    return out


def _secrets(kw: dict) -> tuple:
    if not kw["secret"]:
        return ()
    from minirun.engine.containers import secrets
    return tuple(secrets.parse(text) for text in kw["secret"])


def _restart(kw: dict) -> dict:
    from minirun.engine.containers import restart
    policy, most = restart.parse(kw["restart"], kw["rm"])
    return {"restart": policy, "restart_retries": most}


def _log_driver(name: str) -> str:
    if name not in ("k8s-file", "none", "passthrough"):
        raise MiniRunError(f"--log-driver {name}: k8s-file, none or passthrough")
    return name


def _devices(given) -> tuple:
    if not given:
        return ()
    from minirun.engine.containers import devices
    return tuple(devices.check(d) for d in given)


def _gpus(text: str | None) -> tuple:
    if not text:
        return ()
    from minirun.engine.containers import devices
    return devices.gpus(text)


def _security(options) -> tuple[str, bool]:
    """--security-opt: (seccomp, no_new_privileges)."""
    seccomp, nnp = "default", False
    for so in options:
        if so in ("no-new-privileges", "no-new-privileges=true"):
            nnp = True
        elif so == "seccomp=unconfined":
            seccomp = "unconfined"
        elif so.startswith("seccomp="):
            seccomp = os.path.abspath(so[len("seccomp="):])
            if not os.path.isfile(seccomp):
                raise MiniRunError(f"--security-opt {so}: no such profile file")
        else:
            raise MiniRunError(f"--security-opt {so}: minirun knows no-new-privileges, "
                               "seccomp=unconfined and seccomp=PROFILE.json")
    return seccomp, nnp


def _userns(mode: str | None) -> str:
    mode = mode or "host"
    if mode not in ("host", "keep-id"):
        raise MiniRunError(f"--userns {mode}: use host or keep-id")
    return mode


def _name(name: str | None) -> str | None:
    if name:
        from minirun.engine.store import check_name
        check_name(name, "container")
    return name or None


def _volumes(specs) -> tuple:
    from minirun.engine.containers.volumes import parse_spec
    for spec in specs:
        parse_spec(spec)
    return tuple(specs)


def _pairs(items) -> dict:
    """--label/--annotation KEY=VALUE."""
    for pair in items:
        if "=" not in pair:
            raise MiniRunError(f"`{pair}`: labels and annotations are KEY=VALUE")
    return dict(p.split("=", 1) for p in items)


def _runtime(name: str | None) -> str | None:
    if not name:
        return None
    from minirun.engine.containers import external
    return external.resolve(name)


def _env_files(paths) -> list[str]:
    """The KEY=VALUE lines of each --env-file (blank lines and # comments skipped)."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise MiniRunError(f"--env-file {path}: {e.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise MiniRunError(f"--env-file {path}: line {line} is not UTF-8 text") from None
        out += [line.strip() for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    return out


def _dns(servers) -> tuple:
    if servers:
        import ipaddress
        for server in servers:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise MiniRunError(f"--dns {server}: not an IP address") from None
    return tuple(servers)


def _bandwidth(text: str | None, network: str) -> int:
    if not text:
        return 0
    from minirun.engine.network.modes import NetworkError, bridged, parse_rate
    if not bridged(network):
        raise NetworkError("--network-bandwidth: shaping is done on a bridge network's veth "
                           "(--network bridge or a named network)")
    return parse_rate(text)
