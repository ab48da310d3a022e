"""pool: a job in a warm pool against a container made for it.  The time
from ``pool.run(["true"])`` being called to its Result, p50 and p99 over
200 jobs (BENCH_POOL_JOBS), each started with the pool full (the warm
start; the refill is measured apart: containers made per second), against
``minirun.run(...)`` without a pool (in this process), ``minirun run --rm``
on the command line and ``podman run --rm`` (runc), all ``--network none``,
busybox ``true``, in the same run (root).  Then where a pooled job's
milliseconds go.  Last line: ratio pool/podman = R (p50s)."""
import os
import statistics
import sys
import time

from bench.common import Side, alternate, report, timed

JOBS = int(os.environ.get("BENCH_POOL_JOBS", "200"))
RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def percentile(ts: list[float], p: float) -> float:
    ts = sorted(ts)
    return ts[min(len(ts) - 1, int(round(p / 100 * (len(ts) - 1))))]


def pooled(pool, jobs: int) -> list[float]:
    """Seconds from run() called to its Result, the pool full each time."""
    times = []
    for _ in range(jobs):
        pool.wait_ready()
        time.sleep(0.005)               # the worker back to sleep
        t0 = time.perf_counter()
        r = pool.run(["true"])
        times.append(time.perf_counter() - t0)
        if r.exit_code != 0:
            sys.exit(f"bench pool: a job failed: {r}")
    return times


def breakdown(pool, jobs: int) -> dict[str, float]:
    """Medians (ms) of a pooled job's phases, by wrapping the steps it
    calls: the `job` line to the primed process until its execve, the job
    to its end with its output read, the cost read from the cgroup, and the
    rest (taking a container, the environment, waitpid, the Result).  The
    priming, done by the worker in the background, is timed apart."""
    from minirun import pool as pool_mod
    from minirun.runtime import launch, usage
    marks: dict[str, list[float]] = {}
    now = time.perf_counter

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed_call(*a, **kw):
            t0 = now()
            try:
                return original(*a, **kw)
            finally:
                marks.setdefault(label, []).append((now() - t0) * 1000)
        setattr(owner, name, timed_call)
        return original
    parts = [(launch.Launch, "go", "job line to execve (primed INIT)"),
             (pool_mod, "collect", "job runs, pipes read"),
             (usage, "usage", "cgroup usage read")]
    saved = [(owner, name, wrap(owner, name, label)) for owner, name, label in parts]
    saved.append((launch, "exec_process",
                  wrap(launch, "exec_process", "priming, in the background")))
    try:
        whole = pooled(pool, jobs)
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    out = {k: statistics.median(v) for k, v in marks.items()}
    out["cgroup usage read"] = out.pop("cgroup usage read")     # last: after the parts
    out["whole job"] = statistics.median(whole) * 1000
    out["the rest"] = out["whole job"] - sum(out[label] for _, _, label in parts)
    return out


def refill_rate(pool, jobs: int) -> float:
    """Containers made per second while jobs go back to back."""
    t0 = time.perf_counter()
    for _ in range(jobs):
        pool.run(["true"])
    pool.wait_ready()
    return jobs / (time.perf_counter() - t0)


def main() -> None:
    import minirun
    from minirun.pool import Pool
    side = Side("pool")
    store = side.mr[-1]
    image = "localhost/busybox"
    try:
        with Pool(image, size=4, root=store, network="none") as pool:
            pool.run(["true"])
            pool_times = pooled(pool, JOBS)
            phases = breakdown(pool, max(20, JOBS // 4))
            rate = refill_rate(pool, 8)
        times = alternate(RUNS, {
            "api run": lambda i: _api_run(minirun, image, store),
            "cli run": lambda i: timed(side.mr + ["run", "--rm", "--network", "none", image,
                                                  "true"], env=side.env),
            "podman": lambda i: timed(side.pm + ["run", "--rm", "--network", "none", image,
                                                 "true"], env=side.env),
        })
        times["pool"] = pool_times
        print(f"busybox true, --network none; pool: {JOBS} jobs, each with the pool full; "
              f"others: {RUNS} runs each")
        medians = report(times)
        print("where a pooled job's milliseconds go (medians, ms):")
        for name, ms in phases.items():
            print(f"  {name:>38}: {ms:6.2f}")
        print(f"refill: {rate:.1f} containers/s made while jobs ran back to back")
        print(f"ratio api run/podman = {medians['api run'] / medians['podman']:.2f}")
        print(f"pool p50 = {percentile(pool_times, 50) * 1000:.1f} ms, "
              f"p99 = {percentile(pool_times, 99) * 1000:.1f} ms")
        print(f"ratio pool/podman = {medians['pool'] / medians['podman']:.3f}")
    finally:
        side.close()


def _api_run(minirun, image: str, store: str) -> float:
    t0 = time.perf_counter()
    r = minirun.run(image, ["true"], root=store, network="none")
    if r.exit_code != 0:
        sys.exit(f"bench pool: minirun.run failed: {r}")
    return time.perf_counter() - t0
