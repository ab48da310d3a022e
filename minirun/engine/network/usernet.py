"""User-mode networking: a container's network namespace connected to the
host by a process of ours rather than by a device on the host, so that a
plain user can have a network too.

slirp4netns
    a tap device in the namespace, and a TCP/IP stack in a user process
    (libslirp) at its other end: the container is 10.0.2.100, the gateway
    10.0.2.2, a DNS forwarder 10.0.2.3; what leaves is NATed to sockets
    of the user's on the host.  Ports are published through its API socket.
pasta (of the passt project; podman's default since 5.0)
    a tap device too, but no NAT: the container gets the host's own address
    and routes, and pasta turns its packets into the host's sockets and
    back (layer 4).  The gateway's address reaches the host's loopback.
    Ports are published with -t/-u when it starts.

Both enter the namespace before the container starts: a network namespace
kept by a bind-mounted file (root), or the namespaces of a holder process
(a plain user: engine/userns.hold).  Both go when the monitor goes:
slirp4netns through its exit fd, pasta by a parent-death signal (and, for a
namespace file, when the file is removed).

Why each is started (``--explain`` prints the item under it):

- slirp4netns: a plain user may not put a device on the host: a process of
  the user's carries the container's packets, NATed to the user's own
  sockets (slirp4netns(1))
- hostfwd: a published port: slirp4netns listens on the host's port and
  forwards each connection into the container (slirp4netns(1))
- pasta: the same job without NAT: the container gets the host's address,
  and pasta turns its packets into the host's sockets and back (pasta(1))

See: slirp4netns(1), pasta(1)
"""
import os
import subprocess
import time

from minirun import explain
from minirun.errors import MiniRunError

SLIRP_ADDRESS, SLIRP_GATEWAY, SLIRP_DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"


class UserNetError(MiniRunError):
    """slirp4netns or pasta did not connect the namespace."""


def _target(netns: str | int) -> list[str]:
    """The namespace, as both tools name it: a file, or a process whose user
    and network namespaces to enter."""
    return [netns] if isinstance(netns, str) else [str(netns)]


def start_slirp(netns: str | int, ports: list[dict] | None = None, api: str | None = None,
                exit_fd: int = -1) -> int:
    """slirp4netns in ``netns`` (a namespace file, or a holder's pid); returns
    the fd whose closing stops it.  ``ports`` are published through its
    API socket: ``api`` (kept), or a temporary one.  With ``exit_fd``, it
    stops when that pipe's writers have gone instead (and -1 is returned)."""
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = (exit_fd, -1) if exit_fd >= 0 else os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(exit_r, True)
    temporary = None
    if ports and not api:
        from minirun.runtime.state import default_root
        os.makedirs(default_root(), mode=0o700, exist_ok=True)
        api = temporary = os.path.join(default_root(),
                                       f"slirp-{os.getpid()}-{time.monotonic_ns()}.sock")
    args = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
            f"--ready-fd={ready_w}", f"--exit-fd={exit_r}"] + \
        ([f"--api-socket={api}"] if api else [])
    if isinstance(netns, str):
        args += ["--netns-type=path"]
    elif os.geteuid() != 0:
        args.append(f"--userns-path=/proc/{netns}/ns/user")
    explain.say(" ".join(args + _target(netns) + ["tap0"]), why="slirp4netns")
    log = os.open(os.devnull, os.O_WRONLY)
    try:
        slirp = subprocess.Popen(args + _target(netns) + ["tap0"], pass_fds=[ready_w, exit_r],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.PIPE,
                                 start_new_session=True)
    finally:
        os.close(ready_w), os.close(log)
        if exit_fd < 0:
            os.close(exit_r)
    import select
    ready, _, _ = select.select([ready_r], [], [], 10)
    ok = bool(ready) and os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    if not ok:
        if exit_w >= 0:
            os.close(exit_w)
        why = slirp.stderr.read(4096).decode(errors="replace").strip() \
            if slirp.poll() is not None else "no answer within 10 s"
        raise UserNetError(f"slirp4netns did not bring the network up: {why}")
    slirp.stderr.close()
    try:
        for p in ports or []:
            slirp_forward(api, p)
    except BaseException:
        if exit_w >= 0:
            os.close(exit_w)
        raise
    finally:
        if temporary and os.path.exists(temporary):
            os.unlink(temporary)
    return exit_w


def _slirp_call(api: str, request: dict) -> dict:
    import json
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(api)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data or b"{}")


def slirp_forward(api: str, p: dict, guest_port: int = 0) -> None:
    """slirp4netns's API: forward a host port into the namespace (to
    ``guest_port``, the container's port unless given)."""
    explain.say(f"slirp4netns API: add_hostfwd {p['protocol']} {p['host_ip'] or '0.0.0.0'}:"
                f"{p['host_port']} -> {guest_port or p['container_port']}", why="hostfwd")
    answer = _slirp_call(api, {"execute": "add_hostfwd", "arguments": {
        "proto": p["protocol"], "host_addr": p["host_ip"] or "0.0.0.0",
        "host_port": p["host_port"], "guest_port": guest_port or p["container_port"]}})
    if "error" in answer:
        raise UserNetError(f"slirp4netns could not publish port {p['host_port']}: "
                           f"{answer['error'].get('desc', answer['error'])}")


def slirp_unforward(api: str, ports: list[dict]) -> None:
    """Take ports published with :func:`slirp_forward` away again."""
    listed = _slirp_call(api, {"execute": "list_hostfwd"}).get("return", {}).get("entries", [])
    wanted = {(p["protocol"], p["host_port"]) for p in ports}
    for entry in listed:
        if (entry.get("proto"), entry.get("host_port")) in wanted:
            _slirp_call(api, {"execute": "remove_hostfwd", "arguments": {"id": entry["id"]}})


def _pasta_ports(ports: list[dict], protocol: str) -> str:
    """pasta's -t/-u spec: ``[ADDR/]HOST:CONTAINER`` items, comma-separated."""
    return ",".join((f"{p['host_ip']}/" if p["host_ip"] else "") +
                    f"{p['host_port']}:{p['container_port']}"
                    for p in ports if p["protocol"] == protocol) or "none"


def start_pasta(netns: str | int, ports: list[dict] | None, log: str) -> subprocess.Popen:
    """pasta in ``netns``, with ``ports`` published; returns its process (it
    logs to ``log``).  It is ready when it has written its pid file."""
    from minirun.kernel import process
    import signal
    pidfile = log + ".pid"
    for path in (pidfile, log):
        if os.path.exists(path):
            os.unlink(path)
    open(pidfile, "w").close()
    args = ["pasta", "--config-net", "--foreground", "--quiet", "--log-file", log,
            "--pid", pidfile, "-t", _pasta_ports(ports or [], "tcp"),
            "-u", _pasta_ports(ports or [], "udp"), "-T", "none", "-U", "none"]
    if os.geteuid() == 0:
        # pasta drops to nobody by default, and then (Debian 12's) can no
        # longer enter the namespace; it still sandboxes itself (seccomp,
        # namespaces of its own), and it keeps root's uid, not more
        args += ["--runas", "0"]
    args += ["--netns", netns] if isinstance(netns, str) else [str(netns)]
    explain.say(" ".join(args), why="pasta")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: process.die_with_parent(signal.SIGTERM))
    deadline = time.monotonic() + 10
    try:
        while not os.path.getsize(pidfile):
            if proc.poll() is not None or time.monotonic() > deadline:
                try:
                    with open(log) as f:       # "0.5770: ERROR:   Failed to bind ..."
                        why = [f.read().strip().splitlines()[-1].split("ERROR:")[-1].strip()]
                except (OSError, IndexError):
                    why = []
                if proc.poll() is None:
                    proc.kill()
                    why = why or ["no answer within 10 s"]
                proc.wait()
                raise UserNetError("pasta did not bring the network up: " +
                                   (why[0] if why else f"it exited with {proc.returncode}"))
            time.sleep(0.002)
    finally:
        os.unlink(pidfile)
    return proc
