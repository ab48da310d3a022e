"""run and exec: `minirun run --rm busybox true` against `podman run --rm
busybox true` (root, --network none, a cached image, runc under podman),
alternating; then `exec true` into a running container of each.
Last lines: ratio minirun/podman = R (run), then for exec."""
import os
import shutil
import subprocess
import sys

from bench.common import BIN, REPO, alternate, report, timed, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench run_exec: run as root")
    if shutil.which("podman") is None:
        sys.exit("bench run_exec: podman is not installed (scripts/setup-host)")
    work = workdir("run-exec-")
    # podman names an oci: image after its path, and `.build` is no valid name
    import tempfile
    layout_dir = tempfile.mkdtemp(prefix="minirun-bench-layout-")
    layout = os.path.join(layout_dir, "busybox")
    subprocess.run([sys.executable, os.path.join(REPO, "rootfs-tools", "build-image"), layout,
                    "--layer", os.path.join(REPO, ".build", "busybox", "rootfs")], check=True,
                   capture_output=True)
    conf = os.path.join(work, "containers.conf")
    with open(conf, "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                'events_logger = "none"\n')
    env = dict(os.environ, CONTAINERS_CONF=conf)
    mr = [os.path.join(BIN, "minirun"), "--root", os.path.join(work, "minirun")]
    runroot = f"/run/minirun-bench-{os.getpid()}"   # podman wants at most 50 characters
    pm = ["podman", "--root", os.path.join(work, "podman"), "--runroot", runroot]
    subprocess.run(mr + ["load", "-q", "-i", layout], check=True, env=env)
    subprocess.run(mr + ["tag", "localhost/unnamed:latest", "localhost/busybox:latest"],
                   check=True, env=env)
    subprocess.run(pm + ["pull", "-q", f"oci:{layout}"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(pm + ["tag", subprocess.run(pm + ["images", "-q"], env=env, text=True,
                                               capture_output=True).stdout.split()[0],
                         "localhost/busybox:latest"], check=True, env=env)
    try:
        run = alternate(RUNS, {
            "minirun": lambda i: timed(mr + ["run", "--rm", "--network", "none",
                                             "localhost/busybox", "true"], env=env),
            "podman": lambda i: timed(pm + ["run", "--rm", "--network", "none",
                                            "localhost/busybox", "true"], env=env),
        })
        print("run --rm busybox true:")
        m = report(run)
        run_ratio = m["minirun"] / m["podman"]
        subprocess.run(mr + ["run", "-d", "--name", "bench", "--network", "none",
                             "localhost/busybox", "sleep", "1000"], check=True, env=env,
                       capture_output=True)
        subprocess.run(pm + ["run", "-d", "--name", "bench", "--network", "none",
                             "localhost/busybox", "sleep", "1000"], check=True, env=env,
                       capture_output=True)
        ex = alternate(RUNS, {
            "minirun": lambda i: timed(mr + ["exec", "bench", "true"], env=env),
            "podman": lambda i: timed(pm + ["exec", "bench", "true"], env=env),
        })
        print("exec bench true:")
        e = report(ex)
        print(f"ratio minirun/podman (run) = {run_ratio:.2f}")
        print(f"ratio minirun/podman = {e['minirun'] / e['podman']:.2f}")
    finally:
        subprocess.run(mr + ["rm", "-f", "bench"], env=env, capture_output=True)
        subprocess.run(pm + ["rm", "-f", "-t", "0", "bench"], env=env, capture_output=True)
        subprocess.run(pm + ["rmi", "-af"], env=env, capture_output=True)
        subprocess.run(["umount", "-l", os.path.join(work, "podman", "overlay")],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(layout_dir, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)
