"""Fixtures for the GPU tests: a fake NVIDIA driver root (fakedriver.py),
made once per session as root and readable by the test user."""
import os
import shutil
import tempfile

import pytest

from tests.conftest import is_root
# the image tests' fixtures (a registry holding test/busybox, `minirun` as
# root or as the test user), for the real-card tests
from tests.e2e.conftest import images_dir, mr, registries_conf, registry  # noqa: F401
from tests.gpu import fakedriver


@pytest.fixture(scope="session")
def fake_driver():
    """A fake driver root with two GPUs (real device nodes: needs root)."""
    if not is_root():
        pytest.skip("the fake driver root's device nodes are made with mknod: run as root")
    for tool in ("gcc", "ldconfig"):
        if not shutil.which(tool):
            pytest.skip(f"the fake driver's libraries need {tool} on the host")
    d = tempfile.mkdtemp(prefix="minirun-fake-nvidia-", dir="/tmp")
    driver = fakedriver.build(os.path.join(d, "root"))
    os.chmod(d, 0o755)
    yield driver
    shutil.rmtree(d, ignore_errors=True)
