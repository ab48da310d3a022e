"""A CDI spec file read into records, and checked.

``load(path)`` reads one file (``.json`` with the json module, anything
else with PyYAML, imported only then: it costs about 20 ms and a container
that asks for no device never pays it) and ``parse(raw, source)`` turns its
dict into a ``Spec``.  Both refuse, with one ``CDIError`` naming the file:

- a field the specification does not define, or a value of the wrong type,
  naming the field's path (``devices[0].containerEdits.mounts[1].hostpath``);
- a cdiVersion outside 0.3.0-1.1.0, or older than a field it uses
  (versions.py names the field and the version it needs);
- a kind, a device name or an edit that breaks the reference library's
  rules (env ``KEY=VALUE``, node types ``b c u p``, cgroup permissions of
  ``rwm`` or ``none``, the six OCI hook names, no empty path);
- a spec without devices, a device with no edits, a name defined twice.

The records keep the specification's meaning with Python's names
(``host_path`` for ``hostPath``); an absent number is 0 and an absent
optional one None, as the reference library reads them.

See: the CDI specification (SPEC.md), specs-go/config.go in the reference.
"""
import json

from minirun.engine.cdi import names, versions
from minirun.engine.cdi.names import CDIError
from minirun.records import record

HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")
NODE_TYPES = ("", "b", "c", "u", "p")


@record
class DeviceNode:
    path: str
    host_path: str = ""
    type: str = ""
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    permissions: str = ""
    uid: int | None = None
    gid: int | None = None


@record
class Mount:
    host_path: str
    container_path: str
    options: tuple = ()
    type: str = ""


@record
class Hook:
    hook_name: str
    path: str
    args: tuple = ()
    env: tuple = ()
    timeout: int | None = None


@record
class IntelRdt:
    clos_id: str = ""
    l3_cache_schema: str = ""
    mem_bw_schema: str = ""
    schemata: tuple | None = None
    enable_monitoring: bool = False


@record
class NetDevice:
    host_interface_name: str
    name: str


@record
class Edits:
    """What one device, or a whole spec, adds to a container."""
    env: tuple = ()
    device_nodes: tuple = ()
    net_devices: tuple = ()
    hooks: tuple = ()
    mounts: tuple = ()
    intel_rdt: IntelRdt | None = None
    additional_gids: tuple = ()

    def empty(self) -> bool:
        return self == Edits()


@record
class Device:
    name: str
    edits: Edits = Edits()
    annotations: tuple = ()


@record
class Spec:
    """One spec: ``source`` is its file (or a name for one made in memory)."""
    version: str
    kind: str
    vendor: str
    cls: str
    devices: tuple
    edits: Edits
    annotations: tuple = ()
    source: str = ""

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)


class _Bad(Exception):
    """A field is wrong: (its path, what is wrong); load() adds the file."""


# --- reading values of a declared type ------------------------------------

def _typed(kind, label):
    def read(value, where):
        if isinstance(value, bool) and kind is int or not isinstance(value, kind):
            raise _Bad(where, f"should be {label}, not {type(value).__name__} {value!r}")
        return value
    return read


STR, INT, BOOL = _typed(str, "a string"), _typed(int, "an integer"), _typed(bool, "true or false")


def _uint(value, where):
    if INT(value, where) < 0:
        raise _Bad(where, f"should not be negative: {value}")
    return value


def _list(item):
    def read(value, where):
        value = [] if value is None else value
        if not isinstance(value, list):
            raise _Bad(where, f"should be a list, not {type(value).__name__}")
        return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))
    return read


def _strmap(value, where):
    if not isinstance(value, dict):
        raise _Bad(where, "should be a map of strings")
    return tuple((STR(k, where), STR(v, f"{where}.{k}")) for k, v in value.items())


def _object(cls, fields: dict, required=()):
    """A reader of a JSON object into ``cls``: ``fields`` maps each JSON key
    to (the record's field, reader); any other key is refused."""
    def read(value, where):
        if not isinstance(value, dict):
            raise _Bad(where, f"should be an object, not {type(value).__name__}")
        for key in value:
            if key not in fields:
                raise _Bad(f"{where}.{key}".lstrip("."), "unknown field (the CDI "
                           f"spec defines: {', '.join(fields)})")
        for key in required:
            if value.get(key) in (None, ""):
                raise _Bad(f"{where}.{key}".lstrip("."), "is required")
        return cls(**{name: reader(value[key], f"{where}.{key}".lstrip("."))
                      for key, (name, reader) in fields.items()
                      if value.get(key) is not None})
    return read


_NODE = _object(DeviceNode, {
    "path": ("path", STR), "hostPath": ("host_path", STR), "type": ("type", STR),
    "major": ("major", INT), "minor": ("minor", INT), "fileMode": ("file_mode", _uint),
    "permissions": ("permissions", STR), "uid": ("uid", _uint), "gid": ("gid", _uint)},
    required=("path",))
_MOUNT = _object(Mount, {
    "hostPath": ("host_path", STR), "containerPath": ("container_path", STR),
    "options": ("options", _list(STR)), "type": ("type", STR)},
    required=("hostPath", "containerPath"))
_HOOK = _object(Hook, {
    "hookName": ("hook_name", STR), "path": ("path", STR), "args": ("args", _list(STR)),
    "env": ("env", _list(STR)), "timeout": ("timeout", INT)}, required=("hookName", "path"))
_RDT = _object(IntelRdt, {
    "closID": ("clos_id", STR), "l3CacheSchema": ("l3_cache_schema", STR),
    "memBwSchema": ("mem_bw_schema", STR), "schemata": ("schemata", _list(STR)),
    "enableMonitoring": ("enable_monitoring", BOOL)})
_NET = _object(NetDevice, {
    "hostInterfaceName": ("host_interface_name", STR), "name": ("name", STR)},
    required=("hostInterfaceName", "name"))
_EDITS = _object(Edits, {
    "env": ("env", _list(STR)), "deviceNodes": ("device_nodes", _list(_NODE)),
    "netDevices": ("net_devices", _list(_NET)), "hooks": ("hooks", _list(_HOOK)),
    "mounts": ("mounts", _list(_MOUNT)), "intelRdt": ("intel_rdt", _RDT),
    "additionalGids": ("additional_gids", _list(_uint))})
_DEVICE = _object(Device, {
    "name": ("name", STR), "annotations": ("annotations", _strmap),
    "containerEdits": ("edits", _EDITS)}, required=("name",))


def _spec(value, where):
    """The top level: Spec needs vendor and class, so it is read by hand."""
    fields = {"cdiVersion": STR, "kind": STR, "annotations": _strmap,
              "devices": _list(_DEVICE), "containerEdits": _EDITS}
    if not isinstance(value, dict):
        raise _Bad("", "a CDI spec is an object with cdiVersion, kind and devices")
    for key in value:
        if key not in fields:
            raise _Bad(key, f"unknown field (the CDI spec defines: {', '.join(fields)})")
    for key in ("cdiVersion", "kind"):
        if value.get(key) in (None, ""):
            raise _Bad(key, "is required")
    got = {key: read(value[key], key) for key, read in fields.items()
           if value.get(key) is not None}
    return got["cdiVersion"], got["kind"], got


# --- the specification's rules --------------------------------------------

def _check_env(env, where):
    for i, var in enumerate(env):
        if "=" not in var or var.startswith("="):
            raise _Bad(f"{where}[{i}]", f"{var!r} is not KEY=VALUE")


def _check_edits(e: Edits, where: str) -> None:
    """The reference library's checks of one set of edits."""
    _check_env(e.env, f"{where}.env")
    for i, n in enumerate(e.device_nodes):
        w = f"{where}.deviceNodes[{i}]"
        if n.type not in NODE_TYPES:
            raise _Bad(f"{w}.type", f"{n.type!r} is not one of b, c, u, p")
        if n.permissions not in ("", "none") and n.permissions.strip("rwm"):
            raise _Bad(f"{w}.permissions", f"{n.permissions!r} is not made of r, w, m "
                       "(or 'none')")
    for i, h in enumerate(e.hooks):
        if h.hook_name not in HOOK_NAMES:
            raise _Bad(f"{where}.hooks[{i}].hookName",
                       f"{h.hook_name!r} is not one of {', '.join(HOOK_NAMES)}")
        _check_env(h.env, f"{where}.hooks[{i}].env")
    if e.intel_rdt is not None:
        c = e.intel_rdt.clos_id
        if c != "/" and (len(c) >= 4096 or c in (".", "..") or "/" in c or "\n" in c):
            raise _Bad(f"{where}.intelRdt.closID", f"{c!r} is not a valid file name")
    for attr in ("host_interface_name", "name"):
        seen = [getattr(d, attr) for d in e.net_devices]
        twice = {v for v in seen if seen.count(v) > 1}
        if twice:
            raise _Bad(f"{where}.netDevices", f"{sorted(twice)[0]!r} named twice")


def _check_devices(devices: tuple) -> None:
    seen = set()
    for i, d in enumerate(devices):
        where = f"devices[{i}]"
        try:
            names.check_device_name(d.name)
        except ValueError as e:
            raise _Bad(f"{where}.name", str(e)) from None
        if d.name in seen:
            raise _Bad(f"{where}.name", f"device {d.name!r} is defined twice in this spec")
        seen.add(d.name)
        if d.edits.empty():
            raise _Bad(f"{where}.containerEdits", f"device {d.name!r} has no edits")
        _check_edits(d.edits, f"{where}.containerEdits")
    if not devices:
        raise _Bad("devices", "a spec must define at least one device")


def _build(raw) -> Spec:
    version, kind, got = _spec(raw, "")
    try:
        vendor, cls = names.parse_kind(kind)
    except ValueError as e:
        raise _Bad("kind", str(e)) from None
    spec = Spec(version=version, kind=kind, vendor=vendor, cls=cls,
                devices=got.get("devices", ()), edits=got.get("containerEdits", Edits()),
                annotations=got.get("annotations", ()))
    _check_edits(spec.edits, "containerEdits")
    _check_devices(spec.devices)
    problem = versions.check(spec)
    if problem:
        raise _Bad(*problem)
    return spec


def parse(raw, source: str) -> Spec:
    """A spec's decoded document -> Spec, checked; CDIError names ``source``
    (a file, or what made a spec in memory) and the field."""
    try:
        return _build(raw)._replace(source=source)
    except _Bad as bad:
        where, what = bad.args
        raise CDIError(f"CDI spec `{source}`: {where + ': ' if where else ''}{what}") from None


def decode(text: str, path: str):
    """A spec file's text -> its document (JSON for ``.json``, else YAML)."""
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except ValueError as e:
            raise CDIError(f"CDI spec `{path}`: not valid JSON: {e}") from None
    import yaml     # only here: see the docstring
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
        detail = (f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
                  if mark and problem else " ".join(str(e).split()))
        raise CDIError(f"CDI spec `{path}`: not valid YAML: {detail}") from None


def load(path: str) -> Spec:
    """Read and check one spec file (CDIError naming it when it cannot)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CDIError(f"CDI spec `{path}`: cannot read it: "
                       f"{getattr(e, 'strerror', None) or e}") from None
    return parse(decode(text, path), path)
