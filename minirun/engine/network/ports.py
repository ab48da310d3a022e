"""Published ports (-p, -P): read as podman reads them, and claimed when a
container is made, so that two containers never publish one host port and
none publishes a port something on the host listens on.  The claim is the
container's record (its options' ``ports``); nat.py turns the records of
running containers into DNAT rules, usernet.py hands them to slirp4netns
or pasta.
"""
import json
import socket

from minirun.engine.network.modes import NetworkError
from minirun.engine.store import Store


def parse_publish(specs: list[str], exposed: list[str] | None = None) -> list[dict]:
    """-p [IP:][HOST:]CONTAINER[/tcp|/udp] (and -P: the image's exposed ports,
    on free host ports), as podman reads them."""
    import ipaddress
    out = []
    for spec in specs:
        text, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = text.rsplit(":", 2)
        ip = parts[0] if len(parts) == 3 else ""
        host = parts[-2] if len(parts) >= 2 else ""
        try:
            if ip:
                ipaddress.IPv4Address(ip)
            container = int(parts[-1])
            host_port = int(host) if host else 0
            if proto not in ("tcp", "udp") or not (0 < container < 65536) or \
                    not (0 <= host_port < 65536):
                raise ValueError
        except ValueError:
            raise NetworkError(f"-p {spec}: give [IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp], "
                               "e.g. 8080:80 or 127.0.0.1:8080:80/udp") from None
        out.append({"host_ip": ip, "host_port": host_port, "container_port": container,
                    "protocol": proto})
    for port in exposed or []:
        number, _, proto = port.partition("/")
        out.append({"host_ip": "", "host_port": 0, "container_port": int(number),
                    "protocol": proto or "tcp"})
    return out


def claim_ports(store: Store, ports: list[dict], cid: str = "") -> list[dict]:
    """Check each host port is free (no other container's, no process's on
    the host) and pick free ones where none was named."""
    taken = set()
    for (options,) in store.db.execute("SELECT options FROM containers WHERE id != ?", (cid,)):
        for p in (json.loads(options or "{}").get("ports") or []):
            taken.add((p["host_port"], p["protocol"]))
    out = []
    for p in ports:
        kind = socket.SOCK_STREAM if p["protocol"] == "tcp" else socket.SOCK_DGRAM
        if (p["host_port"], p["protocol"]) in taken and p["host_port"]:
            raise NetworkError(f"port {p['host_port']}/{p['protocol']} is published by another "
                               "container already")
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((p["host_ip"] or "0.0.0.0", p["host_port"]))
            except OSError as e:
                raise NetworkError(f"port {p['host_port']}/{p['protocol']} on the host: "
                                   f"{e.strerror} (something else listens there?)") from None
            out.append({**p, "host_port": probe.getsockname()[1]})
        taken.add((out[-1]["host_port"], p["protocol"]))
    return out
