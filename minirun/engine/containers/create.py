"""create: a container's record, its directory (the bundle, hosts,
hostname, resolv.conf) and what it claims (volumes, ports, a name), in
that order; if one step fails, what the earlier ones made goes again."""
import json
import os

from minirun.engine.containers.bundle import build_config
from minirun.engine.containers.records import ContainerError, container_dir, now, random_name
from minirun.engine.store import Store, check_name
from minirun.errors import MiniRunError


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
        from minirun.engine.network import networks as net_mod
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
            from minirun.engine.network import networks as network
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
            from minirun.engine.network.usernet import SLIRP_ADDRESS, SLIRP_DNS
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
    from minirun.engine.containers import volumes
    for name in (opts.get("anonymous_volumes") or {}).values():
        try:
            volumes.remove(store, name, force=True)
        except MiniRunError:
            pass                   # never made


def _host_for(store: Store, network: str | None) -> str | None:
    """The host's address from inside: a bridge's gateway (root); the host's
    own address, which slirp4netns's NAT reaches (also from a plain user's
    bridges, which go out through it); pasta's gateway, which it maps to the
    host."""
    from minirun.engine.network import networks as net_mod
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
