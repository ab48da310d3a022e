"""--device and --gpus, as podman spells them, checked when the spec is made.

    --device /dev/fuse                      a host node, at the same path, rwm
    --device /dev/sdb:/dev/xvdb:r           at another path, with permissions
    --device nvidia.com/gpu=0               a CDI device (engine/cdi), by name
    --gpus all | 2 | device=0,1 | device=GPU-<uuid>
                                            NVIDIA GPUs, as CDI's nvidia.com/gpu

A CDI name is only checked for its form when the spec is made; whether a
spec defines it is known when the bundle is built (:func:`apply`), before
anything is made.  ``--gpus N`` asks for the first N GPUs the CDI specs
name by index.
"""
import os
import stat

from minirun.errors import MiniRunError

GPU_KIND = "nvidia.com/gpu"
def is_cdi(text: str) -> bool:
    """A CDI name (vendor/class=name) rather than a path."""
    return not text.startswith("/") and "=" in text


def check(text: str) -> str:
    """One --device value: a CDI name, or HOST[:CONTAINER][:PERMISSIONS]."""
    if is_cdi(text):
        from minirun.engine.cdi.names import CDIError, parse_qualified
        try:
            parse_qualified(text)
        except CDIError as e:
            raise MiniRunError(f"--device {text}: {e}") from None
        return text
    node(text)
    return text


def node(text: str) -> tuple[str, str, str]:
    """--device HOST[:CONTAINER][:PERMISSIONS] -> (host path, container path,
    permissions), as podman reads it."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0].startswith("/"):
        raise MiniRunError(f"--device {text}: use /dev/HOST[:/dev/CONTAINER][:rwm], or a CDI "
                           "name vendor.com/class=name")
    host = parts[0]
    container, perms = host, "rwm"
    for part in parts[1:]:
        if part.startswith("/"):
            container = part
        elif part and set(part) <= set("rwm"):
            perms = part
        else:
            raise MiniRunError(f"--device {text}: {part!r} is neither a path nor permissions "
                               "(r, w, m)")
    return host, container, perms


def gpus(text: str | None) -> tuple:
    """--gpus: the CDI names it means, or ("count", N) for a number of them."""
    if not text:
        return ()
    if text == "all":
        return (f"{GPU_KIND}=all",)
    if text.isdigit():
        if int(text) < 1:
            raise MiniRunError(f"--gpus {text}: ask for one GPU or more, or all")
        return ("count", int(text))
    if text.startswith("device="):
        names = [n.strip() for n in text[len("device="):].split(",") if n.strip()]
        if names:
            return tuple(check(f"{GPU_KIND}={n}") for n in names)
    raise MiniRunError(f"--gpus {text}: use all, a number, or device=0,1 (indexes or "
                       "GPU-UUIDs)")


def gpu_names(gpus: tuple, known: list[str]) -> list[str]:
    """The CDI names --gpus means, given the GPU names the specs define."""
    if not known:
        raise MiniRunError("--gpus: no NVIDIA GPU here: no CDI spec names nvidia.com/gpu "
                           "devices and no driver was found (minirun cdi generate, "
                           "minirun cdi list)")
    if gpus[:1] != ("count",):
        return list(gpus)
    indexes = sorted(int(n.split("=", 1)[1]) for n in known if n.split("=", 1)[1].isdigit())
    if len(indexes) < gpus[1]:
        raise MiniRunError(f"--gpus {gpus[1]}: this host has {len(indexes)} GPU(s) "
                           "(minirun cdi list)")
    return [f"{GPU_KIND}={i}" for i in indexes[:gpus[1]]]


def bound(edits):
    """A plain user's edits: each device node the host's, bound in (no node
    can be made, and no device cgroup is ours), read-only where the spec
    gives no write permission."""
    from minirun.engine.cdi.spec import Mount
    binds = tuple(Mount(host_path=n.host_path or n.path, container_path=n.path,
                        options=("rbind",) + (() if not n.permissions or "w" in n.permissions
                                              else ("ro",)), type="bind")
                  for n in edits.device_nodes)
    return edits._replace(device_nodes=(), mounts=tuple(edits.mounts) + binds)


def apply(config: dict, spec, rootless: bool) -> None:
    """The spec's --device and --gpus, into the config being built
    (bundle.build): host nodes, then CDI devices."""
    _host_nodes(config, spec, rootless)
    _cdi(config, spec, rootless)


def _host_nodes(config: dict, spec, rootless: bool) -> None:
    """--device /dev/HOST[:/dev/CONTAINER][:rwm]: as root, a node made in the
    container (linux.devices) and allowed in its device cgroup; for a plain
    user, who may make no node, the host's bound in (as podman does)."""
    for text in spec.devices:
        if is_cdi(text):
            continue
        host, path, perms = node(text)
        try:
            st = os.stat(host)
        except OSError as e:
            raise MiniRunError(f"--device {text}: {host}: {e.strerror}") from None
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
        if kind is None:
            raise MiniRunError(f"--device {text}: {host} is not a device node")
        if rootless:
            config["mounts"].append({"destination": path, "type": "bind", "source": host,
                                     "options": ["rbind"] + ([] if "w" in perms else ["ro"])})
            continue
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        linux = config["linux"]
        linux.setdefault("devices", [])
        linux["devices"] = [d for d in linux["devices"] if d["path"] != path] + [
            {"path": path, "type": kind, "major": major, "minor": minor,
             "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}]
        linux["resources"].setdefault("devices", []).append(
            {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})


# what --privileged leaves out of the host's /dev: the terminal's nodes and the
# filesystems the container has of its own
PRIVILEGED_SKIP = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx",
                   "/dev/tty")


def privileged(config: dict, rootless: bool) -> None:
    """--privileged, as podman gives it: every device node of the host's
    /dev (as root made in the container; a plain user's bound in where the
    user may open it), and /sys writable."""
    existing = {d["path"] for d in config["linux"].get("devices", [])}
    for here, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if os.path.join(here, d) not in PRIVILEGED_SKIP]
        for name in sorted(files):
            path = os.path.join(here, name)
            if path in PRIVILEGED_SKIP or path.startswith("/dev/tty") or path in existing:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
            if kind is None:
                continue
            if rootless:                # bound as they are: opening one is the host's say
                config["mounts"].append({"destination": path, "type": "bind",
                                         "source": path, "options": ["rbind"]})
                continue
            config["linux"].setdefault("devices", []).append(
                {"path": path, "type": kind, "major": os.major(st.st_rdev),
                 "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                 "uid": st.st_uid, "gid": st.st_gid})
    for m in config["mounts"]:
        if m["destination"] == "/sys":
            m["options"] = [o for o in m.get("options", []) if o != "ro"] + ["rw"]


def _cdi(config: dict, spec, rootless: bool) -> None:
    """--device vendor/class=name and --gpus: the CDI specs' edits (engine/cdi),
    with NVIDIA's hooks left for the runtime to do itself.  GPUs asked for
    where no spec file names nvidia.com/gpu come from a spec generated for
    this host's driver, in memory.  A plain user's device nodes are the
    host's, bound in."""
    wanted = [d for d in spec.devices if is_cdi(d)]
    if not wanted and not spec.gpus:
        return
    from minirun.engine.cdi import edits as cdi_edits
    from minirun.engine.cdi.registry import Registry
    registry = Registry()
    asks_gpu = spec.gpus or any(d.startswith(GPU_KIND + "=") for d in wanted)
    if asks_gpu and not _gpu_names(registry):
        from minirun.engine.cdi import generate
        made = generate.in_memory()
        if made is not None:
            registry = Registry(specs=(made,))
    if spec.gpus:
        wanted += gpu_names(spec.gpus, _gpu_names(registry))
    from minirun.runtime.cdihooks import BINARIES      # their hooks: the runtime's work
    edits = registry.resolve(wanted, native_hooks=BINARIES)
    if rootless:
        edits = bound(edits)
    cdi_edits.apply(config, edits)


def _gpu_names(registry) -> list[str]:
    return [n for n in registry.names() if n.startswith(GPU_KIND + "=")]
