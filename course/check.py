#!/usr/bin/env python3
"""Check a level: ``make check LEVEL=5``, or without make, from the repo,
``.venv/bin/python course/check.py 5`` (the virtualenv has pytest).

Runs the level's checks against your ``container.py`` and prints what
passed and, for what failed, where to look.  ``--solution`` checks the
reference solution instead (it should always pass).  The checks that run
the program as root need root: ``sudo make check LEVEL=N`` (or ``sudo
.venv/bin/python course/check.py N``).  When no check could run (each
one skipped, saying why), it says so and exits with 5, not 0.
"""
import glob
import importlib.util
import os
import subprocess
import sys

COURSE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("pytest") is None:
        print(f"check.py: this Python ({sys.executable}) has no pytest: run it with the repo's "
              f".venv/bin/python course/check.py LEVEL, or `make check LEVEL=N`",
              file=sys.stderr)
        return 2
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
