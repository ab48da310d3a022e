"""Helpers shared by the benchmarks: timing whole commands, medians."""
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the venv whose python runs the benchmark (make bench: the project's .venv)
BIN = os.path.dirname(os.path.abspath(sys.executable))


def workdir(prefix: str) -> str:
    """Scratch space for a benchmark, under .build/ rather than /tmp: on these
    machines creating a file under /tmp costs about 20 times more (something
    watches it), which would swamp what we measure."""
    import tempfile
    base = os.path.join(REPO, ".build", "bench")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def busybox_layout(directory: str) -> str:
    """The embedded busybox as an OCI layout tagged localhost/busybox, in
    ``directory``; its path."""
    layout = os.path.join(directory, "busybox")
    subprocess.run([sys.executable, os.path.join(REPO, "rootfs-tools", "build-image"), layout,
                    "--layer", os.path.join(REPO, ".build", "busybox", "rootfs"),
                    "--tag", "localhost/busybox:latest"], check=True, capture_output=True)
    return layout


def minirun_with_busybox(work: str, env: dict | None = None) -> list[str]:
    """`minirun --root WORK/store` holding localhost/busybox: its argv."""
    mr = [os.path.join(BIN, "minirun"), "--root", os.path.join(work, "store")]
    subprocess.run(mr + ["load", "-q", "-i", busybox_layout(work)], check=True, env=env)
    return mr


def timed(argv: list[str], **kw) -> float:
    """Wall seconds of one whole command, which must succeed."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed: {r.stderr.decode(errors='replace')}")
    return t


def alternate(runs: int, contenders: dict, warmup: int = 2) -> dict[str, list[float]]:
    """Run each contender in turn, ``runs`` times; contenders map a name to a
    function(i) -> seconds.  Alternating spreads drift over both."""
    for i in range(warmup):
        for fn in contenders.values():
            fn(-1 - i)
    times = {name: [] for name in contenders}
    for i in range(runs):
        for name, fn in contenders.items():
            times[name].append(fn(i))
    return times


def report(times: dict[str, list[float]]) -> dict[str, float]:
    medians = {}
    for name, ts in times.items():
        medians[name] = statistics.median(ts)
        print(f"{name:>10}: median {medians[name] * 1000:7.1f} ms   "
              f"min {min(ts) * 1000:7.1f} ms   max {max(ts) * 1000:7.1f} ms   (n={len(ts)})")
    return medians


class Side:
    """minirun and podman, each with a store of its own holding the busybox
    image as localhost/busybox (root, podman driving runc, cgroupfs)."""

    def __init__(self, name: str):
        import shutil
        import tempfile
        if os.geteuid() != 0:
            sys.exit(f"bench {name}: run as root")
        if shutil.which("podman") is None:
            sys.exit(f"bench {name}: podman is not installed (scripts/setup-host)")
        self.work = workdir(name + "-")
        # podman names an oci: image after its path, and `.build` is no valid name
        self.layout_dir = tempfile.mkdtemp(prefix="minirun-bench-layout-")
        layout = busybox_layout(self.layout_dir)
        conf = os.path.join(self.work, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                    'events_logger = "none"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.mr = [os.path.join(BIN, "minirun"), "--root", os.path.join(self.work, "minirun")]
        self.runroot = f"/run/minirun-bench-{os.getpid()}"   # podman: at most 50 characters
        self.pm = ["podman", "--root", os.path.join(self.work, "podman"),
                   "--runroot", self.runroot]
        subprocess.run(self.mr + ["load", "-q", "-i", layout], check=True, env=self.env)
        subprocess.run(self.pm + ["pull", "-q", f"oci:{layout}"], check=True, env=self.env,
                       stdout=subprocess.DEVNULL)
        image = subprocess.run(self.pm + ["images", "-q"], env=self.env, text=True,
                               capture_output=True).stdout.split()[0]
        subprocess.run(self.pm + ["tag", image, "localhost/busybox:latest"], check=True,
                       env=self.env)

    def both(self, *args: str) -> None:
        """The same command line to both, ignoring failures (clean-up)."""
        for cli in (self.mr, self.pm):
            subprocess.run(cli + list(args), env=self.env, capture_output=True)

    def close(self) -> None:
        import shutil
        subprocess.run(self.mr + ["rm", "-fa"], env=self.env, capture_output=True)
        subprocess.run(self.pm + ["rm", "-af", "-t", "0"], env=self.env, capture_output=True)
        subprocess.run(self.pm + ["rmi", "-af"], env=self.env, capture_output=True)
        subprocess.run(["umount", "-l", os.path.join(self.work, "podman", "overlay")],
                       capture_output=True)
        for path in (self.work, self.layout_dir, self.runroot):
            shutil.rmtree(path, ignore_errors=True)
