"""Edits applied to a config.json, as the reference library's
``ContainerEdits.Apply`` applies them.

``merge`` joins edits in order (a later intelRdt replaces an earlier one);
``apply(config, edits)`` changes a config dict the caller owns:

- env: each ``KEY=VALUE`` appended to process.env, as podman 4.3 (the
  oracle here) does; the reference library of today replaces a variable
  of the same name instead;
- device nodes: type, major, minor and file mode filled from the host file
  (``hostPath``, else ``path``), lstat-ed; each replaces any device at the
  same container path in linux.devices, and a block or character node gets
  a linux.resources.devices allow rule with its permissions (``rwm`` when
  unset, none for ``none``).  uid and gid default to process.user's when
  those are not 0.  A node whose host file is missing and that the spec
  does not describe itself (type and major) is skipped with a warning: the
  registry has already refused a requested device none of whose own nodes
  exist (registry.py), so what is skipped here is an optional extra;
- netDevices: linux.netDevices[host interface] = {name};
- mounts: each replaces any mount at the same destination; then all mounts
  are sorted, stably, by the depth of their destination, so a mount on
  ``/a`` comes before one on ``/a/b``.  No ``idmap`` option is added for a
  user namespace (the reference adds one today; podman 4.3 does not, and
  minirun's rootless bind mounts need none);
- hooks: appended to hooks[hookName];
- intelRdt: linux.intelRdt replaced (minirun's runtime refuses that field
  at create, naming it: it is never dropped silently);
- additionalGids: appended to process.user.additionalGids once each, 0
  skipped.

See: pkg/cdi/container-edits.go in the reference library; the OCI runtime
spec's config.md and config-linux.md for the fields written.
"""
import os
import posixpath
import stat
import sys

from minirun.engine.cdi.names import CDIError
from minirun.engine.cdi.spec import DeviceNode, Edits

_TYPES = {stat.S_IFBLK: "b", stat.S_IFCHR: "c", stat.S_IFIFO: "p"}


def merge(parts) -> Edits:
    """Edits of every part, in order."""
    out = {name: [] for name in ("env", "device_nodes", "net_devices", "hooks",
                                 "mounts", "additional_gids")}
    rdt = None
    for e in parts:
        for name, items in out.items():
            items.extend(getattr(e, name))
        rdt = e.intel_rdt if e.intel_rdt is not None else rdt
    return Edits(intel_rdt=rdt, **{name: tuple(v) for name, v in out.items()})


def host_info(node: DeviceNode) -> tuple[str, int, int, int] | None:
    """(type, major, minor, mode) of the node's host file; None when it is
    missing; CDIError when it is there but no device node."""
    path = node.host_path or node.path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CDIError(f"CDI device node {path}: {e.strerror}") from None
    kind = _TYPES.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        raise CDIError(f"CDI device node {path} is not a device node")
    return kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)


def described(node: DeviceNode) -> bool:
    """Whether the spec gives enough to make the node without the host file."""
    return node.type != "" and (node.major != 0 or node.type == "p")


def filled(node: DeviceNode) -> DeviceNode | None:
    """The node with what the host file says filled in; None when the host
    file is missing and the spec does not describe the node itself."""
    info = host_info(node)
    if info is None:
        return node if described(node) else None
    kind, major, minor, mode = info
    if node.file_mode is None:
        node = node._replace(file_mode=mode)
    if described(node):
        return node
    if node.type and node.type != kind:
        raise CDIError(f"CDI device node {node.path}: the spec says type "
                       f"{node.type!r}, the host file {node.host_path or node.path} is {kind!r}")
    node = node._replace(type=kind)
    if kind != "p" and node.major == 0:
        node = node._replace(major=major, minor=minor)
    return node


def _device_entry(node: DeviceNode, user: dict) -> dict:
    entry = {"path": node.path, "type": node.type, "major": node.major, "minor": node.minor}
    if node.file_mode is not None:
        entry["fileMode"] = node.file_mode
    uid = node.uid if node.uid is not None else (user.get("uid") or None)
    gid = node.gid if node.gid is not None else (user.get("gid") or None)
    entry.update({k: v for k, v in (("uid", uid), ("gid", gid)) if v is not None})
    return entry


def _add_node(config: dict, node: DeviceNode) -> None:
    """Add a filled node to linux.devices, with its device cgroup rule."""
    user = config.get("process", {}).get("user", {})
    linux = config.setdefault("linux", {})
    devices = [d for d in linux.get("devices") or [] if d.get("path") != node.path]
    linux["devices"] = devices + [_device_entry(node, user)]
    if node.type in ("b", "c"):
        access = {"": "rwm", "none": ""}.get(node.permissions, node.permissions)
        rule = {"allow": True, "type": node.type, "major": node.major, "minor": node.minor}
        if access:
            rule["access"] = access
        rules = linux.setdefault("resources", {}).setdefault("devices", [])
        rules.append(rule)


def _depth(destination: str) -> int:
    clean = posixpath.normpath(destination)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    return clean.count("/")


def _add_mounts(config: dict, mounts) -> None:
    have = config.get("mounts") or []
    for m in mounts:
        have = [x for x in have if x.get("destination") != m.container_path]
        entry = {"destination": m.container_path, "source": m.host_path}
        if m.type:
            entry["type"] = m.type
        if m.options:
            entry["options"] = list(m.options)
        have.append(entry)
    config["mounts"] = sorted(have, key=lambda x: _depth(x.get("destination", "")))


def _add_hook(config: dict, hook) -> None:
    entry = {"path": hook.path}
    if hook.args:
        entry["args"] = list(hook.args)
    if hook.env:
        entry["env"] = list(hook.env)
    if hook.timeout is not None:
        entry["timeout"] = hook.timeout
    hooks = config.get("hooks") or {}
    config["hooks"] = hooks
    hooks.setdefault(hook.hook_name, []).append(entry)


def _intel_rdt(rdt) -> dict:
    fields = (("closID", rdt.clos_id), ("l3CacheSchema", rdt.l3_cache_schema),
              ("memBwSchema", rdt.mem_bw_schema))
    entry = {key: value for key, value in fields if value}
    if rdt.schemata is not None:
        entry["schemata"] = list(rdt.schemata)
    if rdt.enable_monitoring:
        entry["enableMonitoring"] = True
    return entry


def _warn(message: str) -> None:
    sys.stderr.write(f"minirun: warning: {message}\n")


def apply(config: dict, edits: Edits, warn=_warn) -> None:
    """Apply ``edits`` to ``config`` (a config.json dict) in place.
    ``warn(message)`` hears of each optional node skipped."""
    process = config.setdefault("process", {})
    if edits.env:
        process["env"] = list(process.get("env") or []) + list(edits.env)
    for node in edits.device_nodes:
        found = filled(node)
        if found is None:
            warn(f"CDI device node {node.host_path or node.path} does not exist "
                 "on this host: skipped")
        else:
            _add_node(config, found)
    for net in edits.net_devices:
        linux = config.setdefault("linux", {})
        linux.setdefault("netDevices", {})[net.host_interface_name] = {"name": net.name}
    if edits.mounts:
        _add_mounts(config, edits.mounts)
    for hook in edits.hooks:
        _add_hook(config, hook)
    if edits.intel_rdt is not None:
        config.setdefault("linux", {})["intelRdt"] = _intel_rdt(edits.intel_rdt)
    gids = [g for g in edits.additional_gids if g != 0]
    if gids:
        user = process.setdefault("user", {"uid": 0, "gid": 0})
        have = list(user.get("additionalGids") or [])
        user["additionalGids"] = have + [g for i, g in enumerate(gids)
                                         if g not in have and g not in gids[:i]]
