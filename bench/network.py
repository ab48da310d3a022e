"""network: what a private network costs, minirun against podman (root,
bridge networks: minirun0 against podman's netavark), in one run.

  - the start cost of a private network: `run --rm busybox true` with and
    without one, alternating; the difference is the network's cost;
  - TCP throughput from a container to the host through a published port:
    the container writes 256 MiB to its port, the host reads it.

Last lines: ratio start minirun/podman = R1, ratio throughput minirun/podman = R2."""
import os
import socket
import time

from bench.common import Side, alternate, report, timed

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
MIB = 256


def _throughput(cli: list[str], env: dict, name: str, port: int) -> float:
    """MB/s read from the container's published port (a fresh container)."""
    import subprocess
    subprocess.run(cli + ["run", "-d", "--name", name, "--network", "bridge", "-p",
                          f"{port}:5000", "localhost/busybox", "sh", "-c",
                          f"dd if=/dev/zero bs=1M count={MIB} 2>/dev/null | nc -l -p 5000"],
                   check=True, env=env, capture_output=True)
    try:
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                first = sock.recv(65536)
                if first:
                    break
                sock.close()
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit(f"bench network: nothing came from {name}'s published port")
        count, started = len(first), time.monotonic()
        while chunk := sock.recv(1 << 20):
            count += len(chunk)
        seconds = time.monotonic() - started
        sock.close()
        return count / seconds / 1e6
    finally:
        subprocess.run(cli + ["rm", "-f", name], env=env, capture_output=True)


def main() -> None:
    side = Side("network")
    mr, pm, env = side.mr, side.pm, side.env
    try:
        times = alternate(RUNS, {
            f"{who} {net}": (lambda cli, net: lambda i: timed(
                cli + ["run", "--rm", "--network", net, "localhost/busybox", "true"],
                env=env))(cli, net)
            for who, cli in (("minirun", mr), ("podman", pm)) for net in ("none", "bridge")})
        print("run --rm busybox true, without and with a private network:")
        m = report(times)
        cost = {who: m[f"{who} bridge"] - m[f"{who} none"] for who in ("minirun", "podman")}
        for who, c in cost.items():
            print(f"{who:>10}: a private network adds {c * 1000:.0f} ms")
        rates = {"minirun": [], "podman": []}
        for i in range(3):
            rates["minirun"].append(_throughput(mr, env, f"tput{i}", 18600 + i))
            rates["podman"].append(_throughput(pm, env, f"tput{i}", 18610 + i))
        best = {who: max(r) for who, r in rates.items()}
        for who, r in best.items():
            print(f"{who:>10}: {MIB} MiB container -> host through a published port: "
                  f"{r:.0f} MB/s (best of 3)")
        print(f"ratio start minirun/podman = {cost['minirun'] / cost['podman']:.2f}")
        print(f"ratio throughput minirun/podman = {best['minirun'] / best['podman']:.2f}")
    finally:
        side.close()
