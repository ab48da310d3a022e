"""pull: `minirun pull` against `podman pull` of the large ML image from the
same local registry, each into an empty store every time, alternating.

Also prints the pull throughput and, as the physical limit for gzip layers,
the single-core gunzip speed of this machine on the same layers.  Last
line: ratio minirun/podman = R.  Needs `make registry` (builds the images).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench.common import BIN, REPO, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ADDR = os.environ.get("BENCH_REGISTRY", "127.0.0.1:5000")
IMAGE = f"{ADDR}/minirun/ml:latest"


def layout_blobs() -> list[tuple[str, int]]:
    layout = os.path.join(REPO, ".build", "images", "ml")
    with open(os.path.join(layout, "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", mdigest[7:])) as f:
        layers = json.load(f)["layers"]
    return [(os.path.join(layout, "blobs", "sha256", x["digest"][7:]), x["size"]) for x in layers]


def gunzip_speed(blobs) -> tuple[float, float]:
    """(compressed MB/s, uncompressed MB/s) of `gzip -dc` on one core."""
    t0, out = time.perf_counter(), 0
    for path, _ in blobs:
        r = subprocess.run(["sh", "-c", f"gzip -dc '{path}' | wc -c"], capture_output=True,
                           text=True, check=True)
        out += int(r.stdout)
    t = time.perf_counter() - t0
    return sum(s for _, s in blobs) / t / 1e6, out / t / 1e6


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench pull: run as root (podman and minirun both pull as root here)")
    try:
        blobs = layout_blobs()
    except OSError:
        sys.exit("bench pull: the ML image is not built: run `make registry` first")
    subprocess.run([os.path.join(REPO, "rootfs-tools", "local-registry"), "start"], check=True)
    work = workdir("pull-")
    conf = os.path.join(work, "registries.conf")
    with open(conf, "w") as f:
        f.write(f'[[registry]]\nlocation = "{ADDR}"\ninsecure = true\n')
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf)
    times = {"minirun": [], "podman": []}
    try:
        for i in range(RUNS):
            for name in times:
                store = os.path.join(work, f"{name}-{i}")
                if name == "minirun":
                    argv = [os.path.join(BIN, "minirun"), "--root", store, "pull", "-q", IMAGE]
                else:
                    argv = ["podman", "--root", store, "--runroot", store + "-run", "pull", "-q",
                            "--tls-verify=false", IMAGE]
                subprocess.run(["sync"])
                t0 = time.perf_counter()
                r = subprocess.run(argv, env=env, capture_output=True, text=True)
                times[name].append(time.perf_counter() - t0)
                if r.returncode != 0:
                    sys.exit(f"bench pull: {name} failed: {r.stderr}")
                if name == "podman":
                    subprocess.run(["podman", "--root", store, "--runroot", store + "-run",
                                    "rmi", "-af"], capture_output=True)
                    subprocess.run(["umount", "-l", store + "/overlay"], capture_output=True)
                shutil.rmtree(store, ignore_errors=True)
                shutil.rmtree(store + "-run", ignore_errors=True)
        size = sum(s for _, s in blobs)
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            print(f"{k:>8}: median {med[k]:6.2f} s  ({size / med[k] / 1e6:6.1f} MB/s of "
                  f"compressed layers)  runs {', '.join(f'{t:.2f}' for t in v)}")
        gz_c, gz_u = gunzip_speed(blobs)
        print(f"image: {size / 1e6:.0f} MB compressed in {len(blobs)} layers; single-core "
              f"gunzip: {gz_c:.1f} MB/s compressed ({gz_u:.1f} MB/s out)")
        print(f"ratio minirun/podman = {med['minirun'] / med['podman']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
