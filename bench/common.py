"""Helpers shared by the benchmarks: timing whole commands, medians."""
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, ".venv", "bin")


def workdir(prefix: str) -> str:
    """Scratch space for a benchmark, under .build/ rather than /tmp: on these
    machines creating a file under /tmp costs about 20 times more (something
    watches it), which would swamp what we measure."""
    import tempfile
    base = os.path.join(REPO, ".build", "bench")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=base)


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
