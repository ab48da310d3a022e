#!/usr/bin/env python3
"""Run the benchmarks: `make bench` (all) or `make bench B=NAME` (one).

Each benchmark is bench/NAME.py with a main() that runs minirun and a peer
on the same work, alternating, in the same run, and prints its ratio line
last.  They measure; they never fail a build.
"""
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["runtime_start", "run_exec", "limits", "network", "pull", "lazy", "gpu", "pool", "build"]


def main(argv: list[str]) -> int:
    sys.path.insert(0, os.path.dirname(HERE))
    names = argv or ALL
    for name in names:
        if name not in ALL:
            print(f"bench: unknown benchmark {name!r} (have: {', '.join(ALL)})", file=sys.stderr)
            return 2
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
