"""Where the time of one `minirun-oci run` goes, from its --explain stamps.

    .venv/bin/python bench/breakdown.py BUNDLE [RUNS]

The narration stamps every line with milliseconds since a start that this
script sets just before it starts minirun-oci, so the phases between the
stamps are the interpreter start, the imports, the parse, the cgroup work,
the namespaces and mounts, and the exit and clean-up.
"""
import os
import re
import statistics
import subprocess
import sys
import time

MARKS = [
    ("interpreter start + CLI import", "command line parsed"),
    ("runtime imports", "runtime modules imported"),
    ("parse config.json", "parsed "),
    ("state dir, fifo, cgroup mkdir, fork", "-- join namespaces"),
    ("namespaces (unshare, fork INIT)", "-- stop propagation to the host"),
    ("mounts and devices", "-- pivot_root"),
    ("pivot, paths, process setup", "-- wait for start"),
    ("start until execve", "execve("),
    ("container exit, wait, delete", None),
]


def one(bundle: str, cid: str) -> dict[str, float]:
    oci = os.path.join(os.path.dirname(sys.executable), "minirun-oci")
    base = time.monotonic()
    env = dict(os.environ, MINIRUN_EXPLAIN=repr(base))
    r = subprocess.run([oci, "--root", "/run/minirun-breakdown", "run", "--bundle", bundle, cid],
                       env=env, capture_output=True, text=True)
    end = (time.monotonic() - base) * 1000
    stamps = {}
    for line in r.stderr.splitlines():
        m = re.match(r"\[\s*([\d.]+)ms [^\]]*\] (.*)", line)
        if m:
            for _, needle in MARKS:
                if needle and needle not in stamps and needle in m.group(2):
                    stamps[needle] = float(m.group(1))
    out, prev = {}, 0.0
    for name, needle in MARKS:
        t = stamps.get(needle, prev) if needle else end
        out[name] = t - prev
        prev = t
    out["total"] = end
    return out


def main() -> None:
    bundle, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    results = [one(bundle, f"bd{os.getpid()}-{i}") for i in range(runs)]
    for name in results[0]:
        print(f"{name:>38}: {statistics.median(r[name] for r in results):6.1f} ms")


if __name__ == "__main__":
    main()
