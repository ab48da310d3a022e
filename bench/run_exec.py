"""run and exec: `minirun run --rm busybox true` against `podman run --rm
busybox true` (root, --network none, a cached image, runc under podman),
alternating; then `exec true` into a running container of each.
Last lines: ratio minirun/podman = R (run), then for exec."""
import os

from bench.common import Side, alternate, report, timed

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def main() -> None:
    side = Side("run_exec")
    mr, pm, env = side.mr, side.pm, side.env
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
        side.both("run", "-d", "--name", "bench", "--network", "none", "localhost/busybox",
                  "sleep", "1000")
        ex = alternate(RUNS, {
            "minirun": lambda i: timed(mr + ["exec", "bench", "true"], env=env),
            "podman": lambda i: timed(pm + ["exec", "bench", "true"], env=env),
        })
        print("exec bench true:")
        e = report(ex)
        print(f"ratio minirun/podman (run) = {run_ratio:.2f}")
        print(f"ratio minirun/podman = {e['minirun'] / e['podman']:.2f}")
    finally:
        side.close()
