"""The bundle builder: a container's options, its image's config and its
layer paths become the runtime-spec config.json the runtime runs."""
import json
import os

from minirun.engine.containers.records import ContainerError, container_dir
from minirun.engine.store import check_name
from minirun.engine.store import Store

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


def _entries(layers: list[str], filename: str) -> list[list[str]]:
    """The lines of /etc/FILENAME in the image (its top-most copy), split."""
    for layer in layers:
        path = os.path.join(layer, "etc", filename)
        if os.path.isfile(path):
            with open(path, errors="replace") as f:
                return [line.rstrip("\n").split(":") for line in f if line.count(":") >= 2]
    return []


def _user(layers: list[str], spec: str) -> tuple[int, int, list[int]]:
    """uid, gid and groups for `-u user[:group]`, names resolved from the
    image's /etc/passwd and /etc/group, as podman does."""
    name, _, group = spec.partition(":")
    passwd = _entries(layers, "passwd")
    if name.isdigit():
        uid = int(name)
        gid = next((int(p[3]) for p in passwd if len(p) > 3 and p[2] == name), 0)
    else:
        entry = next((p for p in passwd if p[0] == name and len(p) > 3), None)
        if entry is None:
            raise ContainerError(f"user `{name}` is not in the image's /etc/passwd: "
                                 "give a numeric uid instead")
        uid, gid = int(entry[2]), int(entry[3])
    groups_file = _entries(layers, "group")
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


def build_config(store: Store, cid: str, image_id: str, opts: dict) -> dict:
    """The OCI config.json for a container (what `run --dry-run` prints)."""
    from minirun.engine.containers import seccomp_profile
    from minirun.kernel.idmap import is_rootless
    from minirun.runtime.defaults import MASKED, READONLY, default_config
    image = json.loads(store.read_blob(image_id, verify=False)).get("config") or {}
    keep_id = opts.get("userns") == "keep-id"
    if keep_id:
        if not is_rootless():
            raise ContainerError("--userns keep-id is for rootless containers, where your uid "
                                 "would otherwise be root inside; as root, use -u UID:GID")
        from minirun.engine import userns
        layers = userns.keep_id_layers(store, image_id)
    elif opts.get("lazy"):        # layers still in the registry: their lazy mount
        from minirun.engine.lazy import mount
        from minirun.engine.lazy.pull import lazy_layers
        lazy = lazy_layers(store, image_id)
        layers = [mount.layer_path(store, image_id, lazy[d]) if d in lazy else
                  store.layer_dir(d) for d, _ in reversed(store.image_layers(image_id))]
    else:
        layers = [store.layer_dir(d) for d, _ in reversed(store.image_layers(image_id))]
    entrypoint = opts.get("entrypoint")
    entrypoint = ([entrypoint] if entrypoint else []) if entrypoint is not None \
        else image.get("Entrypoint") or []
    cmd = opts.get("command") or (image.get("Cmd") or [] if opts.get("entrypoint") is None
                                  else [])
    args = list(entrypoint) + list(cmd)
    if not args:
        raise ContainerError("no command: the image has no Entrypoint or Cmd; name one")
    init = None
    if opts.get("init"):
        # podman's --init: catatonit as pid 1, reaping zombies and passing signals on
        import shutil
        init = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
        if not os.path.exists(init):
            raise ContainerError("--init needs catatonit: apt-get install catatonit")
        args = ["/run/minirun-init", "--"] + args
    rootless = is_rootless()
    config = default_config(rootless=rootless)
    d = container_dir(store, cid)
    hostname = opts.get("hostname") or cid[:12]
    env = _env(image.get("Env") or [], opts.get("env") or [])
    env = [e if not e.startswith("HOSTNAME=") or e != "HOSTNAME=" else f"HOSTNAME={hostname}"
           for e in env]
    user = opts.get("user") or image.get("User") or "0"   # "0": nobody asked
    if keep_id and not opts.get("user"):     # you, as yourself
        uid, gid, groups = os.getuid(), os.getgid(), [os.getgid()]
    else:
        uid, gid, groups = _user(layers, user)
    if not any(e.startswith("HOME=") for e in env):   # podman sets it from /etc/passwd
        entries = _entries(layers, "passwd")
        if keep_id:
            import pwd
            entries.append(["", "", str(os.getuid()), "", "", pwd.getpwuid(os.getuid()).pw_dir])
        home = next((p[5] for p in entries if len(p) > 5 and p[2] == str(uid)), "/")
        env.append(f"HOME={home}")
    caps = bounding_caps() if opts.get("privileged") else list(PODMAN_CAPS)
    for cap in opts.get("cap_add") or []:
        name = "CAP_" + cap.upper().removeprefix("CAP_")
        if name not in caps:
            caps.append(name)
    drop = {"CAP_" + c.upper().removeprefix("CAP_") for c in opts.get("cap_drop") or []}
    caps = [c for c in caps if c not in drop and "CAP_ALL" not in drop]
    proc = config["process"]
    proc.update(args=args, env=env, cwd=opts.get("workdir") or image.get("WorkingDir") or "/",
                terminal=bool(opts.get("tty")), user={"uid": uid, "gid": gid,
                                                      "additionalGids": groups},
                capabilities={k: list(caps) for k in ("bounding", "effective", "permitted")},
                noNewPrivileges=bool(opts.get("no_new_privileges")))
    config["root"] = {"path": os.path.join(d, "rootfs"), "readonly": bool(opts.get("read_only"))}
    config["hostname"] = hostname
    config["annotations"] = {
        "org.minirun.rootfs.overlay": f"lowerdir={':'.join(layers)},upperdir={d}/upper,"
                                      f"workdir={d}/work",
        "org.minirun.container.id": cid, **(opts.get("annotations") or {})}
    config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"] = list(MASKED), list(READONLY)
    config["linux"]["cgroupsPath"] = f"minirun/{cid}"
    from minirun.engine.network.networks import private
    if private(opts.get("network")) and not rootless:    # its namespace, made at start
        from minirun.engine.network.networks import netns_path
        for n in config["linux"]["namespaces"]:
            if n["type"] == "network":
                n["path"] = netns_path(cid)
    if opts.get("network") == "host":
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                         if n["type"] != "network"]
        config["mounts"] = [m for m in config["mounts"] if m["type"] != "sysfs"] + [
            {"destination": "/sys", "type": "bind", "source": "/sys",
             "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]}]
    if rootless:
        from minirun.engine.userns import keep_id_maps, maps_for
        uids, gids = (keep_id_maps if keep_id else maps_for)(os.getuid(), os.getgid())
        config["linux"]["uidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id,
                                           "size": m.size} for m in uids]
        config["linux"]["gidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id,
                                           "size": m.size} for m in gids]
    if opts.get("privileged"):
        # podman's --privileged: all capabilities, no seccomp, nothing masked
        config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"] = [], []
    elif opts.get("seccomp", "default") == "default":
        profile = seccomp_profile.default(caps)
        if profile:
            config["linux"]["seccomp"] = profile
    elif opts["seccomp"] != "unconfined":
        from minirun.errors import ConfigError
        from minirun.runtime.spec import parse_seccomp
        profile = seccomp_profile.from_file(opts["seccomp"], caps)
        try:
            parse_seccomp(profile)
        except ConfigError as e:
            raise ContainerError(f"--security-opt seccomp={opts['seccomp']}: {e}") from None
        config["linux"]["seccomp"] = profile
    # without a network podman leaves the image's own resolv.conf, and so do we
    generated = ("hosts", "hostname") + (() if opts.get("network") == "none"
                                         else ("resolv.conf",))
    for name in generated:
        config["mounts"].append({"destination": f"/etc/{name}", "type": "bind",
                                 "source": os.path.join(d, name), "options": ["rbind", "rw"]})
    if keep_id:     # podman adds you to the container's passwd and group files
        for name, line in _keep_id_entries(layers).items():
            if os.path.isdir(d):          # (not for --dry-run)
                with open(os.path.join(d, name), "w") as f:
                    f.write(line)
            config["mounts"].append({"destination": f"/etc/{name}", "type": "bind",
                                     "source": os.path.join(d, name), "options": ["rbind", "ro"]})
    if init:
        config["mounts"].append({"destination": "/run/minirun-init", "type": "bind",
                                 "source": init, "options": ["bind", "ro"]})
    for spec in opts.get("tmpfs") or []:
        dest, _, options = spec.partition(":")
        config["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                                 "options": (options.split(",") if options else [])
                                 + ["nosuid", "nodev"]})
    for vol in opts.get("volumes") or []:
        from minirun.engine.containers import volumes
        src, dest, ro = volumes.parse_spec(vol)
        if not src.startswith("/"):          # a named volume, made and filled on first use
            src = volumes.mount_source(store, src, layers, dest)
        config["mounts"].append({"destination": dest, "type": "bind", "source": src,
                                 "options": ["rbind"] + (["ro"] if ro else [])})
    for m in opts.get("mounts") or []:
        config["mounts"].append(_mount_flag(store, m, layers, opts))
    # The image's declared volumes, where nothing else is mounted: an anonymous
    # volume each (removed with the container by rm -v), filled from the image.
    taken = {m["destination"] for m in config["mounts"]}
    for path in sorted(image.get("Volumes") or {}):
        if path in taken:
            continue
        from minirun.engine.containers import volumes
        anonymous = opts.setdefault("anonymous_volumes", {}).get(path)
        if anonymous is None:
            anonymous = opts["anonymous_volumes"][path] = os.urandom(16).hex()
        source = volumes.mount_source(store, anonymous, layers, path)
        config["mounts"].append({"destination": path, "type": "bind", "source": source,
                                 "options": ["rbind"]})
    if opts.get("resources"):
        config["linux"]["resources"].update(opts["resources"])
    if opts.get("privileged"):       # every device, as podman's --privileged
        config["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    if opts.get("oom_score_adj") is not None:
        proc["oomScoreAdj"] = opts["oom_score_adj"]
    if image.get("StopSignal") and not opts.get("stop_signal"):
        opts["stop_signal"] = image["StopSignal"]
    return config






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
    passwd = [":".join(p) for p in _entries(layers, "passwd") if p[2:3] != [str(uid)]]
    groups = [":".join(g) for g in _entries(layers, "group") if g[2:3] != [str(gid)]]
    passwd.append(f"{me.pw_name}:x:{uid}:{gid}:{me.pw_gecos}:{me.pw_dir}:/bin/sh")
    groups.append(f"{group}:x:{gid}:")
    return {"passwd": "\n".join(passwd) + "\n", "group": "\n".join(groups) + "\n"}


def _mount_flag(store: Store, text: str, layers: list[str], opts: dict) -> dict:
    """--mount type=bind|volume|tmpfs,source=..,target=..[,ro|readonly]"""
    fields, flags = {}, []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            fields[{"src": "source", "dst": "target", "destination": "target"}.get(key, key)] \
                = value
        else:
            flags.append(key)
    kind, target = fields.get("type", "volume"), fields.get("target", "")
    ro = "ro" in flags or "readonly" in flags or fields.get("readonly") == "true"
    if not target.startswith("/"):
        raise ContainerError(f"--mount {text}: target= must be an absolute path")
    if kind == "tmpfs":
        return {"destination": target, "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev"] + (["ro"] if ro else [])}
    source = fields.get("source", "")
    if kind == "volume":
        from minirun.engine.containers import volumes
        if not source:   # an anonymous volume, kept with the container's (rm -v)
            source = opts.setdefault("anonymous_volumes", {}).setdefault(
                target, os.urandom(16).hex())
        source = volumes.mount_source(store, check_name(source, "volume"), layers, target)
    elif kind != "bind" or not source.startswith("/"):
        raise ContainerError(f"--mount {text}: type must be bind, volume or tmpfs, and a "
                             "bind needs an absolute source=")
    return {"destination": target, "type": "bind", "source": source,
            "options": ["rbind"] + (["ro"] if ro else [])}

