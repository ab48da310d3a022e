"""openat2(2) with RESOLVE_IN_ROOT, as cp, volumes and mount points use it
to stay inside a container's root: a rename anywhere on the machine during
the walk makes the kernel answer EAGAIN (it cannot vouch that ``..`` stayed
inside), and the walk must be made again, not reported as an error (cp
failed so once in CI: 'openat2: Resource temporarily unavailable')."""
import errno
import os
import subprocess
import sys
import time

import pytest

from minirun.kernel import mounts
from minirun.kernel._native import cstr, ffi, lib

RENAMER = """
import os, sys
a, b = sys.argv[1] + '/r1', sys.argv[1] + '/r2'
open(a, 'w').close()
while True:
    os.rename(a, b)
    os.rename(b, a)
"""


def test_a_walk_raced_by_renames_is_made_again(tmp_path):
    os.makedirs(tmp_path / "x")
    (tmp_path / "y").write_text("")
    renamer = subprocess.Popen([sys.executable, "-c", RENAMER, str(tmp_path)])
    root = os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)
    try:
        time.sleep(0.1)
        raw, raced = cstr("x/../y"), 0
        for _ in range(20000):          # the bare call: the race is real here
            fd = lib.mr_openat2(root, raw, os.O_PATH | os.O_CLOEXEC, 0, mounts.RESOLVE_IN_ROOT)
            if fd == -1:
                raced += ffi.errno == errno.EAGAIN
            else:
                os.close(fd)
        if not raced:
            pytest.skip("no walk met a rename here: nothing to try again")
        failed = []
        for _ in range(20000):          # minirun's: never an error
            try:
                os.close(mounts.open_in_root(root, "x/../y"))
            except OSError as e:
                failed.append(e)
    finally:
        renamer.kill()
        renamer.wait()
        os.close(root)
    print(f"the bare call met the race {raced} times in 20000")
    assert failed == [], f"{len(failed)} of 20000 failed, the first: {failed[0]}"
