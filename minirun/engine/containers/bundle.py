"""The bundle builder: a container's spec, its image's config and its
layer paths become the runtime-spec config.json the runtime runs.

:func:`build` is the whole of it, and it has no side effects: the files
and volumes the container needs are listed in the :class:`Bundle` it
returns, for create to make (create.py).  The flag `--memory` goes
from the command line into the spec (spec.py), from the spec into
``linux.resources`` here, and from config.json into the cgroup file in
the runtime (runtime/resources.py): down, never back up.
"""
import json
import os

from minirun.engine.containers.records import ContainerError
from minirun.engine.containers.spec import ContainerSpec
from minirun.engine.store import Store, check_name
from minirun.records import record

INIT = "/run/minirun-init"        # where --init binds catatonit
PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"]


def bounding_caps() -> list[str]:
    """Every capability we could give (--privileged): our own bounding set,
    which on some hosts lacks one (CAP_SYS_RESOURCE here)."""
    from minirun.kernel.capabilities import NAMES
    with open("/proc/self/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return [name for bit, name in enumerate(NAMES) if mask >> bit & 1]


def etc_entries(layers: list[str], filename: str) -> list[list[str]]:
    """The lines of /etc/FILENAME in the image (its top-most copy), split."""
    for layer in layers:
        path = os.path.join(layer, "etc", filename)
        if os.path.isfile(path):
            with open(path, errors="replace") as f:
                return [line.rstrip("\n").split(":") for line in f if line.count(":") >= 2]
    return []


def resolve_user(layers: list[str], spec: str) -> tuple[int, int, list[int]]:
    """uid, gid and groups for `-u user[:group]`, names resolved from the
    image's /etc/passwd and /etc/group, as podman does."""
    name, _, group = spec.partition(":")
    passwd = etc_entries(layers, "passwd")
    if name.isdigit():
        uid = int(name)
        gid = next((int(p[3]) for p in passwd if len(p) > 3 and p[2] == name), 0)
    else:
        entry = next((p for p in passwd if p[0] == name and len(p) > 3), None)
        if entry is None:
            raise ContainerError(f"user `{name}` is not in the image's /etc/passwd: give "
                                 "a numeric uid instead", exit_code=126)   # podman's 126
        uid, gid = int(entry[2]), int(entry[3])
    groups_file = etc_entries(layers, "group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((p for p in groups_file if p[0] == group), None)
            if g is None:
                raise ContainerError(f"group `{group}` is not in the image's /etc/group")
            gid = int(g[2])
    # the primary group and those that list the user, as podman gives them
    user_name = next((p[0] for p in passwd if len(p) > 2 and p[2] == str(uid)), None)
    extra = [int(g[2]) for g in groups_file
             if user_name and len(g) > 3 and user_name in g[3].split(",")]
    return uid, gid, list(dict.fromkeys(([gid] if spec != "0" else []) + extra))


def _env(image_env: list[str], extra: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in image_env + extra:
        key, sep, value = item.partition("=")
        if not sep:   # -e NAME: take it from our environment, as podman does
            if key not in os.environ:
                continue
            value = os.environ[key]
        merged[key] = value
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    merged.setdefault("TERM", "xterm")      # podman sets it, terminal or not
    merged.setdefault("HOSTNAME", "")
    return [f"{k}={v}" for k, v in merged.items()]


@record
class Bundle:
    """What :func:`build` makes of a spec: the config, and what create must
    make before the container can start (nothing here is made yet)."""
    config: dict
    files: dict = {}         # name in the container's directory -> its text
    volumes: tuple = ()      # (volume name, destination): made, filled from the image
    anonymous: dict = {}     # destination -> name of an anonymous volume (rm -v)
    stop_signal: str | None = None


def layer_paths(store: Store, image_id: str, spec: ContainerSpec) -> list[str]:
    """The image's layers, top first, as the container's overlay stacks them:
    unpacked in the store, copied with your ids for keep-id (a copy made
    once per user and kept: the store's cache, not the container's), or
    mounted lazily from the registry."""
    if spec.userns == "keep-id":
        from minirun.engine import userns
        from minirun.kernel.idmap import is_rootless
        if not is_rootless():
            raise ContainerError("--userns keep-id is for rootless containers, where your uid "
                                 "would otherwise be root inside; as root, use -u UID:GID")
        return userns.keep_id_layers(store, image_id)
    ordered = [d for d, _ in reversed(store.image_layers(image_id))]
    if spec.lazy:        # layers still in the registry: their lazy mount
        from minirun.engine.lazy import mount
        from minirun.engine.lazy.pull import lazy_layers
        lazy = lazy_layers(store, image_id)
        return [mount.layer_path(store, image_id, lazy[d]) if d in lazy else
                store.layer_dir(d) for d in ordered]
    return [store.layer_dir(d) for d in ordered]


def image_config(store: Store, image_id: str) -> dict:
    """The image's config (Entrypoint, Cmd, Env, User, Volumes...)."""
    return json.loads(store.read_blob(image_id, verify=False)).get("config") or {}


def build(spec: ContainerSpec, image: dict, layers: list[str], *, cid: str,
          directory: str, volume_dir: str, joined: dict | None = None) -> Bundle:
    """The bundle of a container: a function of the spec, the image's config
    and its layers' paths (read, never written; the ids of the container
    and its directory name paths).  It writes no file and changes nothing,
    so `run --dry-run` prints exactly the config `run` runs.  ``joined``:
    the paths of the namespaces ``spec.joins`` names (joining.paths), where
    they are known yet."""
    from minirun.kernel.idmap import is_rootless
    from minirun.runtime.defaults import default_config
    rootless = is_rootless()
    config = default_config(rootless=rootless)
    hostname = spec.hostname or cid[:12]
    caps = capabilities(spec)
    config["process"].update(_process(spec, image, layers, hostname, caps))
    config["root"] = {"path": os.path.join(directory, "rootfs"), "readonly": spec.read_only}
    config["hostname"] = hostname
    config["annotations"] = {
        "org.minirun.rootfs.overlay": f"lowerdir={':'.join(layers)},upperdir={directory}/upper,"
                                      f"workdir={directory}/work",
        "org.minirun.container.id": cid, **spec.annotations}
    config["linux"]["cgroupsPath"] = f"minirun/{cid}"
    if rootless and any(k != "devices" for k in spec.resources) and _no_user_cgroups():
        from minirun.runtime.checks import LIMITS_WARNED    # create says so, as podman
        config["annotations"][LIMITS_WARNED] = "1"
    _namespaces(config, spec, cid, rootless)
    if spec.joins:          # a pod's member: the infra's namespaces, by path
        from minirun.engine.containers import joining
        joining.apply(config, spec.joins, joined or {})
    _confine(config, spec, caps)
    user = config["process"]["user"]
    files = _keep_id_entries(layers) if spec.userns == "keep-id" else \
        _unknown_user_entries(layers, spec, user["uid"], user["gid"])
    mounts = Mounts(spec, layers, directory, volume_dir, cid, etc_files=tuple(files))
    config["mounts"] += mounts.all(image)
    from minirun.engine.containers import tuning
    tuning.apply(config, spec, etc_entries(layers, "group") if spec.group_add else [])
    linux = config["linux"]
    linux["resources"].update(spec.resources)
    if spec.devices or spec.gpus:
        from minirun.engine.containers import devices
        devices.apply(config, spec, rootless)
    if spec.privileged:       # every device, as podman's --privileged
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        from minirun.engine.containers import devices
        devices.privileged(config, rootless)
    if spec.oom_score_adj is not None:
        config["process"]["oomScoreAdj"] = spec.oom_score_adj
    return Bundle(config=config, files=files, volumes=tuple(mounts.volumes),
                  anonymous=mounts.anonymous,
                  stop_signal=spec.stop_signal or image.get("StopSignal"))


def _no_user_cgroups() -> bool:
    """A plain user here has no cgroups of their own: cgroup v1 (or
    hybrid), where nothing is delegated (podman's rule)."""
    from minirun.kernel import cgroups
    return not cgroups.is_unified(cgroups.hierarchies())


def args(spec: ContainerSpec, image: dict) -> list[str]:
    """The process's argv: the entrypoint and command, the image's where the
    spec names none (an --entrypoint given drops the image's Cmd)."""
    if spec.entrypoint is not None:
        entrypoint = [spec.entrypoint] if spec.entrypoint else []
        cmd = list(spec.command)
    else:
        entrypoint = image.get("Entrypoint") or []
        cmd = list(spec.command) or image.get("Cmd") or []
    argv = list(entrypoint) + cmd
    if not argv:
        raise ContainerError("no command: the image has no Entrypoint or Cmd; name one")
    if spec.init and argv[0] != INIT:  # podman's --init: catatonit as pid 1, reaping
        argv = [INIT, "--"] + argv      # and passing signals (unless it is named itself)
    return argv


def capabilities(spec: ContainerSpec) -> list[str]:
    """podman's default set (every one we hold with --privileged), then
    --cap-add and --cap-drop."""
    caps = bounding_caps() if spec.privileged else list(PODMAN_CAPS)
    drop = {"CAP_" + c.upper().removeprefix("CAP_") for c in spec.cap_drop}
    caps = [] if "CAP_ALL" in drop else [c for c in caps if c not in drop]
    for cap in spec.cap_add:            # after the drops, as podman: --cap-drop all --cap-add X
        name = "CAP_" + cap.upper().removeprefix("CAP_")
        if name == "CAP_ALL":
            caps = [c for c in bounding_caps() if c not in caps] + caps
        elif name not in caps:
            caps.append(name)
    return caps


def _process(spec: ContainerSpec, image: dict, layers: list[str], hostname: str,
             caps: list[str]) -> dict:
    """config.json's process: argv, environment, user, working directory."""
    env = _env(image.get("Env") or [], list(spec.env))
    env = [f"HOSTNAME={hostname}" if e == "HOSTNAME=" else e for e in env]
    keep_id = spec.userns == "keep-id"
    if keep_id and not spec.user:     # you, as yourself
        uid, gid, groups = os.getuid(), os.getgid(), [os.getgid()]
    else:
        uid, gid, groups = resolve_user(layers, spec.user or image.get("User") or "0")
    if not any(e.startswith("HOME=") for e in env):   # podman sets it from /etc/passwd
        entries = etc_entries(layers, "passwd")
        if keep_id:
            import pwd
            entries.append(["", "", str(os.getuid()), "", "", pwd.getpwuid(os.getuid()).pw_dir])
        home = next((p[5] for p in entries if len(p) > 5 and p[2] == str(uid)), "/")
        env.append(f"HOME={home}")
    return {"args": args(spec, image), "env": env,
            "cwd": spec.workdir or image.get("WorkingDir") or "/", "terminal": spec.tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": groups},
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": spec.no_new_privileges}


def _namespaces(config: dict, spec: ContainerSpec, cid: str, rootless: bool) -> None:
    """The network namespace (made by the engine at start, named by path; the
    host's for --network host) and a plain user's id maps."""
    from minirun.engine.network.modes import netns_path, private
    linux = config["linux"]
    if private(spec.network) and not rootless:
        for n in linux["namespaces"]:
            if n["type"] == "network":
                n["path"] = netns_path(cid)
    if spec.network == "host":
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
        config["mounts"] = [m for m in config["mounts"] if m["type"] != "sysfs"] + [
            {"destination": "/sys", "type": "bind", "source": "/sys",
             "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]}]
    if rootless:
        from minirun.engine.userns import keep_id_maps, maps_for
        maps = keep_id_maps if spec.userns == "keep-id" else maps_for
        uids, gids = maps(os.getuid(), os.getgid())
        linux["uidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id,
                                 "size": m.size} for m in uids]
        linux["gidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id,
                                 "size": m.size} for m in gids]


def _confine(config: dict, spec: ContainerSpec, caps: list[str]) -> None:
    """Masked and read-only paths, and seccomp: podman's defaults, none of
    them with --privileged."""
    from minirun.engine.containers import seccomp_profile
    from minirun.runtime.defaults import MASKED, READONLY
    linux = config["linux"]
    if spec.privileged:
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        return
    linux["maskedPaths"], linux["readonlyPaths"] = list(MASKED), list(READONLY)
    if spec.seccomp == "default":
        profile = seccomp_profile.default(caps)
        if profile:
            linux["seccomp"] = profile
    elif spec.seccomp != "unconfined":
        from minirun.errors import ConfigError
        from minirun.runtime.spec import parse_seccomp
        profile = seccomp_profile.from_file(spec.seccomp, caps)
        try:
            parse_seccomp(profile)
        except ConfigError as e:
            raise ContainerError(f"--security-opt seccomp={spec.seccomp}: {e}") from None
        linux["seccomp"] = profile


class Mounts:
    """The container's own mounts, in config order: the files the engine
    writes (/etc/hosts, hostname, resolv.conf; passwd and group for keep-id),
    catatonit, --tmpfs, -v, --mount, then an anonymous volume for each of
    the image's volumes that nothing else covers.  It collects the volumes
    create must make; it makes none."""

    def __init__(self, spec: ContainerSpec, layers: list[str], directory: str,
                 volume_dir: str, cid: str, etc_files: tuple = ()):
        self.spec, self.layers, self.directory = spec, layers, directory
        self.etc_files = etc_files          # passwd, group: written by create, bound
        self.volume_dir, self.cid = volume_dir, cid
        self.volumes: list[tuple[str, str]] = []
        self.anonymous: dict[str, str] = {}

    def all(self, image: dict) -> list[dict]:
        spec, out = self.spec, []
        # without a network podman leaves the image's own resolv.conf, and so do we
        generated = ("hosts", "hostname") + (() if spec.network == "none" else ("resolv.conf",))
        for name in generated:
            out.append(self._bind(os.path.join(self.directory, name), f"/etc/{name}", "rw"))
        for name in self.etc_files:      # podman adds you (keep-id), or -u UID, to them
            out.append(self._bind(os.path.join(self.directory, name), f"/etc/{name}", "ro"))
        if spec.init:
            out.append({"destination": INIT, "type": "bind",
                        "source": catatonit(), "options": ["bind", "ro"]})
        for text in spec.tmpfs:
            dest, _, options = text.partition(":")
            out.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                        "options": (options.split(",") if options else []) + ["nosuid", "nodev"]})
        for text in spec.volumes:
            from minirun.engine.containers import volumes
            src, dest, ro = volumes.parse_spec(text)
            if not src.startswith("/"):  # a named volume (anonymous: -v /DEST), made and
                src = self._volume(src or None, dest)       # filled on first use
            out.append(self._bind(src, dest, "ro" if ro else None))
        out += [self._mount_flag(text) for text in spec.mounts]
        taken = {m["destination"] for m in out}
        for path in sorted(image.get("Volumes") or {}):
            if path not in taken:
                out.append(self._bind(self._volume(None, path), path, None))
        return out

    def _bind(self, source: str, dest: str, mode: str | None) -> dict:
        return {"destination": dest, "type": "bind", "source": source,
                "options": ["rbind"] + ([mode] if mode else [])}

    def _volume(self, name: str | None, dest: str) -> str:
        """The host path of volume ``name`` at ``dest``; None: an anonymous one,
        named after the container and the path (kept with it, rm -v)."""
        if name is None:
            import hashlib
            name = hashlib.sha256(f"{self.cid}:{dest}".encode()).hexdigest()   # 64, as podman
            self.anonymous[dest] = name
        self.volumes.append((check_name(name, "volume"), dest))
        return os.path.join(self.volume_dir, name, "_data")

    def _mount_flag(self, text: str) -> dict:
        """--mount type=bind|volume|tmpfs,source=..,target=..[,ro|readonly]"""
        fields, flags = {}, []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if sep:
                alias = {"src": "source", "dst": "target", "destination": "target"}
                fields[alias.get(key, key)] = value
            else:
                flags.append(key)
        kind, target = fields.get("type", "volume"), fields.get("target", "")
        ro = "ro" in flags or "readonly" in flags or fields.get("readonly") == "true"
        if not target.startswith("/"):
            raise ContainerError(f"--mount {text}: target= must be an absolute path")
        if kind == "tmpfs":
            return {"destination": target, "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev"] + (["ro"] if ro else []) +
                    _tmpfs_options(fields, text)}
        source = fields.get("source", "")
        if kind == "volume":
            source = self._volume(source or None, target)
        elif kind != "bind" or not source.startswith("/"):
            raise ContainerError(f"--mount {text}: type must be bind, volume or tmpfs, and a "
                                 "bind needs an absolute source=")
        return self._bind(source, target, "ro" if ro else None)


def _tmpfs_options(fields: dict, text: str) -> list[str]:
    """--mount type=tmpfs's tmpfs-size (bytes, or 64m) and tmpfs-mode (octal)."""
    from minirun.engine.containers.limits import size
    out = []
    if fields.get("tmpfs-size"):
        out.append(f"size={size(fields['tmpfs-size'], 'mount tmpfs-size')}")
    if fields.get("tmpfs-mode"):
        mode = fields["tmpfs-mode"]
        if not all(c in "01234567" for c in mode):
            raise ContainerError(f"--mount {text}: tmpfs-mode is octal, e.g. 1777")
        out.append(f"mode={mode}")
    return out


def catatonit() -> str:
    """podman's tiny init, for --init."""
    import shutil
    path = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
    if not os.path.exists(path):
        raise ContainerError("--init needs catatonit: apt-get install catatonit")
    return path


def _unknown_user_entries(layers: list[str], spec: ContainerSpec, uid: int,
                          gid: int) -> dict[str, str]:
    """-u UID[:GID] that the image's /etc/passwd (or /etc/group) does not
    name: the files with an entry for it, as podman adds one (so that `id`
    and programs that look up their user find a name)."""
    if not spec.user:
        return {}
    passwd, groups = etc_entries(layers, "passwd"), etc_entries(layers, "group")
    out = {}
    if not any(p[2:3] == [str(uid)] for p in passwd):
        out["passwd"] = "".join(":".join(p) + "\n" for p in passwd) + \
            f"{uid}:*:{uid}:{gid}:container user:/:/bin/sh\n"
    if not any(g[2:3] == [str(gid)] for g in groups):
        out["group"] = "".join(":".join(g) + "\n" for g in groups) + f"{gid}:x:{gid}:\n"
    return out


def _keep_id_entries(layers: list[str]) -> dict[str, str]:
    """The image's /etc/passwd and /etc/group, with you in them."""
    import grp
    import pwd
    uid, gid = os.getuid(), os.getgid()
    me = pwd.getpwuid(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = me.pw_name
    passwd = [":".join(p) for p in etc_entries(layers, "passwd") if p[2:3] != [str(uid)]]
    groups = [":".join(g) for g in etc_entries(layers, "group") if g[2:3] != [str(gid)]]
    passwd.append(f"{me.pw_name}:x:{uid}:{gid}:{me.pw_gecos}:{me.pw_dir}:/bin/sh")
    groups.append(f"{group}:x:{gid}:")
    return {"passwd": "\n".join(passwd) + "\n", "group": "\n".join(groups) + "\n"}
