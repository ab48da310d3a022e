"""ab: is `minirun run` slower than it was?  `minirun run --rm --network none
busybox true` from two source trees (an older commit checked out with
`git worktree add`, and this one), alternating in one run, with the same
interpreter, store and native module (PYTHONPATH picks the tree).

    git worktree add /tmp/base COMMIT && cp minirun/_native.abi3.so /tmp/base/minirun/
    .venv/bin/python bench/ab.py /tmp/base [TREE] [RUNS]

It prints each tree's median and the mean of its ten fastest runs, and last
`ratio new/old = R` (medians).  Not in `make bench`: it needs the older tree.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = "import sys; from minirun.cli import main; sys.argv[0] = 'minirun'; sys.exit(main())"


def once(tree: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", CODE, "run", "--rm", "--network", "none", "busybox",
                    "true"], env=dict(os.environ, PYTHONPATH=tree), check=True, cwd="/tmp",
                   capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    old, new = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else HERE
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    for tree in (old, new):     # compiled once, so no run pays for it
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(tree, "minirun")],
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""), check=True)
        once(tree)
    times = {old: [], new: []}
    for _ in range(runs):
        for tree in (old, new):
            times[tree].append(once(tree))
    for tree, ts in times.items():
        ts.sort()
        print(f"{tree}: median {1000 * statistics.median(ts):.1f} ms, "
              f"ten fastest {100 * sum(ts[:10]):.1f} ms (n={runs})")
    print(f"ratio new/old = {statistics.median(times[new]) / statistics.median(times[old]):.3f}")


if __name__ == "__main__":
    main()
