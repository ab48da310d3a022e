"""`minirun --runroot DIR` (and MINIRUN_RUNROOT): the runtime state (the
runtime's container states, lazy mounts, network helpers) under a directory
of the caller's choosing, so that two users of minirun on one machine (tests,
benchmarks) share nothing but the host (issue 14).  Root and rootless."""
import json
import os

import pytest

from tests.e2e.conftest import Minirun


@pytest.fixture
def img(mr, registry):
    name = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", name, check=True)
    return name


def _states(runroot: str) -> list[str]:
    """The containers whose runtime state is under ``runroot`` (64 hex digits:
    not the runtime's caches beside them)."""
    d = os.path.join(runroot, "engine")
    names = os.listdir(d) if os.path.isdir(d) else []
    return sorted(n for n in names if len(n) == 64 and all(c in "0123456789abcdef" for c in n))


def test_two_runroots_see_only_their_own_containers(mr, img, registry):
    """One store and runroot by the flag, another by the variables: each
    container's runtime state is in its own runroot only (none in the
    default one), each minirun finds and ends its own container there."""
    one = os.path.join(mr.rt.scratch, "run-one")
    other = Minirun(mr.rt, mr.conf)
    other.store = os.path.join(mr.rt.scratch, "store-two")
    two = other.settings["MINIRUN_RUNROOT"] = os.path.join(mr.rt.scratch, "run-two")
    other("pull", "-q", img, check=True)
    default = os.path.join(mr.rt.scratch if mr.rt.rootless else "/run", "minirun")
    try:
        a = mr("--runroot", one, "run", "-d", "--network", "none", img, "sleep", "600",
               check=True).stdout.strip()
        b = other("run", "-d", "--network", "none", img, "sleep", "600",
                  check=True).stdout.strip()
        assert _states(one) == [a] and _states(two) == [b]
        assert a not in _states(default) and b not in _states(default)
        # found through its own runroot: exec needs the runtime's state
        r = mr("--runroot", one, "exec", a, "echo", "one")
        assert r.returncode == 0 and r.stdout == "one\n", r.stderr
        assert other("exec", b, "echo", "two", check=True).stdout == "two\n"
        [row] = json.loads(mr("--runroot", one, "ps", "--format", "json", check=True).stdout)
        assert row["Id"] == a and row["State"] == "running"
        info = json.loads(other("info", "--format", "json", check=True).stdout)
        assert info["store"]["runroot"] == two
        mr("--runroot", one, "rm", "-f", a, check=True)
        assert _states(one) == [] and _states(two) == [b]
        other("rm", "-f", b, check=True)
        assert _states(two) == []
    finally:
        other("rm", "-fa", timeout=60)
        mr("--runroot", one, "rm", "-fa", timeout=60)
