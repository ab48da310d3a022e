"""podman with a CDI spec for the fake driver, running its containers on
minirun-oci: podman applies the spec (nodes, cgroup rules, mounts, NVIDIA's
hooks) and passes them in config.json; minirun-oci makes the nodes, allows
them and no other, and does NVIDIA's hooks itself (the spec names a hook
binary that fails if run: it must not be)."""
import json
import os
import uuid

import pytest

from tests.e2e.test_podman import podman  # noqa: F401  (the fixture: root and rootless)

LIB = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def spec_file(fake_driver):
    """The fake driver's spec in /var/run/cdi (podman 4.3 has no --cdi-spec-dir),
    its hook binary a script that fails."""
    from minirun.engine.cdi import discover, generate
    hook = os.path.join(fake_driver.root, "usr", "bin", "nvidia-cdi-hook")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\necho 'the hook binary was run' >&2\nexit 1\n")
    os.chmod(hook, 0o755)
    spec = generate.spec(discover.discover(fake_driver.root), hook_path=hook)
    os.makedirs("/var/run/cdi", exist_ok=True)
    path = f"/var/run/cdi/minirun-test-{uuid.uuid4().hex[:10]}.json"
    with open(path, "w") as f:
        json.dump(spec, f)
    yield path
    os.unlink(path)


def test_podman_gives_one_gpu_through_minirun_oci(podman, spec_file):  # noqa: F811
    script = (f"ls /dev/nvidia1; test ! -e /dev/nvidia0 && echo no-gpu0; "
              f"readlink {LIB}/libcuda.so.1; cat /dev/nvidia1; true")
    r = podman("run", "--rm", "--network", "none", "--device", "nvidia.com/gpu=1",
               "--rootfs", podman.rootfs, "sh", "-c", script)
    if podman.user:
        # linux.devices has no host path: in a user namespace the runtime (runc
        # too) binds the host's node at the container's path, and the fake
        # driver's nodes are not in /dev.  The error says so, in one line.
        assert r.returncode != 0, r.stdout
        assert "/dev/nvidiactl: in a user namespace the host's node at the same path" \
            in r.stderr, r.stderr
        pytest.skip("rootless podman passes nodes by their container path, and the fake "
                    "driver's are not in the host's /dev (on a real card they are)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:3] == ["/dev/nvidia1", "no-gpu0", "libcuda.so.550.54.15"], r.stdout
    assert "No such device or address" in r.stderr, r.stderr     # allowed: reaches the driver
    assert "hook binary was run" not in r.stderr
