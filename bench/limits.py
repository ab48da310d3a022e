"""limits: what resource limits add to a start.  `minirun run --rm busybox
true` with and without `--memory 256m --cpus 1 --pids-limit 100` (root, a
cached image), alternating in one run.  Last line: ratio limits/none = R."""
import os
import shutil
import sys

from bench.common import alternate, minirun_with_busybox, report, timed, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
LIMITS = ["--memory", "256m", "--cpus", "1", "--pids-limit", "100"]


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench limits: run as root (a plain user here has no cgroup to limit)")
    work = workdir("limits-")
    mr = minirun_with_busybox(work)
    try:
        times = alternate(RUNS, {
            "none": lambda i: timed(mr + ["run", "--rm", "busybox", "true"]),
            "limits": lambda i: timed(mr + ["run", "--rm", *LIMITS, "busybox", "true"]),
        })
        print("run --rm busybox true, without and with " + " ".join(LIMITS) + ":")
        m = report(times)
        print(f"ratio limits/none = {m['limits'] / m['none']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
