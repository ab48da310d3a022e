"""gpu: what GPU injection adds to a start.  `minirun run --rm --gpus all
busybox true` against `minirun run --rm busybox true` (root, a cached
image), alternating in one run, on the fake NVIDIA driver root of the tests
(tests/gpu/fakedriver.py: two GPUs, real device nodes, nine driver
libraries): the CDI spec generated in memory, its edits applied, the
device nodes made and allowed, the libraries bound, and NVIDIA's
create-symlinks and update-ldcache hooks done by the runtime itself.
On a machine with a real card, set MINIRUN_DRIVER_ROOT=/ to measure it.
Last line: ratio gpu/plain = R (the target is 1.15 or less)."""
import os
import shutil
import sys

from bench.common import REPO, alternate, minirun_with_busybox, report, timed, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench gpu: run as root (the fake driver's device nodes are made with mknod)")
    work = workdir("gpu-")
    env = dict(os.environ)
    if "MINIRUN_DRIVER_ROOT" not in env:
        sys.path.insert(0, REPO)
        from tests.gpu import fakedriver
        env["MINIRUN_DRIVER_ROOT"] = fakedriver.build(os.path.join(work, "driver")).root
    env["MINIRUN_CDI_DIRS"] = os.path.join(work, "cdi")       # no spec file: generated
    mr = minirun_with_busybox(work)
    base = mr + ["run", "--rm", "--network", "none"]
    try:
        times = alternate(RUNS, {
            "plain": lambda i: timed(base + ["busybox", "true"], env=env),
            "gpu": lambda i: timed(base + ["--gpus", "all", "busybox", "true"], env=env),
        })
        print("run --rm --network none busybox true, without and with --gpus all "
              f"(driver root {env['MINIRUN_DRIVER_ROOT']}):")
        m = report(times)
        print(f"ratio gpu/plain = {m['gpu'] / m['plain']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
