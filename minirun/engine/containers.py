"""Containers of the engine: an image and flags become a record in the
store and an OCI bundle, which the runtime runs in-process.

    <store>/containers/<id>/config.json   the bundle's config (the one currency)
    <store>/containers/<id>/rootfs/       where the overlay of the image is mounted
    <store>/containers/<id>/upper, work/  the container's own writable layer
    <store>/containers/<id>/hosts, hostname, resolv.conf   bound into it
    <store>/containers/<id>/ctr.log       its output, one record a line

The rootfs overlay is mounted by the runtime inside the container's own
mount namespace (annotation ``org.minirun.rootfs.overlay``), so that no
mount of a container ever exists on the host to be leaked.
"""
import json
import os
import time

from minirun.engine.store import Store, hex_of
from minirun.errors import MiniRunError

PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"]
_ADJ = ["brave", "calm", "eager", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty",
        "quirky", "serene", "sharp", "tender", "vivid", "witty"]
_NOUN = ["turing", "hopper", "lovelace", "knuth", "ritchie", "thompson", "torvalds", "liskov",
         "dijkstra", "hamilton", "shannon", "babbage", "noether", "curie", "lamarr", "cerf"]


class ContainerError(MiniRunError):
    """A container operation was refused: no such container, a name taken,
    a running container removed without -f, ..."""


NAME_RULE = "[a-zA-Z0-9][a-zA-Z0-9_.-]*"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
NAME_MAX = 253      # a name is a host name on a network: at most a DNS name's length


def check_name(name: str, what: str) -> str:
    """A container's, network's or volume's name, by podman's rule: it goes
    into /etc/hosts lines, paths and interface names, so a `/`, a space or a
    newline would be read as something else there."""
    if not name or not name[0].isalnum() or not name.isascii() or \
            not set(name) <= _NAME_CHARS:
        raise MiniRunError(f"{what} name {name!r} invalid: names must match {NAME_RULE}: "
                           "invalid argument")
    if len(name) > NAME_MAX:
        raise MiniRunError(f"{what} name {name[:20]!r}... invalid: names must be at most "
                           f"{NAME_MAX} characters: invalid argument")
    return name


def now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def container_dir(store: Store, cid: str) -> str:
    return os.path.join(store.root, "containers", cid)


def find(store: Store, text: str) -> dict:
    """A container by name, full id or id prefix."""
    rows = store.db.execute("SELECT id FROM containers WHERE name=? OR id=?",
                            (text, text)).fetchall()
    if not rows and len(text) >= 3 and all(c in "0123456789abcdef" for c in text):
        rows = store.db.execute("SELECT id FROM containers WHERE id LIKE ?",
                                (f"{text}%",)).fetchall()
        if len(rows) > 1:
            raise ContainerError(f"container id prefix `{text}` is ambiguous")
    if not rows:
        raise ContainerError(f"no container with name or id `{text}` (minirun ps -a lists them)")
    return record(store, rows[0][0])


def record(store: Store, cid: str) -> dict:
    cols = ("id", "name", "image_id", "created", "state", "pid", "exit_code", "started",
            "finished", "monitor", "options", "usage")
    row = store.db.execute(f"SELECT {', '.join(cols)} FROM containers WHERE id=?",
                           (cid,)).fetchone()
    if row is None:
        raise ContainerError(f"no container `{cid}`")
    rec = dict(zip(cols, row))
    rec["options"] = json.loads(rec["options"] or "{}")
    rec["usage"] = json.loads(rec["usage"] or "{}")
    return rec


def update(store: Store, cid: str, **fields) -> None:
    with store.transaction() as db:
        db.execute(f"UPDATE containers SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?",
                   (*fields.values(), cid))


def all_records(store: Store) -> list[dict]:
    return [record(store, r[0]) for r in
            store.db.execute("SELECT id FROM containers ORDER BY created DESC")]


# --- the bundle ----------------------------------------------------------------

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
    from minirun.engine import seccomp_profile
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
        from minirun.lazy import mount
        from minirun.lazy.pull import lazy_layers
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
    from minirun.engine.network import private
    if private(opts.get("network")) and not rootless:    # its namespace, made at start
        from minirun.engine.network import netns_path
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
        from minirun.engine import volumes
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
        from minirun.engine import volumes
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


def _host_for(store: Store, network: str | None) -> str | None:
    """The host's address from inside: a bridge's gateway (root); the host's
    own address, which slirp4netns's NAT reaches (also from a plain user's
    bridges, which go out through it); pasta's gateway, which it maps to the
    host."""
    from minirun.engine import network as net_mod
    if net_mod.bridged(network) and os.geteuid() == 0:
        return net_mod.inspect(store, network)["gateway"]
    if network == "pasta":
        return _default_route()[1]
    if net_mod.private(network):
        return _default_route()[0]
    return None


def _default_route() -> tuple[str | None, str | None]:
    """(this host's address on its default route, that route's gateway)."""
    import socket
    import struct
    gateway = None
    try:
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == "00000000":
                    gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
                    break
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((gateway or "192.0.2.1", 9))   # picks the route; sends nothing
            return s.getsockname()[0], gateway
        except OSError:
            return None, gateway


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
        from minirun.engine import volumes
        if not source:   # an anonymous volume, kept with the container's (rm -v)
            source = opts.setdefault("anonymous_volumes", {}).setdefault(
                target, os.urandom(16).hex())
        source = volumes.mount_source(store, check_name(source, "volume"), layers, target)
    elif kind != "bind" or not source.startswith("/"):
        raise ContainerError(f"--mount {text}: type must be bind, volume or tmpfs, and a "
                             "bind needs an absolute source=")
    return {"destination": target, "type": "bind", "source": source,
            "options": ["rbind"] + (["ro"] if ro else [])}


def create(store: Store, image: str, opts: dict) -> str:
    """Record a container and write its bundle; return its id."""
    image_id = store.lookup(image)
    cid = os.urandom(32).hex()       # (the secrets module costs 4 ms to import)
    name = check_name(opts["name"], "container") if opts.get("name") else random_name(store)
    d = container_dir(store, cid)
    os.makedirs(d, mode=0o700)
    try:
        for sub in ("rootfs", "upper", "work"):
            os.mkdir(os.path.join(d, sub), 0o755)
        from minirun.engine import network as net_mod
        if net_mod.bridged(opts.get("network")):
            net_mod.require(store, opts["network"])
            if opts.get("userns") == "keep-id" and os.geteuid() != 0:
                raise ContainerError("--userns keep-id: a plain user's bridge networks live in "
                                     "one user namespace with the default id maps; use "
                                     "--network pasta or slirp4netns with keep-id")
        elif opts.get("aliases"):
            raise ContainerError("--network-alias: aliases are names on a network of ours "
                                 "(--network bridge or a named one)")
        if opts.get("publish") or opts.get("publish_all"):
            from minirun.engine import network
            if not network.private(opts.get("network")):
                raise ContainerError("-p/-P: publishing a port needs a private network "
                                     "(bridge, a named network, pasta or slirp4netns)")
            image = json.loads(store.read_blob(image_id, verify=False)).get("config") or {}
            exposed = sorted(image.get("ExposedPorts") or {}) if opts.get("publish_all") \
                else []
            opts["ports"] = network.claim_ports(
                store, network.parse_publish(opts.get("publish") or [], exposed))
        config = build_config(store, cid, image_id, opts)
        hostname = config["hostname"]
        with open(os.path.join(d, "hostname"), "w") as f:
            f.write(hostname + "\n")
        # as podman: the host's entries, then the container's own name
        try:
            with open("/etc/hosts") as f:
                base = f.read()
        except OSError:
            base = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write(base.rstrip("\n") + f"\n127.0.0.1\t{hostname} {name}\n")
        if opts.get("network") == "slirp4netns":    # slirp's own DNS forwarder
            from minirun.engine.usernet import SLIRP_ADDRESS, SLIRP_DNS
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write(f"nameserver {SLIRP_DNS}\n")
            with open(os.path.join(d, "hosts"), "a") as f:
                f.write(f"{SLIRP_ADDRESS}\t{hostname} {name}\n")
        elif opts.get("network") != "none":
            own = _default_route()[0] if opts.get("network") == "pasta" else None
            if own:                        # pasta gives the container the host's address
                with open(os.path.join(d, "hosts"), "a") as f:
                    f.write(f"{own}\t{hostname} {name}\n")
            try:
                import shutil
                shutil.copyfile("/etc/resolv.conf", os.path.join(d, "resolv.conf"))
            except OSError:
                open(os.path.join(d, "resolv.conf"), "w").close()
        if opts.get("dns") and opts.get("network") != "none":        # --dns, as podman
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write("".join(f"nameserver {server}\n" for server in opts["dns"]))
        host = _host_for(store, opts.get("network"))
        if host:                     # podman's name for the host, as the container reaches it
            with open(os.path.join(d, "hosts"), "a") as f:
                f.write(f"{host}\thost.containers.internal\n")
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with store.transaction() as db:
            if db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone():
                raise ContainerError(f"the name `{name}` is in use by another container: "
                                     "remove it or choose another name")
            db.execute("INSERT INTO containers (id, name, image_id, created, state, options) "
                       "VALUES (?, ?, ?, ?, 'created', ?)",
                       (cid, name, image_id, now(), json.dumps(opts)))
    except BaseException:
        from minirun.engine.store import remove_tree
        remove_tree(d)
        _drop_anonymous(store, opts)
        raise
    return cid


def _drop_anonymous(store: Store, opts: dict) -> None:
    """The anonymous volumes a failed create made: nothing else knows them."""
    from minirun.engine import volumes
    for name in (opts.get("anonymous_volumes") or {}).values():
        try:
            volumes.remove(store, name, force=True)
        except MiniRunError:
            pass                   # never made


def random_name(store: Store) -> str:
    """adjective_scientist, as podman names containers; a number if taken."""
    r = os.urandom(3)
    name = f"{_ADJ[r[0] % len(_ADJ)]}_{_NOUN[r[1] % len(_NOUN)]}"
    if store.db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone():
        name += f"_{r[2]}"
    return name


def remove_upper(store: Store, cid: str) -> None:
    """A stopped container's writable layer, removed ahead of the rest: the
    space a container that filled the disk holds (see lifecycle.remove)."""
    from minirun.engine import userns
    userns.remove_tree(os.path.join(container_dir(store, cid), "upper"))


def remove_files(store: Store, cid: str) -> None:
    """The container's directory (its upper layer holds files of every id the
    container used: rootless, only root of the user namespace may remove
    them) and its record."""
    from minirun.engine import userns
    userns.remove_tree(container_dir(store, cid))
    with store.transaction() as db:
        row = db.execute("SELECT image_id, options FROM containers WHERE id=?",
                         (cid,)).fetchone()
        db.execute("DELETE FROM containers WHERE id=?", (cid,))
    if row and json.loads(row[1] or "{}").get("lazy"):   # its lazy mount, if it was the last
        from minirun.lazy import mount
        mount.release_unused(store, row[0])


def image_name(store: Store, image_id: str) -> str:
    names = store.names_of(image_id)
    return names[0] if names else hex_of(image_id)[:12]

