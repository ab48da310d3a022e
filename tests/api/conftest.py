"""The Python API's tests: a script run by the venv's python, as root or as
the unprivileged test user (rootless), with a store of its own and the
busybox image from the test registry pulled into it."""
import json
import subprocess
import sys
import textwrap

import pytest

# the image tests' fixtures: a registry holding test/busybox, `mr` (minirun as
# root or as the test user, with its own store)
from tests.e2e.conftest import images_dir, mr, registries_conf, registry  # noqa: F401


class Api:
    """Python code run against minirun's API in a fresh interpreter, as the
    mode's user; ``STORE`` and ``IMAGE`` are defined for it."""

    def __init__(self, minirun, image: str):
        self.mr, self.image = minirun, image

    def __call__(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prelude = (f"import json, minirun\nSTORE = {self.mr.store!r}\n"
                   f"IMAGE = {self.image!r}\n")
        argv = self.mr.rt.prefix() + [sys.executable, "-c", prelude + textwrap.dedent(code)]
        if self.mr.rt.prefix():
            argv = argv[:-3] + [f"CONTAINERS_REGISTRIES_CONF={self.mr.conf}"] + argv[-3:]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=self.mr.env(), cwd="/tmp")

    def json(self, code: str, timeout: float = 120):
        """The last line the code printed, as JSON; the run must succeed."""
        r = self(code, timeout)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture
def api(mr, registry):  # noqa: F811 (the fixtures imported above)
    image = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", image, check=True)
    return Api(mr, image)
