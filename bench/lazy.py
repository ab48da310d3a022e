"""lazy: starting a large image before it is downloaded, against a full pull.

The registry (Debian's docker-registry) runs in a network namespace of its
own behind a veth pair shaped with tbf on both ends (this kernel has no
netem), and a delaying proxy in front of it adds the round trip.  The ML
image (`make images`: Debian's Python and PyTorch, about 1 GB unpacked) is
pushed there with its lazy indexes.  Then, on an empty store each time, the
time to the first line of output and the bytes that crossed the link
before it:

  - minirun: pull, then run;
  - minirun: run --lazy;
  - minirun: run --lazy with a prefetch profile recorded for the workload
    (`minirun lazy record`, pushed with the index; another repository, so
    that the plain lazy row has none);
  - podman: pull, then run;

for `python3 -c "print('ready')"` and `python3 -c "import torch; ..."`,
at 200 Mbit/s with 20 ms RTT and at 1 Gbit/s with 2 ms.

Last line: ratio lazy/full = R (the first workload at 200 Mbit/s).
Flags: BENCH_LAZY_LINKS="200:20,1000:2" (Mbit/s:RTT ms).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

from bench.common import BIN, REPO, workdir

IMAGE_LAYOUT = os.path.join(REPO, ".build", "images", "ml")
NETNS = "mrbench-lazy"
HOST_IP, REGISTRY_IP = "10.250.0.1", "10.250.0.2"
WORKLOADS = {"ready": ["python3", "-c", "print('ready')"],
             "torch": ["python3", "-c", "import torch; print(torch.ones(2).sum())"]}


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench lazy: {' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class DelayProxy:
    """127.0.0.1:PORT -> the registry, each byte held back RTT/2 each way;
    counts the bytes that come from the registry."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.delay, self.down = target, 0.0, 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for a, b, down in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, down), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, down: bool):
        import queue
        q: "queue.Queue" = queue.Queue()

        def writer():
            while True:
                due, data = q.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    dst.sendall(data)
                except OSError:
                    break
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        while True:
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            if down:
                self.down += len(data)
            q.put((time.monotonic() + self.delay, data or None))
            if not data:
                break


class Link:
    """The registry's namespace, veth and shaping."""

    def __init__(self, work: str):
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
        sh("ip", "netns", "add", NETNS)
        sh("ip", "link", "add", "mrbench0", "type", "veth", "peer", "name", "mrbench1",
           "netns", NETNS)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", "mrbench0")
        sh("ip", "link", "set", "mrbench0", "up")
        for cmd in (["ip", "addr", "add", f"{REGISTRY_IP}/30", "dev", "mrbench1"],
                    ["ip", "link", "set", "mrbench1", "up"], ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", NETNS, *cmd)
        data = os.path.join(work, "registry")
        os.makedirs(data)
        config = os.path.join(work, "registry.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {data}\nhttp:\n  addr: {REGISTRY_IP}:5000\n")
        self.registry = subprocess.Popen(["ip", "netns", "exec", NETNS, "docker-registry",
                                          "serve", config], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection((REGISTRY_IP, 5000), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

    def shape(self, mbit: int) -> None:
        burst = max(mbit * 1000 * 1000 // 8 // 100, 64 * 1514)
        for prefix in ([], ["ip", "netns", "exec", NETNS]):
            dev = "mrbench1" if prefix else "mrbench0"
            subprocess.run(prefix + ["tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True)
            sh(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
               f"{mbit}mbit", "burst", str(burst), "latency", "100ms")

    def close(self) -> None:
        self.registry.terminate()
        self.registry.wait()
        subprocess.run(["ip", "link", "del", "mrbench0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


def first_output(argv: list[str], env: dict, proxy: DelayProxy) -> tuple[float, int, str]:
    """(seconds to the first line of output, bytes from the registry by
    then, that line); the command must succeed.  The disk is synced first:
    what the row before wrote must not be written out during this one."""
    os.sync()
    time.sleep(1)
    before = proxy.down
    started = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = p.stdout.readline()
    seconds, fetched = time.monotonic() - started, proxy.down - before
    _, err = p.communicate()
    if p.returncode != 0:
        sys.exit(f"bench lazy: {' '.join(argv)} failed: {err.decode(errors='replace')}")
    return seconds, fetched, line.decode().strip()


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench lazy: run as root (network namespaces, tc)")
    if not os.path.exists(os.path.join(IMAGE_LAYOUT, "index.json")):
        sys.exit("bench lazy: no ML image: `make images` builds it (PyTorch, minutes)")
    links = [tuple(map(int, pair.split(":"))) for pair in
             os.environ.get("BENCH_LAZY_LINKS", "200:20,1000:2").split(",")]
    work = workdir("lazy-")
    link = Link(work)
    proxy = DelayProxy((REGISTRY_IP, 5000))
    registry = f"127.0.0.1:{proxy.port}"
    image = f"{registry}/bench/ml:latest"
    recorded = f"{registry}/bench/ml-recorded:latest"
    conf = os.path.join(work, "registries.conf")
    with open(conf, "w") as f:
        f.write(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
    podconf = os.path.join(work, "containers.conf")
    with open(podconf, "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                'events_logger = "none"\n')
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf, CONTAINERS_CONF=podconf)
    minirun = os.path.join(BIN, "minirun")
    results = []
    try:
        indexer = [minirun, "--root", os.path.join(work, "indexer")]
        for name in (image, recorded):
            sh("skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{IMAGE_LAYOUT}",
               f"docker://{name}")
            sh(*indexer, "lazy", "index", "--push", name, env=env)
        size = sum(d["size"] for d in json.loads(sh(
            "skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}").stdout)[
            "layers"])
        print(f"image: {size / 1e6:.0f} MB compressed, in a registry behind a shaped veth")
        for mbit, rtt in links:
            link.shape(mbit)
            proxy.delay = rtt / 2000
            for workload, cmd in WORKLOADS.items():
                sh(*indexer, "lazy", "record", recorded, *cmd, env=env)
                sh(*indexer, "lazy", "index", "--push", recorded, env=env)
                for mode in ("minirun full", "minirun lazy", "minirun prefetch", "podman full"):
                    store = os.path.join(work, f"s-{mbit}-{workload}-{mode.replace(' ', '-')}")
                    if mode.startswith("minirun"):
                        argv = [minirun, "--root", store, "run", "--rm", "--network", "none"] + \
                            (["--lazy"] if not mode.endswith("full") else []) + \
                            [recorded if mode.endswith("prefetch") else image] + cmd
                    else:
                        runroot = f"/run/mrb-{os.getpid()}-{len(results)}"
                        argv = ["sh", "-c", 'podman --root "$1" --runroot "$2" pull -q "$3" '
                                '>/dev/null && r="$1" && rr="$2" && shift 2 && '
                                'exec podman --root "$r" --runroot "$rr" run --rm '
                                '--network none "$@"', "sh", store, runroot, image] + cmd
                    seconds, fetched, line = first_output(argv, env, proxy)
                    results.append((mbit, rtt, workload, mode, seconds, fetched, line))
                    print(f"{mbit:5d} Mbit/s {rtt:3d} ms  {workload:6s} {mode:13s} "
                          f"first output after {seconds:6.2f} s, {fetched / 1e6:7.1f} MB "
                          f"({100 * fetched / size:5.1f}% of the image) fetched: {line}",
                          flush=True)
                    if mode.startswith("minirun"):
                        subprocess.run([minirun, "--root", store, "rm", "-fa"],
                                       capture_output=True)
                    shutil.rmtree(store, ignore_errors=True)
        by = {(m, w, mode): s for m, _, w, mode, s, _, _ in results}
        first = links[0][0]
        for mbit, _ in links:
            for w in WORKLOADS:
                full = by[(mbit, w, 'minirun full')]
                print(f"ratio lazy/full {w} at {mbit} Mbit/s = "
                      f"{by[(mbit, w, 'minirun lazy')] / full:.2f}; prefetch/full = "
                      f"{by[(mbit, w, 'minirun prefetch')] / full:.2f}; lazy/podman = "
                      f"{by[(mbit, w, 'minirun lazy')] / by[(mbit, w, 'podman full')]:.2f}")
        print(f"ratio lazy/full = "
              f"{by[(first, 'ready', 'minirun lazy')] / by[(first, 'ready', 'minirun full')]:.2f}")
    finally:
        proxy.listener.close()
        link.close()
        subprocess.run(["sh", "-c", "grep minirun-lazy /proc/self/mountinfo | "
                        "awk '{print $5}' | xargs -r -n1 umount -l"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
