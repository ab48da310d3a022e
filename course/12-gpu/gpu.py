#!/usr/bin/env python3
"""Level 12: give a container a GPU through CDI, by editing its config.json.

    python3 gpu.py edit [--spec-dir DIR] --device vendor/class=name [...] CONFIG

A CDI spec (a JSON file in DIR, /etc/cdi when not given) names devices
(``nvidia.com/gpu=0``) and, for each, the edits that give a container that
device: device nodes, mounts, environment, hooks.  This program reads and
checks the specs, finds each device asked for, and applies the spec's own
edits (once per spec) and the device's to the OCI runtime config CONFIG,
which it writes back.  A runtime (runc, minirun-oci) then makes the
container from it: the GPU is the right files in the right places.

Every error is one line on stderr and exit status 1; CONFIG is then left
as it was.

Fill in the TODOs; `sudo make check LEVEL=12` tells you how far you are.
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
    """``vendor/class=name`` -> (vendor, class, name): ``nvidia.com/gpu=0``
    gives ("nvidia.com", "gpu", "0").  Raise CDIError
    ``'NAME' is not a CDI device name: vendor/class=name, e.g. nvidia.com/gpu=0``
    when a part is missing or empty, or the class holds another ``/``."""
    # TODO(level 12): str.partition("=") then str.partition("/").
    raise NotImplementedError("parse_name")


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
    """Read one spec file and check it, raising CDIError that starts
    ``CDI spec `PATH`: `` and says what is wrong:

    - the file cannot be read (``cannot read it: STRERROR``) or is not JSON
      (``not valid JSON: ...``), or is not a JSON object;
    - ``cdiVersion`` is not one of VERSIONS (quote the value it has);
    - ``kind`` is not a string ``vendor/class`` (``kind 'KIND' is not
      vendor/class``: parse_name(KIND + "=x") can check it);
    - ``devices`` is not a non-empty list; a device has no ``name`` (a
      non-empty string) or no ``containerEdits`` (``devices[I].containerEdits
      is required``);
    - a containerEdits, the spec's own (optional) or a device's, is not of
      the shape _check_edits() wants: call it for each.

    Return the spec (the decoded dict)."""
    # TODO(level 12): json.load; OSError and ValueError become CDIError.
    raise NotImplementedError("load_spec")


def find_device(specs: list[tuple[str, dict]], name: str) -> tuple[str, dict, dict]:
    """(the spec's path, the spec, the device) for the qualified ``name``,
    among ``specs`` ((path, spec) pairs, each checked by load_spec()): the
    device whose ``name`` is NAME in a spec whose ``kind`` is VENDOR/CLASS.
    ``all`` is not special here: a spec defines a device of that name when
    it wants one (NVIDIA's do).  Raise CDIError:

    - ``unknown CDI device NAME: the KIND devices are 0, 1, all`` (the names
      of that kind's devices, sorted, joined by ", ") when it is not one;
    - ``unknown CDI device NAME: no CDI spec defines the kind KIND`` when no
      spec has that kind;
    - ``CDI device NAME is defined in both `A` and `B`: remove one of them``
      when two specs define it."""
    # TODO(level 12): parse_name(), then look through every spec's devices.
    raise NotImplementedError("find_device")


def device_entry(node: dict) -> dict:
    """The linux.devices entry for a spec's device node (an item of
    ``deviceNodes``): ``{"path", "type", "major", "minor"}`` and
    ``fileMode``, ``uid``, ``gid`` where known.  No ``hostPath``: the OCI
    config has none, the runtime makes the node at ``path`` itself.

    - When the spec gives ``type`` and a ``major`` (or type ``p``, a FIFO,
      which has no numbers), take them and need no host file.
    - Otherwise os.lstat() the node on the host (``hostPath``, else
      ``path``), and take from it: the type (NODE_TYPES, by
      stat.S_IFMT(st_mode)), the major and minor (os.major/os.minor of
      st_rdev), and fileMode (stat.S_IMODE(st_mode)) when the spec gives none.
    - Raise CDIError when the host file is missing (``CDI device node HOST
      does not exist on this host: is the device there and its driver
      loaded?``), is no device node, or is of another type than the spec says."""
    # TODO(level 12): os.lstat, stat.S_IFMT, os.major, os.minor, stat.S_IMODE.
    raise NotImplementedError("device_entry")


def _depth(destination: str) -> int:
    return os.path.normpath(destination).rstrip("/").count("/")


def apply(config: dict, edits: dict) -> None:
    """Apply one containerEdits object to ``config`` (a config.json dict) in
    place, as the CDI specification and its reference library do:

    - ``env``: each ``KEY=VALUE`` appended to process.env, first removing a
      variable of the same KEY (getenv() returns the first one it finds);
    - ``deviceNodes``: each node's device_entry() appended to linux.devices,
      replacing one at the same path; for a ``c`` or ``b`` node, a device
      cgroup rule appended to linux.resources.devices: ``{"allow": true,
      "type", "major", "minor", "access"}``, the access being the node's
      ``permissions``, or ``rwm`` when it has none;
    - ``mounts``: each ``{"destination": containerPath, "source": hostPath}``
      with its ``type`` and ``options`` when the spec gives them, appended to
      config's mounts, replacing one at the same destination; then the mounts
      sorted, stably, by _depth() of their destination (a parent first);
    - ``hooks``: each ``{"path", "args", "env", "timeout"}`` (the keys the
      spec gives) appended to hooks[hookName].

    Make any of process, linux, linux.resources, mounts, hooks that is missing."""
    # TODO(level 12): dict.setdefault, list comprehensions, list.sort(key=...).
    raise NotImplementedError("apply")


def edit(spec_dir: str, names: list[str], config_path: str) -> None:
    """Give the container of ``config_path`` the devices ``names``.  Given:
    read it first, it is the whole level in a dozen lines.  Everything that
    can fail does so before write_config(), so a failed edit leaves
    config.json as it was."""
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
