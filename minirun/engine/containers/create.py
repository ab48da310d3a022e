"""create: a container's record, its directory (the bundle, hosts,
hostname, resolv.conf) and what it claims (volumes, ports, a name), in
that order; if one step fails, what the earlier ones made goes again.

Why (``--explain`` prints the item under the step):

- image present: the image's layers are in the store already, unpacked
  once and shared read-only by every container made from it: nothing to
  download (containers-storage(5))
- pull: the image is not in the store: it is fetched from a registry,
  every layer checked against its digest and unpacked (podman-pull(1))
- bundle: what the runtime needs, in one directory: config.json (the
  image's config and the flags, as the OCI runtime-spec says) and empty
  upper and work directories for the overlay its root will be (runc(8))
"""
import json
import os
import sys

from minirun import explain

from minirun.engine.containers import bundle, volumes
from minirun.engine.containers.records import ContainerError, container_dir, now, random_name
from minirun.engine.containers.spec import ContainerSpec
from minirun.engine.store import Store
from minirun.errors import MiniRunError
from minirun.runtime.checks import LIMITS_WARNED


def create(store: Store, spec: ContainerSpec, owner: int = 0) -> str:
    """Record a container made from ``spec`` and write its bundle; its id.
    The config is built (and so checked) before anything is made.
    ``owner``: the pid of a process (the Python API's caller) whose death
    ends and removes the container (monitor.py watches it)."""
    image_id = store.lookup(spec.image)
    cid = os.urandom(32).hex()       # (the secrets module costs 4 ms to import)
    name = spec.name or random_name(store)
    _check_network(store, spec)
    if spec.cidfile and os.path.lexists(spec.cidfile):
        raise ContainerError(f"--cidfile {spec.cidfile}: the file exists; another container "
                             "may be using it: remove it or name another")
    d = container_dir(store, cid)
    layers = bundle.layer_paths(store, image_id, spec)
    image = bundle.image_config(store, image_id)
    joined = None
    if spec.joins:              # a pod's member: its infra's namespaces, where it runs
        from minirun.engine.containers import joining
        joined = joining.paths(store, spec.joins)
    made = bundle.build(spec, image, layers, cid=cid, directory=d,
                        volume_dir=volumes.volume_dir(store), joined=joined)
    warned = LIMITS_WARNED in made.config["annotations"]
    if warned:      # podman's word, at create (the launch, seeing the mark, says nothing)
        print("Resource limits are not supported and ignored on cgroups V1 rootless systems",
              file=sys.stderr)
    ports = _claim_ports(store, spec, image)
    new_volumes = {v for v, _ in made.volumes if not volumes.exists(store, v)}
    os.makedirs(d, mode=0o700)
    try:
        for sub in ("rootfs", "upper", "work"):
            os.mkdir(os.path.join(d, sub), 0o755)
        _write_etc(store, d, spec, made.config["hostname"], name)
        for file, text in made.files.items():
            with open(os.path.join(d, file), "w") as f:
                f.write(text)
        for volume, dest in made.volumes:
            volumes.mount_source(store, volume, layers, dest)
        if spec.secrets:
            from minirun.engine.containers import secrets
            secrets.apply(store, made.config, list(spec.secrets), d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(made.config, f, indent=2)
        explain.say(f"bundle {d}: config.json, upper/ and work/ over {len(layers)} "
                    "read-only layer(s)", why="bundle")
        options = {**spec._asdict(), "ports": ports, "anonymous_volumes": made.anonymous,
                   "stop_signal": made.stop_signal,
                   # the check that runs: its own, else its image's (read once, here)
                   "healthcheck": spec.healthcheck if spec.healthcheck is not None
                   else image.get("Healthcheck")}
        if warned:
            options["resources"] = {}       # not kept: inspect shows none, as podman
        if owner:
            from minirun.runtime.state import proc_start_time
            options["owner"] = f"{owner}:{proc_start_time(owner)}"
        if spec.replace and spec.name:
            _replace(store, spec.name)
        with store.transaction() as db:
            if db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone():
                raise ContainerError(f"the name `{name}` is in use by another container: "
                                     "remove it or choose another name")
            db.execute("INSERT INTO containers (id, name, image_id, created, state, options) "
                       "VALUES (?, ?, ?, ?, 'created', ?)",
                       (cid, name, image_id, now(), json.dumps(options)))
        if spec.cidfile:
            write_id_file(spec.cidfile, cid)
        from minirun.engine import events
        events.emit(store.root, "container", "create", cid, name, spec.image)
    except BaseException:
        from minirun.engine.store import remove_tree
        remove_tree(d)
        _drop_volumes(store, new_volumes)
        _forget(store, cid)
        raise
    return cid


def _replace(store: Store, name: str) -> None:
    """--replace: the container of that name (running or not) removed first."""
    from minirun.engine.containers import lifecycle
    try:
        lifecycle.remove(store, name, force=True)
    except ContainerError:
        pass                            # none by that name: nothing to replace


def write_id_file(path: str, ident: str, flag: str = "--cidfile") -> None:
    """--cidfile (pod create's --pod-id-file): the id written to a new file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise ContainerError(f"{flag} {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(ident)


def _forget(store: Store, cid: str) -> None:
    """A record made before a later step failed (the cidfile) goes again."""
    with store.transaction() as db:
        db.execute("DELETE FROM containers WHERE id=?", (cid,))


def _check_network(store: Store, spec: ContainerSpec) -> None:
    """What the spec asks of the network is there, and fits its mode."""
    from minirun.engine.network import modes
    if modes.bridged(spec.network):
        from minirun.engine.network import bridge
        bridge.require(store, spec.network)
        if spec.userns == "keep-id" and os.geteuid() != 0:
            raise ContainerError("--userns keep-id: a plain user's bridge networks live in "
                                 "one user namespace with the default id maps; use "
                                 "--network pasta or slirp4netns with keep-id")
    elif spec.aliases:
        raise ContainerError("--network-alias: aliases are names on a network of ours "
                             "(--network bridge or a named one)")
    if (spec.publish or spec.publish_all) and not modes.private(spec.network):
        raise ContainerError("-p/-P: publishing a port needs a private network "
                             "(bridge, a named network, pasta or slirp4netns)")


def _claim_ports(store: Store, spec: ContainerSpec, image: dict) -> list[dict]:
    """-p and -P: the host ports, claimed in the store (a port taken is refused)."""
    if not (spec.publish or spec.publish_all):
        return []
    from minirun.engine.network import ports
    exposed = sorted(set(image.get("ExposedPorts") or {}) | set(spec.expose)) \
        if spec.publish_all else []
    return ports.claim_ports(store, ports.parse_publish(list(spec.publish), exposed))


def _write_etc(store: Store, d: str, spec: ContainerSpec, hostname: str, name: str) -> None:
    """The container's hostname, hosts and resolv.conf, as podman writes them."""
    with open(os.path.join(d, "hostname"), "w") as f:
        f.write(hostname + "\n")
    # as podman: the host's entries, then the container's own name
    try:
        with open("/etc/hosts") as f:
            base = f.read()
    except OSError:
        base = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
    hosts = [base.rstrip("\n") + f"\n127.0.0.1\t{hostname} {name}\n"]
    resolv = None                     # None: the host's
    if spec.network == "slirp4netns":    # slirp's own DNS forwarder
        from minirun.engine.network.usernet import SLIRP_ADDRESS, SLIRP_DNS
        resolv = f"nameserver {SLIRP_DNS}\n"
        hosts.append(f"{SLIRP_ADDRESS}\t{hostname} {name}\n")
    elif spec.network == "pasta":
        own = _default_route()[0]     # pasta gives the container the host's address
        if own:
            hosts.append(f"{own}\t{hostname} {name}\n")
    if spec.dns and spec.network != "none":        # --dns, as podman
        resolv = "".join(f"nameserver {server}\n" for server in spec.dns)
    host = _host_for(store, spec.network)
    if host:                     # podman's name for the host, as the container reaches it
        hosts.append(f"{host}\thost.containers.internal\n")
    from minirun.engine.containers.tuning import hosts_lines
    hosts += hosts_lines(spec)
    with open(os.path.join(d, "hosts"), "w") as f:
        f.write("".join(hosts))
    if spec.network == "none":
        return
    if resolv is None:
        try:
            import shutil
            shutil.copyfile("/etc/resolv.conf", os.path.join(d, "resolv.conf"))
            return
        except OSError:
            resolv = ""
    with open(os.path.join(d, "resolv.conf"), "w") as f:
        f.write(resolv)


def _drop_volumes(store: Store, names: set[str]) -> None:
    """The volumes a failed create made (anonymous, or named here first):
    they were not there before it."""
    for name in sorted(names):
        try:
            volumes.remove(store, name, force=True)
        except MiniRunError:
            pass                   # never made


def _host_for(store: Store, network: str | None) -> str | None:
    """The host's address from inside: a bridge's gateway (root); the host's
    own address, which slirp4netns's NAT reaches (also from a plain user's
    bridges, which go out through it); pasta's gateway, which it maps to the
    host."""
    from minirun.engine.network import modes
    if modes.bridged(network) and os.geteuid() == 0:
        from minirun.engine.network import bridge
        return bridge.find(store, network)["gateway"]
    if network == "pasta":
        return _default_route()[1]
    if modes.private(network):
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


def ensure_image(root: str | None, image: str, policy: str = "missing", *, lazy: bool = False,
           store: Store | None = None) -> None:
    """The image a container needs, made present: --pull always, missing (the
    default) or never; ``lazy`` pulls lazily (engine/lazy).  An image left
    lazy by an earlier pull is completed for a container that does not ask
    for lazy layers."""
    from minirun.engine.store import ImageNotFound
    store = store or Store(root)
    image_id = None
    if policy != "always":
        try:
            image_id = store.lookup(image)
        except ImageNotFound:
            if policy == "never":
                raise
    if image_id is not None:
        explain.say(f"image {image} present in the store: {image_id[7:19]}",
                    why="image present")
    else:
        explain.say(f"image {image} not in the store: pull it", why="pull")
    if image_id is None and lazy and policy != "always":
        from minirun.engine.lazy import pull as lazy_pull
        lazy_pull.pull(root, image)
    elif image_id is None:
        from minirun.engine.images import service
        service.pull(root, image, quiet=policy == "always" or not sys.stderr.isatty())
    elif not lazy and os.path.exists(store.lazy_record(image_id)):
        from minirun.engine.lazy import pull as lazy_pull
        lazy_pull.complete(root, image_id)     # started lazily before: fetch the rest
