"""config.json, the OCI runtime-spec, parsed once into immutable records.

The runtime reads a bundle's ``config.json`` here and nowhere else, before it
forks anything.  A field minirun does not implement is refused up front,
naming its JSON path (``linux.namespaces[2].type: 'time' is not supported``),
rather than ignored: a container that silently lacks an isolation it asked
for is worse than one that does not start.

The records are namedtuples (``minirun.records``): immutable and built with
keywords like frozen dataclasses, but cheap to define.  ``dataclasses``
(with the ``inspect`` it imports) cost about 25 ms on every container
start here, more than all of runc's start.

``linux.resources`` is parsed here too, into one record per controller
(:class:`Resources`), so that a malformed limit is refused with the rest of
the config, before anything is made; runtime/resources.py says what each
controller writes on cgroup v1 and v2.  Its fields that no cgroup file is
written for are not applied, as before: ``blockIO.weightDevice`` and
``leafWeight`` are checked, and ``memory.kernel``, ``cpu.realtimeRuntime``,
``network``, ``rdma`` and other unknown fields ignored.

The module is one piece, longer than most, because it is the whole of
config.json: every field's check, and the JSON path its error names, is
found in this one file.

See: https://github.com/opencontainers/runtime-spec (config.md, config-linux.md)
"""
import json
import os

from minirun.errors import ConfigError
from minirun.records import record

SUPPORTED_NAMESPACES = ("user", "mount", "pid", "network", "uts", "ipc", "cgroup")
# Fields minirun refuses because it does not implement them (yet).
UNSUPPORTED = ("linux.intelRdt", "linux.personality", "linux.timeOffsets", "process.ioPriority",
               "process.scheduler", "linux.memoryPolicy", "process.execCPUAffinity")


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@record
class Capabilities:
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
class Rlimit:
    type: str
    soft: int
    hard: int


@record
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = User()
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None


@record
class Mount:
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()


@record
class Namespace:
    type: str
    path: str | None = None


@record
class IDMapping:
    container_id: int
    host_id: int
    size: int


@record
class Device:
    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0


@record
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks:
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@record
class SyscallRule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[tuple[int, str, int, int], ...] = ()


@record
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    syscalls: tuple[SyscallRule, ...] = ()


# --- linux.resources: one record per controller ----------------------------
# In the runtime-spec's own terms; runtime/resources.py says what each one
# writes on cgroup v1 and on v2.  A field left out is None and is not
# written, so that `update` changes only the limits it names.

@record
class Memory:
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None               # memory + swap, as OCI counts it
    swappiness: int | None = None
    disable_oom_killer: bool = False


@record
class Cpu:
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str | None = None               # the cpuset: "0-1,3"
    mems: str | None = None


@record
class Pids:
    limit: int | None = None              # -1 or 0: no limit


@record
class WeightDevice:
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


@record
class Throttle:
    major: int
    minor: int
    rate: int                             # bytes or operations per second


@record
class BlockIO:
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()     # parsed, not applied (as before)
    throttle_read_bps_device: tuple[Throttle, ...] = ()
    throttle_write_bps_device: tuple[Throttle, ...] = ()
    throttle_read_iops_device: tuple[Throttle, ...] = ()
    throttle_write_iops_device: tuple[Throttle, ...] = ()


@record
class HugepageLimit:
    page_size: str                        # "2MB", as the hugetlb files name it
    limit: int


@record
class DeviceRule:
    """One rule of the devices cgroup; its fields are the runtime-spec's, so
    ``_asdict()`` is the rule as config.json spells it (kernel/bpf.py)."""
    allow: bool
    type: str = "a"                       # a (every device), b or c
    major: int | None = None              # None: any
    minor: int | None = None
    access: str = "rwm"


@record
class Resources:
    memory: Memory = Memory()
    cpu: Cpu = Cpu()
    pids: Pids = Pids()
    block_io: BlockIO = BlockIO()
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    devices: tuple[DeviceRule, ...] | None = None    # None: no rules at all
    unified: tuple[tuple[str, str], ...] = ()        # raw cgroup v2 files

    def has_limits(self) -> bool:
        """Whether anything beyond device rules is asked for (device rules
        need no cgroup of the container's own in a user namespace)."""
        return self._replace(devices=None) != Resources()


@record
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = None
    resources: Resources = Resources()
    rootfs_propagation: str | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: tuple[tuple[str, str], ...] = ()
    seccomp: Seccomp | None = None

    def namespace(self, kind: str) -> Namespace | None:
        return next((n for n in self.namespaces if n.type == kind), None)


@record
class Spec:
    oci_version: str
    root_path: str
    root_readonly: bool = False
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks = Hooks()
    linux: Linux = Linux()
    annotations: dict | None = None


# --- parsing ---------------------------------------------------------------

# what SemVer 2.0 allows in a pre-release or build suffix
SEMVER_SUFFIX = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-")


def is_version_1(version: str) -> bool:
    """Whether ``version`` is a runtime-spec version this runtime reads:
    1.MINOR.PATCH in SemVer 2.0 (``1.2.0``, ``1.1.0-rc.1``, ``1.0.2+dev``).
    Checked by hand: compiling the regular expression cost 0.2 ms of
    every start."""
    rest, plus, build = version.partition("+")
    core, dash, pre = rest.partition("-")
    numbers = core.split(".")
    return (len(numbers) == 3 and numbers[0] == "1"
            and all(n.isascii() and n.isdigit() and (n == "0" or n[0] != "0")
                    for n in numbers[1:])
            and all(part and set(part) <= SEMVER_SUFFIX
                    for sep, part in ((dash, pre), (plus, build)) if sep))


# JSON's names for the kinds of value, as messages say them
JSON_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer",
              bool: "a boolean", float: "a number"}


def _get(obj: dict, key: str, kind, where: str, default=None):
    value = obj.get(key, default)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        wanted = " or ".join(JSON_KINDS[k] for k in kinds)     # (a bool is an int in Python)
        raise ConfigError(f"{where}{key}: expected {wanted}, "
                          f"got {JSON_KINDS.get(type(value), type(value).__name__)}")
    return value


def _need(obj: dict, key: str, kind, where: str):
    """A field the runtime-spec requires."""
    if obj.get(key) is None:
        raise ConfigError(f"{where}{key}: missing")
    return _get(obj, key, kind, where)


def _strings(obj: dict, key: str, where: str) -> tuple[str, ...]:
    items = _get(obj, key, list, where, [])
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(f"{where}{key}[{i}]: expected a string")
    return tuple(items)


def _objects(obj: dict, key: str, where: str):
    for i, item in enumerate(_get(obj, key, list, where, [])):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}{key}[{i}]: expected an object")
        yield f"{where}{key}[{i}].", item


def _process(p: dict, w: str) -> Process:
    args = _strings(p, "args", w)
    if not args:
        raise ConfigError(f"{w}args: must name the program to run")
    u = _get(p, "user", dict, w, {})
    user = User(uid=_get(u, "uid", int, w + "user.", 0), gid=_get(u, "gid", int, w + "user.", 0),
                umask=_get(u, "umask", int, w + "user."),
                additional_gids=tuple(_get(u, "additionalGids", list, w + "user.", [])))
    caps = None
    if "capabilities" in p and p["capabilities"] is not None:
        c = _get(p, "capabilities", dict, w)
        from minirun.kernel.capabilities import BY_NAME
        for key in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            for i, name in enumerate(_strings(c, key, w + "capabilities.")):
                if name not in BY_NAME:
                    raise ConfigError(f"{w}capabilities.{key}[{i}]: unknown capability "
                                      f"{name!r} (names look like CAP_NET_ADMIN)")
        caps = Capabilities(**{k: _strings(c, k, w + "capabilities.") for k in
                               ("bounding", "effective", "inheritable", "permitted", "ambient")})
    rlimits = []
    for rw, r in _objects(p, "rlimits", w):
        from minirun.kernel.rlimits import BY_NAME as RL
        kind = _get(r, "type", str, rw, "")
        if kind not in RL:
            raise ConfigError(f"{rw}type: unknown rlimit {kind!r} (names look like "
                              "RLIMIT_NOFILE)")
        if any(seen.type == kind for seen in rlimits):
            raise ConfigError(f"{rw}type: {kind} is listed twice (the runtime-spec allows "
                              "one entry per type)")
        rlimits.append(Rlimit(type=kind, soft=_get(r, "soft", int, rw, 0),
                              hard=_get(r, "hard", int, rw, 0)))
    size = _get(p, "consoleSize", dict, w)
    cwd = _get(p, "cwd", str, w, "/")
    if not cwd.startswith("/"):
        raise ConfigError(f"{w}cwd: must be an absolute path, got {cwd!r}")
    return Process(args=args, env=_strings(p, "env", w), cwd=cwd,
                   terminal=_get(p, "terminal", bool, w, False),
                   console_size=(size.get("height", 0), size.get("width", 0)) if size else None,
                   user=user, capabilities=caps, rlimits=tuple(rlimits),
                   no_new_privileges=_get(p, "noNewPrivileges", bool, w, False),
                   oom_score_adj=_get(p, "oomScoreAdj", int, w))


def _hooks(h: dict) -> Hooks:
    def load(key):
        out = []
        for hw, hook in _objects(h, key, "hooks."):
            path = _get(hook, "path", str, hw, "")
            if not path.startswith("/"):
                raise ConfigError(f"{hw}path: must be an absolute path, got {path!r}")
            out.append(Hook(path=path, args=_strings(hook, "args", hw),
                            env=_strings(hook, "env", hw), timeout=_get(hook, "timeout", int, hw)))
        return tuple(out)
    return Hooks(prestart=load("prestart"), create_runtime=load("createRuntime"),
                 create_container=load("createContainer"), start_container=load("startContainer"),
                 poststart=load("poststart"), poststop=load("poststop"))


def parse_seccomp(s: dict) -> Seccomp:
    """linux.seccomp, checked (also by the engine, for a profile a user names)."""
    from minirun.kernel.seccomp import ACTIONS, OPERATORS
    w = "linux.seccomp."
    default = _get(s, "defaultAction", str, w, "")
    if default not in ACTIONS:
        raise ConfigError(f"{w}defaultAction: unknown action {default!r}")
    rules = []
    for rw, r in _objects(s, "syscalls", w):
        action = _get(r, "action", str, rw, "")
        if action not in ACTIONS:
            raise ConfigError(f"{rw}action: unknown action {action!r}")
        args = []
        for aw, a in _objects(r, "args", rw):
            op = _get(a, "op", str, aw, "")
            if op not in OPERATORS:
                raise ConfigError(f"{aw}op: unknown operator {op!r}")
            args.append((_get(a, "index", int, aw, 0), op, _get(a, "value", int, aw, 0),
                         _get(a, "valueTwo", int, aw, 0)))
        rules.append(SyscallRule(names=_strings(r, "names", rw), action=action,
                                 errno_ret=_get(r, "errnoRet", int, rw), args=tuple(args)))
    return Seccomp(default_action=default, default_errno_ret=_get(s, "defaultErrnoRet", int, w),
                   architectures=_strings(s, "architectures", w), syscalls=tuple(rules))


# --- linux.resources -----------------------------------------------------------

# (JSON key, record field, kind) of the controllers whose fields are plain values
MEMORY = (("limit", "limit", int), ("reservation", "reservation", int), ("swap", "swap", int),
          ("swappiness", "swappiness", int), ("disableOOMKiller", "disable_oom_killer", bool))
CPU = (("shares", "shares", int), ("quota", "quota", int), ("period", "period", int),
       ("cpus", "cpus", str), ("mems", "mems", str))
PIDS = (("limit", "limit", int),)
THROTTLES = (("throttleReadBpsDevice", "throttle_read_bps_device"),
             ("throttleWriteBpsDevice", "throttle_write_bps_device"),
             ("throttleReadIOPSDevice", "throttle_read_iops_device"),
             ("throttleWriteIOPSDevice", "throttle_write_iops_device"))


def _plain(res: dict, key: str, w: str, make, fields: tuple):
    """One controller's object whose fields are plain values, as a record."""
    obj, w = _get(res, key, dict, w, {}), f"{w}{key}."
    if not obj:
        return make()
    return make(**{field: value for name, field, kind in fields
                   if (value := _get(obj, name, kind, w)) is not None})


def _block_io(res: dict, w: str) -> BlockIO:
    blk, w = _get(res, "blockIO", dict, w, {}), w + "blockIO."
    if not blk:
        return BlockIO()
    weights = tuple(WeightDevice(major=_need(d, "major", int, dw), minor=_need(d, "minor", int, dw),
                                 weight=_get(d, "weight", int, dw),
                                 leaf_weight=_get(d, "leafWeight", int, dw))
                    for dw, d in _objects(blk, "weightDevice", w))
    throttles = {field: tuple(Throttle(major=_need(d, "major", int, dw),
                                       minor=_need(d, "minor", int, dw),
                                       rate=_need(d, "rate", int, dw))
                              for dw, d in _objects(blk, key, w))
                 for key, field in THROTTLES}
    return BlockIO(weight=_get(blk, "weight", int, w), leaf_weight=_get(blk, "leafWeight", int, w),
                   weight_device=weights, **throttles)


def _hugepage_limits(res: dict, w: str) -> tuple[HugepageLimit, ...]:
    limits = []
    for hw, h in _objects(res, "hugepageLimits", w):
        size = _need(h, "pageSize", str, hw)     # it names a file: hugetlb.2MB.max
        if not (size.isascii() and size[:-2].isdigit() and size[:1] != "0"
                and size[-2:] in ("KB", "MB", "GB")):
            raise ConfigError(f"{hw}pageSize: {size!r} is not a page size such as \"2MB\"")
        limits.append(HugepageLimit(page_size=size, limit=_need(h, "limit", int, hw)))
    return tuple(limits)


def _device_rules(res: dict, w: str) -> tuple[DeviceRule, ...] | None:
    if res.get("devices") is None:
        return None
    rules = []
    for dw, d in _objects(res, "devices", w):
        kind = _get(d, "type", str, dw, "a")
        if kind not in ("a", "b", "c"):
            raise ConfigError(f"{dw}type: {kind!r} is not a type a device rule names "
                              "(a for every device, b or c)")
        access = _get(d, "access", str, dw) or "rwm"
        if set(access) - set("rwm"):
            raise ConfigError(f"{dw}access: {access!r}: name r (read), w (write) and "
                              "m (mknod), such as \"rwm\"")
        rules.append(DeviceRule(allow=_get(d, "allow", bool, dw, False), type=kind,
                                major=_get(d, "major", int, dw), minor=_get(d, "minor", int, dw),
                                access=access))
    return tuple(rules)


def _unified(res: dict, w: str) -> tuple[tuple[str, str], ...]:
    files = []
    for key in _get(res, "unified", dict, w, {}):
        if "/" in key or key.startswith(".") or "." not in key:
            raise ConfigError(f"{w}unified: `{key}` is not a cgroup file name "
                              "(such as memory.high)")
        files.append((key, str(_need(res["unified"], key, (str, int), f"{w}unified."))))
    return tuple(files)


def parse_resources(res: dict, w: str = "linux.resources.") -> Resources:
    """linux.resources, checked (also the resources `update` is given)."""
    if not isinstance(res, dict):
        raise ConfigError(f"{w[:-1]}: expected an object, got "
                          f"{JSON_KINDS.get(type(res), type(res).__name__)}")
    return Resources(memory=_plain(res, "memory", w, Memory, MEMORY),
                     cpu=_plain(res, "cpu", w, Cpu, CPU),
                     pids=_plain(res, "pids", w, Pids, PIDS), block_io=_block_io(res, w),
                     hugepage_limits=_hugepage_limits(res, w), devices=_device_rules(res, w),
                     unified=_unified(res, w))


def _mappings(lx: dict, key: str) -> tuple[IDMapping, ...]:
    return tuple(IDMapping(container_id=_get(m, "containerID", int, mw, 0),
                           host_id=_get(m, "hostID", int, mw, 0), size=_get(m, "size", int, mw, 0))
                 for mw, m in _objects(lx, key, "linux."))


def _linux(lx: dict) -> Linux:
    namespaces, seen = [], set()
    for nw, n in _objects(lx, "namespaces", "linux."):
        kind = _get(n, "type", str, nw, "")
        if kind not in SUPPORTED_NAMESPACES:
            raise ConfigError(f"{nw}type: {kind!r} is not supported "
                              f"(supported: {', '.join(SUPPORTED_NAMESPACES)})")
        if kind in seen:
            raise ConfigError(f"{nw}type: namespace {kind!r} is listed twice")
        seen.add(kind)
        namespaces.append(Namespace(type=kind, path=_get(n, "path", str, nw)))
    devices = []
    for dw, d in _objects(lx, "devices", "linux."):
        kind = _get(d, "type", str, dw, "")
        if kind not in ("c", "b", "u", "p"):
            raise ConfigError(f"{dw}type: {kind!r} is not a device type (c, b, u or p)")
        devices.append(Device(path=_get(d, "path", str, dw, ""), type=kind,
                              major=_get(d, "major", int, dw, 0),
                              minor=_get(d, "minor", int, dw, 0),
                              file_mode=_get(d, "fileMode", int, dw, 0o666),
                              uid=_get(d, "uid", int, dw, 0), gid=_get(d, "gid", int, dw, 0)))
    sysctl = _get(lx, "sysctl", dict, "linux.", {})
    seccomp = _get(lx, "seccomp", dict, "linux.")
    prop = _get(lx, "rootfsPropagation", str, "linux.")
    from minirun.kernel.mounts import PROPAGATION_OPTIONS
    if prop and prop not in PROPAGATION_OPTIONS:
        raise ConfigError(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    return Linux(namespaces=tuple(namespaces), uid_mappings=_mappings(lx, "uidMappings"),
                 gid_mappings=_mappings(lx, "gidMappings"), devices=tuple(devices),
                 cgroups_path=_get(lx, "cgroupsPath", str, "linux."),
                 resources=parse_resources(_get(lx, "resources", dict, "linux.", {})),
                 rootfs_propagation=prop,
                 masked_paths=_strings(lx, "maskedPaths", "linux."),
                 readonly_paths=_strings(lx, "readonlyPaths", "linux."),
                 sysctl=tuple((str(k), str(v)) for k, v in sysctl.items()),
                 seccomp=parse_seccomp(seccomp) if seccomp else None)


def parse(doc: dict, bundle: str) -> Spec:
    """Turn a decoded config.json into a Spec, or raise ConfigError."""
    if not isinstance(doc, dict):
        raise ConfigError("config.json: expected a JSON object at the top")
    for dotted in UNSUPPORTED:
        top, _, sub = dotted.partition(".")
        if isinstance(doc.get(top), dict) and doc[top].get(sub) is not None:
            raise ConfigError(f"{dotted}: is not supported by minirun")
    version = _get(doc, "ociVersion", str, "", "")
    if not is_version_1(version):
        raise ConfigError(f"ociVersion: {version!r} is not a 1.x runtime-spec version "
                          "(SemVer, such as \"1.2.0\")")
    root = _get(doc, "root", dict, "", {})
    root_path = _get(root, "path", str, "root.", "rootfs")
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    if not os.path.isdir(root_path):
        raise ConfigError(f"root.path: `{root_path}` is not a directory: "
                          "create the rootfs or fix the path")
    mounts = []
    for mw, m in _objects(doc, "mounts", ""):
        dest = _get(m, "destination", str, mw, "")
        if not dest.startswith("/"):
            raise ConfigError(f"{mw}destination: must be an absolute path, got {dest!r}")
        mounts.append(Mount(destination=dest, type=_get(m, "type", str, mw),
                            source=_get(m, "source", str, mw), options=_strings(m, "options", mw)))
    linux = _linux(_get(doc, "linux", dict, "", {}))
    if (linux.uid_mappings or linux.gid_mappings) and not linux.namespace("user"):
        raise ConfigError("linux.uidMappings: mappings need a user namespace in linux.namespaces")
    if linux.namespace("user") and not linux.namespace("user").path and not linux.uid_mappings:
        raise ConfigError("linux.uidMappings: a new user namespace needs uid and gid mappings")
    process = _process(_get(doc, "process", dict, ""), "process.") if doc.get("process") else None
    return Spec(oci_version=version, root_path=root_path,
                root_readonly=_get(root, "readonly", bool, "root.", False), process=process,
                hostname=_get(doc, "hostname", str, ""),
                domainname=_get(doc, "domainname", str, ""),
                mounts=tuple(mounts), hooks=_hooks(_get(doc, "hooks", dict, "", {})), linux=linux,
                annotations=_get(doc, "annotations", dict, "", {}))


def load(bundle: str) -> Spec:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"`{path}` does not exist: a bundle needs a config.json "
                          "(`minirun-oci spec` writes a default one)") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"`{path}` is not valid JSON: {e}") from None
    return parse(doc, os.path.abspath(bundle))


def process_from_json(doc: dict) -> Process:
    """A process.json for ``exec --process``."""
    if not isinstance(doc, dict):
        raise ConfigError("process.json: expected a JSON object")
    return _process(doc, "process.")


def load_hooks(state_dir: str) -> Hooks:
    """Only the hooks of the config.json copied at create (start, delete)."""
    with open(os.path.join(state_dir, "config.json")) as f:
        return _hooks(_get(json.load(f), "hooks", dict, "", {}))


def load_saved(state_dir: str, bundle: str) -> Spec:
    """The config.json copied at create, read against the original bundle."""
    with open(os.path.join(state_dir, "config.json")) as f:
        return parse(json.load(f), bundle)
