"""Every path of the minirun command line ends in one error line, never a
Python traceback: an OSError from anywhere below is named with its object
(exit 125), a reader that goes away ends us quietly.  Root and rootless."""
import os
import subprocess

import pytest

from tests.conftest import VENV_BIN

MINIRUN = os.path.join(VENV_BIN, "minirun")


@pytest.mark.parametrize("verb", [["images"], ["ps", "-a"], ["volume", "ls"],
                                  ["run", "--rm", "busybox", "true"], ["network", "ls"]])
def test_an_os_error_is_one_line(rt, verb):
    r = subprocess.run(rt.prefix() + [MINIRUN, "--root", "/proc/1/no/such/store", *verb],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 125, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("Error: ") and "/proc/1/no" in r.stderr


def test_a_reader_that_went_away_ends_us_quietly(rt):
    store = os.path.join(rt.scratch, "store")
    p = subprocess.Popen(rt.prefix() + [MINIRUN, "--root", store, "ps", "-a"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                # before minirun writes its header
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) in (0, 141) and "Traceback" not in err, err


@pytest.mark.parametrize("argv, says", [
    (["run", "--no-such-flag", "busybox"], "Error: no such option '--no-such-flag'"),
    (["frobnicate"], "Error: no such command 'frobnicate'"),
    (["stop", "--time", "soon", "x"], "Error: invalid value for '-t' / '--time'"),
])
def test_a_usage_error_is_125_as_podman(rt, argv, says):
    """podman answers an unknown flag or command 125 (click's own code is
    2): one line saying what, one saying where to look."""
    store = os.path.join(rt.scratch, "store")
    r = subprocess.run(rt.prefix() + [MINIRUN, "--root", store, *argv],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 125, r
    lines = r.stderr.splitlines()
    assert lines[0].startswith(says) and lines[1].startswith("See 'minirun"), r.stderr
    assert len(lines) == 2, r.stderr
