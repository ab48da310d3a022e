#!/usr/bin/env python3
"""Level 12: give a container a GPU through CDI, by editing its config.json.

    python3 solution.py edit [--spec-dir DIR] --device vendor/class=name [...] CONFIG

A CDI spec (a JSON file in DIR, /etc/cdi when not given) names devices
(``nvidia.com/gpu=0``) and, for each, the edits that give a container that
device: device nodes, mounts, environment, hooks.  This program reads and
checks the specs, finds each device asked for, and applies the spec's own
edits (once per spec) and the device's to the OCI runtime config CONFIG,
which it writes back.  A runtime (runc, minirun-oci) then makes the
container from it: the GPU is the right files in the right places.

Every error is one line on stderr and exit status 1; CONFIG is then left
as it was.
"""
import argparse
import json
import os
import stat
import sys

# the cdiVersions this program reads (the specification's releases)
VERSIONS = ("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")
# the edits this level applies; a spec using another one is refused, never half-applied
EDITS = ("env", "deviceNodes", "mounts", "hooks")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")
NODE_TYPES = {stat.S_IFCHR: "c", stat.S_IFBLK: "b", stat.S_IFIFO: "p"}


class CDIError(Exception):
    """A spec cannot be read or breaks the rules, or a device cannot be
    given.  The message names the spec file or the device."""


def spec_files(spec_dir: str) -> list[str]:
    """The ``.json`` files in ``spec_dir``, in name order (none if it is missing)."""
    try:
        names = sorted(os.listdir(spec_dir))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CDIError(f"CDI spec directory `{spec_dir}`: {e.strerror}") from None
    return [os.path.join(spec_dir, n) for n in names if n.endswith(".json")]


def parse_name(name: str) -> tuple[str, str, str]:
    """``vendor/class=name`` -> (vendor, class, name)."""
    kind, eq, device = name.partition("=")
    vendor, slash, cls = kind.partition("/")
    if not (eq and slash and vendor and cls and device) or "/" in cls:
        raise CDIError(f"{name!r} is not a CDI device name: "
                       "vendor/class=name, e.g. nvidia.com/gpu=0")
    return vendor, cls, device


def _check_edits(edits, where: str) -> None:
    """The shape of one containerEdits object (CDIError naming ``where``)."""
    if not isinstance(edits, dict):
        raise CDIError(f"{where} should be an object")
    for key, items in edits.items():
        if key not in EDITS:
            raise CDIError(f"{where}.{key}: not an edit this program applies "
                           f"(it applies {', '.join(EDITS)})")
        if not isinstance(items, list):
            raise CDIError(f"{where}.{key} should be a list")
    for i, var in enumerate(edits.get("env", [])):
        if not isinstance(var, str) or "=" not in var or var.startswith("="):
            raise CDIError(f"{where}.env[{i}]: {var!r} is not KEY=VALUE")
    required = {"deviceNodes": ("path",), "mounts": ("hostPath", "containerPath"),
                "hooks": ("hookName", "path")}
    for key, fields in required.items():
        for i, item in enumerate(edits.get(key, [])):
            for field in fields:
                if not isinstance(item, dict) or not isinstance(item.get(field), str) \
                        or not item[field]:
                    raise CDIError(f"{where}.{key}[{i}].{field} is required")
            if key == "hooks" and item["hookName"] not in HOOK_NAMES:
                raise CDIError(f"{where}.hooks[{i}].hookName: {item['hookName']!r} is "
                               f"not one of {', '.join(HOOK_NAMES)}")


def load_spec(path: str) -> dict:
    """Read one spec file and check it: valid JSON, a cdiVersion of VERSIONS,
    a kind ``vendor/class``, at least one device, each named and with
    containerEdits, and every containerEdits of the shape _check_edits wants."""
    where = f"CDI spec `{path}`"
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except OSError as e:
        raise CDIError(f"{where}: cannot read it: {e.strerror}") from None
    except ValueError as e:
        raise CDIError(f"{where}: not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise CDIError(f"{where}: a spec is an object with cdiVersion, kind and devices")
    if spec.get("cdiVersion") not in VERSIONS:
        raise CDIError(f"{where}: cdiVersion {spec.get('cdiVersion')!r} is not one this "
                       f"program reads ({VERSIONS[0]} to {VERSIONS[-1]})")
    kind = spec.get("kind")
    try:
        if not isinstance(kind, str) or "=" in kind:
            raise CDIError(kind)
        parse_name(f"{kind}=x")
    except CDIError:
        raise CDIError(f"{where}: kind {kind!r} is not vendor/class "
                       "(e.g. nvidia.com/gpu)") from None
    devices = spec.get("devices")
    if not isinstance(devices, list) or not devices:
        raise CDIError(f"{where}: devices: a spec defines at least one device")
    for i, device in enumerate(devices):
        if not isinstance(device, dict) or not isinstance(device.get("name"), str) \
                or not device["name"]:
            raise CDIError(f"{where}: devices[{i}].name is required")
        if "containerEdits" not in device:
            raise CDIError(f"{where}: devices[{i}].containerEdits is required")
        _check_edits(device["containerEdits"], f"{where}: devices[{i}].containerEdits")
    _check_edits(spec.get("containerEdits", {}), f"{where}: containerEdits")
    return spec


def find_device(specs: list[tuple[str, dict]], name: str) -> tuple[str, dict, dict]:
    """(the spec's path, the spec, the device) for the qualified ``name``,
    among ``specs`` ((path, spec) pairs).  ``all`` is not special here: a
    spec defines a device of that name when it wants one."""
    vendor, cls, device = parse_name(name)
    kind = f"{vendor}/{cls}"
    found = [(path, spec, d) for path, spec in specs if spec["kind"] == kind
             for d in spec["devices"] if d["name"] == device]
    if len(found) > 1:
        raise CDIError(f"CDI device {name} is defined in both `{found[0][0]}` and "
                       f"`{found[1][0]}`: remove one of them")
    if not found:
        known = sorted(d["name"] for _, spec in specs if spec["kind"] == kind
                       for d in spec["devices"])
        if known:
            raise CDIError(f"unknown CDI device {name}: the {kind} devices are "
                           f"{', '.join(known)}")
        raise CDIError(f"unknown CDI device {name}: no CDI spec defines the kind {kind}")
    return found[0]


def device_entry(node: dict) -> dict:
    """The linux.devices entry for a spec's device node.  What the spec
    leaves out (type, major and minor, fileMode) is read from the node on
    the host (``hostPath``, else ``path``), lstat-ed."""
    entry = {"path": node["path"], "type": node.get("type", ""),
             "major": node.get("major", 0), "minor": node.get("minor", 0)}
    for field in ("fileMode", "uid", "gid"):
        if field in node:
            entry[field] = node[field]
    if entry["type"] and (entry["major"] or entry["type"] == "p"):
        return entry                    # the spec says it all: no host file needed
    host = node.get("hostPath") or node["path"]
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        raise CDIError(f"CDI device node {host} does not exist on this host: "
                       "is the device there and its driver loaded?") from None
    except OSError as e:
        raise CDIError(f"CDI device node {host}: {e.strerror}") from None
    kind = NODE_TYPES.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        raise CDIError(f"CDI device node {host} is not a device node")
    if entry["type"] and entry["type"] != kind:
        raise CDIError(f"CDI device node {host}: the spec says type {entry['type']!r}, "
                       f"the host's node is {kind!r}")
    entry.update(type=kind, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev))
    entry.setdefault("fileMode", stat.S_IMODE(st.st_mode))
    return entry


def _depth(destination: str) -> int:
    return os.path.normpath(destination).rstrip("/").count("/")


def apply(config: dict, edits: dict) -> None:
    """Apply one containerEdits object to ``config`` in place."""
    process = config.setdefault("process", {})
    for var in edits.get("env", []):
        # replace a variable of the same name: getenv() returns the first one
        key = var.split("=", 1)[0]
        process["env"] = [v for v in process.get("env") or []
                          if v.split("=", 1)[0] != key] + [var]
    linux = config.setdefault("linux", {})
    for node in edits.get("deviceNodes", []):
        entry = device_entry(node)
        linux["devices"] = [d for d in linux.get("devices") or []
                            if d.get("path") != entry["path"]] + [entry]
        if entry["type"] in ("b", "c"):         # the device cgroup lets it be opened
            rules = linux.setdefault("resources", {}).setdefault("devices", [])
            rules.append({"allow": True, "type": entry["type"], "major": entry["major"],
                          "minor": entry["minor"], "access": node.get("permissions") or "rwm"})
    for m in edits.get("mounts", []):
        entry = {"destination": m["containerPath"], "source": m["hostPath"]}
        entry.update({k: m[k] for k in ("type", "options") if k in m})
        config["mounts"] = [x for x in config.get("mounts") or []
                            if x.get("destination") != entry["destination"]] + [entry]
    if edits.get("mounts"):
        # a parent before its children: /usr before /usr/lib/x.so (the sort is stable)
        config["mounts"].sort(key=lambda x: _depth(x.get("destination", "/")))
    for h in edits.get("hooks", []):
        entry = {k: h[k] for k in ("path", "args", "env", "timeout") if k in h}
        hooks = config.setdefault("hooks", {})
        hooks.setdefault(h["hookName"], []).append(entry)


def edit(spec_dir: str, names: list[str], config_path: str) -> None:
    """Give the container of ``config_path`` the devices ``names``."""
    specs = [(path, load_spec(path)) for path in spec_files(spec_dir)]
    parts, used = [], set()
    for name in dict.fromkeys(names):           # a device asked for twice counts once
        path, spec, device = find_device(specs, name)
        if path not in used:                    # a spec's own edits: once, before its devices'
            used.add(path)
            parts.append(spec.get("containerEdits", {}))
        parts.append(device["containerEdits"])
    config = read_config(config_path)
    for edits in parts:
        apply(config, edits)
    write_config(config_path, config)


def read_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as e:
        raise CDIError(f"cannot read `{path}`: {e.strerror}") from None
    except ValueError as e:
        raise CDIError(f"`{path}` is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise CDIError(f"`{path}` is not an OCI config (a JSON object)")
    return config


def write_config(path: str, config: dict) -> None:
    """Write ``config`` to ``path`` whole or not at all (a file beside, renamed)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gpu.py")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("edit", help="apply CDI devices' edits to a config.json")
    p.add_argument("--spec-dir", default="/etc/cdi", help="where the specs are (/etc/cdi)")
    p.add_argument("--device", action="append", required=True, metavar="vendor/class=name")
    p.add_argument("config", help="the OCI runtime config (a bundle's config.json)")
    opts = parser.parse_args(args)
    try:
        edit(opts.spec_dir, opts.device, opts.config)
    except CDIError as e:
        print(f"gpu: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
