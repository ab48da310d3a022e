"""A CDI spec for this host's NVIDIA driver, as `nvidia-ctk cdi generate`
writes one, from what discover.py found.

The spec (kind ``nvidia.com/gpu``) names each GPU twice, by index ("0")
and by UUID ("GPU-..."), and all of them as "all"; a device's edits give
its node (``/dev/nvidia0``).  The edits every device shares:

- the control nodes that exist (nvidiactl, nvidia-uvm, nvidia-uvm-tools,
  nvidia-modeset);
- the libraries, tools, nvidia-persistenced's socket and the GSP firmware,
  each bound read-only at its own path;
- ``NVIDIA_VISIBLE_DEVICES=void``, so that an image's own copy of NVIDIA's
  legacy hook does not inject devices a second time;
- two hooks, in NVIDIA's exact form (path ``/usr/bin/nvidia-cdi-hook``,
  args ``nvidia-cdi-hook create-symlinks --link TARGET::LINK ...`` and
  ``nvidia-cdi-hook update-ldcache --folder DIR ...``).  minirun's runtime
  does what they ask itself, without the binary; another runtime given the
  spec runs NVIDIA's hook.  The links are each library's soname link
  (``libcuda.so.1 -> libcuda.so.550.54.15``) and the development names
  programs dlopen wrongly (``libcuda.so -> libcuda.so.1``).

A node's ``hostPath`` and a mount's ``hostPath`` are where the file lies
under the driver root; ``path`` and ``containerPath`` are the same path
without the root.  The ``cdiVersion`` is the lowest the spec's features
need (versions.py): device names that start with a digit and nodes with a
hostPath came in 0.5.0.  MIG's capability nodes (/dev/nvidia-caps) are not given: a
whole GPU does not need them.
"""
import os

from minirun.engine.cdi.discover import Driver, host_path
from minirun.errors import MiniRunError

KIND = "nvidia.com/gpu"
HOOK_PATH = "/usr/bin/nvidia-cdi-hook"
MOUNT_OPTIONS = ["ro", "nosuid", "nodev", "bind"]
SOCKET_OPTIONS = ["ro", "nosuid", "nodev", "bind", "noexec"]
# the development names NVIDIA links because programs dlopen them (file stem -> its target)
DEV_LINKS = {"libcuda.so": "libcuda.so.1",
             "libnvidia-opticalflow.so": "libnvidia-opticalflow.so.1"}


class NoDriver(MiniRunError):
    """No NVIDIA driver is loaded under the driver root, so there is no spec
    to write: install the driver (or point MINIRUN_DRIVER_ROOT at one)."""


def spec(driver: Driver, hook_path: str = HOOK_PATH) -> dict:
    """The CDI spec for ``driver`` as a dict; NoDriver when there is none."""
    if not driver.found:
        raise NoDriver(f"no NVIDIA driver found under {driver.root}: neither "
                       f"{host_path(driver.root, '/sys/module/nvidia/version')} nor "
                       f"{host_path(driver.root, '/proc/driver/nvidia/version')} exists; "
                       "install the driver and load its kernel module")
    if not driver.gpus:
        raise NoDriver(f"the NVIDIA driver {driver.version} under {driver.root} shows no GPU "
                       "(no /proc/driver/nvidia/gpus/*/information with a device node)")
    devices = []
    for gpu in driver.gpus:
        for name in (str(gpu.index), gpu.uuid):    # a list each: YAML would alias a shared one
            devices.append({"name": name, "containerEdits": {
                "deviceNodes": [_node(driver.root, gpu.node)]}})
    devices.append({"name": "all", "containerEdits": {
        "deviceNodes": [_node(driver.root, g.node) for g in driver.gpus]}})
    document = {"cdiVersion": "", "kind": KIND, "devices": devices,
                "containerEdits": common_edits(driver, hook_path)}
    document["cdiVersion"] = cdi_version(document)
    return document


def common_edits(driver: Driver, hook_path: str = HOOK_PATH) -> dict:
    """The edits every device of the driver shares."""
    mounts = [_mount(driver.root, p, MOUNT_OPTIONS) for p in
              [lib.path for lib in driver.libraries] + list(driver.binaries)
              + list(driver.firmware)]
    mounts += [_mount(driver.root, p, SOCKET_OPTIONS) for p in driver.sockets]
    return {"env": ["NVIDIA_VISIBLE_DEVICES=void"],
            "deviceNodes": [_node(driver.root, n) for n in driver.nodes],
            "mounts": mounts, "hooks": hooks(driver, hook_path)}


def hooks(driver: Driver, hook_path: str = HOOK_PATH) -> list[dict]:
    """create-symlinks and update-ldcache, as NVIDIA's toolkit writes them."""
    name = os.path.basename(hook_path)
    links = symlinks(driver)
    found = []
    if links:
        args = [name, "create-symlinks"]
        for target, link in links:
            args += ["--link", f"{target}::{link}"]
        found.append({"hookName": "createContainer", "path": hook_path, "args": args})
    folders = list(dict.fromkeys(os.path.dirname(lib.path) for lib in driver.libraries))
    if folders:
        args = [name, "update-ldcache"]
        for folder in folders:
            args += ["--folder", folder]
        found.append({"hookName": "createContainer", "path": hook_path, "args": args})
    return found


def symlinks(driver: Driver) -> list[tuple[str, str]]:
    """(target, link) pairs: each library's soname link, then the
    development names of DEV_LINKS; the target is relative, the link a
    container path."""
    links = []
    for lib in driver.libraries:
        folder, name = os.path.split(lib.path)
        if lib.soname != name:
            links.append((name, f"{folder}/{lib.soname}"))
        for dev, target in DEV_LINKS.items():
            if lib.soname == target:
                links.append((target, f"{folder}/{dev}"))
    return links


def cdi_version(document: dict) -> str:
    """The lowest cdiVersion that has every field ``document`` uses (the
    room's own version table, versions.py; the spec is checked on the way)."""
    from minirun.engine.cdi import spec as cdi_spec, versions
    latest = dict(document, cdiVersion=versions.KNOWN[-1])
    return versions.needed(cdi_spec.parse(latest, "the generated NVIDIA spec"))[0]


def _node(root: str, path: str) -> dict:
    node = {"path": path}
    if root != "/":
        node["hostPath"] = host_path(root, path)
    return node


def _mount(root: str, path: str, options: list[str]) -> dict:
    return {"hostPath": host_path(root, path), "containerPath": path, "options": list(options)}


def dump(spec_: dict, fmt: str = "yaml") -> str:
    """The spec as text: YAML (what nvidia-ctk writes by default) or JSON."""
    if fmt == "json":
        import json
        return json.dumps(spec_, indent=2) + "\n"
    import yaml
    return "---\n" + yaml.safe_dump(spec_, sort_keys=False, default_flow_style=False)


def in_memory(root: str | None = None):
    """The host's NVIDIA spec as the room's Spec record (spec.parse), for a
    Registry's ``specs`` where no spec file exists; None where there is no
    driver or no GPU.  ``root``: the driver root (discover.driver_root)."""
    from minirun.engine.cdi import spec as cdi_spec
    from minirun.engine.cdi.discover import discover
    driver = discover(root)
    if not driver.found or not driver.gpus:
        return None
    return cdi_spec.parse(spec(driver), f"generated for the NVIDIA driver under {driver.root}")
