"""A container that fills the store's filesystem with its own files (issue
14): the store then opens read-only, yet ps, inspect, logs and wait still
answer (showing what they cannot record), and rm frees the space the
container holds: its upper layer goes first, then its record.  Root and
rootless; the store is a 16 MiB tmpfs (small_store, tests/e2e/conftest.py)."""
import json
import os
import time
import uuid

import pytest

from tests.e2e.test_faults import _leftovers


def _filled(path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while os.statvfs(path).f_bavail > 0:
        assert time.monotonic() < deadline, "the container did not fill the disk"
        time.sleep(0.05)


def _row(mr, name: str) -> dict:
    r = mr("ps", "-a", "--format", "json")
    assert r.returncode == 0, r.stderr
    [row] = [row for row in json.loads(r.stdout) if row["Names"] == [name]]
    return row


def _one_line(r) -> None:
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 1, r.stderr


@pytest.mark.parametrize("force", [False, True], ids=["rm", "rm-f"])
def test_rm_frees_a_disk_the_container_filled(mr, img, small_store, force):
    """Running, it holds the whole disk: the read-only verbs answer; rm
    without -f says to stop it first (one line); rm -f removes it; an exited
    one is removed by plain rm.  Nothing of it is left, the space is back."""
    name = "fill" + uuid.uuid4().hex[:6]
    cid = mr("run", "-d", "--name", name, "--network", "none", img, "sh", "-c",
             # (a second for the monitor to log the line: output written as the disk
             # fills, before the monitor reads it, is dropped and said to be)
             "echo first; sleep 1; dd if=/dev/zero of=/big bs=1M count=40; "
             + ("sleep 600" if force else "exit 7"), check=True).stdout.strip()
    _filled(small_store)
    if force:
        assert _row(mr, name)["State"] == "running"
        r = mr("rm", name)
        assert r.returncode == 2 and "rm -f" in r.stderr, r.stderr       # podman's code
        _one_line(r)
    else:
        r = mr("wait", name, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "7", (r.stdout, r.stderr)
        row = _row(mr, name)
        assert row["State"] == "exited" and row["ExitCode"] == 7
    r = mr("inspect", name)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["Id"] == cid
    r = mr("logs", name)
    assert r.returncode == 0 and r.stdout.startswith("first\n"), (r.stdout, r.stderr)
    r = mr("rm", *(["-f"] if force else []), name, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == name, r.stderr      # as podman: as named
    _one_line(r)
    assert _leftovers(mr, cid) == []
    assert [row for row in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)
            if row["Names"] == [name]] == []
    assert os.statvfs(small_store).f_bavail * os.statvfs(small_store).f_frsize > 8 << 20
