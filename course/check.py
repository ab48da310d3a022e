#!/usr/bin/env python3
"""Check a level: ``make check LEVEL=5`` (or ``python course/check.py 5``).

Runs the level's checks against your ``container.py`` and prints what
passed and, for what failed, where to look.  ``--solution`` checks the
reference solution instead (it should always pass).  The checks that run
the program as root need root: ``sudo make check LEVEL=N``.
"""
import glob
import os
import subprocess
import sys

COURSE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1 or not args[0].isdigit():
        print("usage: check.py LEVEL [--solution]   (e.g. check.py 3)", file=sys.stderr)
        return 2
    found = glob.glob(os.path.join(COURSE, f"{int(args[0]):02d}-*"))
    if not found:
        levels = sorted(os.path.basename(d) for d in glob.glob(os.path.join(COURSE, "[0-9]*")))
        print(f"no level {args[0]}; the levels: {', '.join(levels)}", file=sys.stderr)
        return 2
    env = dict(os.environ, COURSE_REPORT="1",
               COURSE_TARGET="solution" if "--solution" in argv else "student")
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "--no-header", "-rN",
                            "--tb=short", "-p", "no:cacheprovider", found[0]],
                           env=env, cwd=COURSE)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
