"""GPUs given to containers from the fake driver root (fakedriver.py), as
root and as a plain user: `--gpus` and `--device nvidia.com/gpu=N` through
CDI, the driver's libraries and soname links inside an image that has none,
and a container given one GPU unable to open another.

Without a driver the nodes' major (195) answers ENXIO ("No such device or
address") to an open the device cgroup allows, and EPERM ("Operation not
permitted") to one it denies: that difference is the isolation test."""
import json
import os

import pytest

LIB = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def gpu(mr, registry, fake_driver):
    """`minirun` that sees the fake driver, and the busybox image."""
    mr.settings["MINIRUN_DRIVER_ROOT"] = fake_driver.root
    mr.settings["MINIRUN_CDI_DIRS"] = os.path.join(mr.rt.scratch, "cdi")   # none: in memory
    image = f"{registry.addr}/test/busybox:latest"
    mr("pull", "-q", image, check=True)
    return image


def run(mr, image, *args, script):
    return mr("run", "--rm", "--network", "none", *args, image, "sh", "-c", script)


def test_gpus_all_gives_every_gpu_and_the_driver(mr, gpu, fake_driver):
    r = run(mr, gpu, "--gpus", "all", script=(
        "ls /dev/nvidia0 /dev/nvidia1 /dev/nvidiactl /dev/nvidia-uvm; "
        f"for l in libcuda.so.1 libcuda.so libnvidia-ml.so.1; do readlink {LIB}/$l; done; "
        "echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; "
        "ls /usr/bin/nvidia-smi"))
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    for node in ("/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"):
        assert node in out, r.stdout
    # NVIDIA's create-symlinks hook, done by the runtime itself (no hook binary here)
    assert "libcuda.so.550.54.15" in out and "libcuda.so.1" in out, r.stdout
    assert "libnvidia-ml.so.550.54.15" in out and "/usr/bin/nvidia-smi" in out, r.stdout
    assert "NVIDIA_VISIBLE_DEVICES=void" in out


@pytest.mark.parametrize("flag", [["--device", "nvidia.com/gpu=1"], ["--gpus", "device=1"],
                                  ["--gpus", "device=GPU-00000001-1111-2222-3333-000000000001"]])
def test_one_gpu_and_no_other(mr, gpu, flag):
    script = ("ls /dev/nvidia1 && test ! -e /dev/nvidia0 && echo no-gpu0; "
              "cat /dev/nvidia1; true")
    if not mr.rt.rootless:      # a node made for GPU 0: the device cgroup refuses it
        script += "; mknod /dev/sneak c 195 0 && cat /dev/sneak; true"
    r = run(mr, gpu, "--cap-add", "mknod", *flag, script=script)
    assert r.returncode == 0, r.stderr
    assert "/dev/nvidia1" in r.stdout and "no-gpu0" in r.stdout, r.stdout
    # GPU 1 is allowed: its open reaches the (absent) driver
    assert "'/dev/nvidia1': No such device or address" in r.stderr, r.stderr
    if not mr.rt.rootless:
        assert "'/dev/sneak': Operation not permitted" in r.stderr, r.stderr


def test_gpus_count(mr, gpu):
    r = run(mr, gpu, "--gpus", "1", script="ls /dev/ | grep -c '^nvidia[0-9]'")
    assert r.returncode == 0 and r.stdout.strip() == "1", (r.stdout, r.stderr)
    r = run(mr, gpu, "--gpus", "3", script="true")
    assert r.returncode == 125 and "--gpus 3: this host has 2 GPU(s)" in r.stderr, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""


def test_a_spec_file_is_used_before_the_generated_one(mr, gpu):
    """`cdi generate` into the CDI directory, edited: the file is what is applied."""
    spec_dir = mr.settings["MINIRUN_CDI_DIRS"]
    out = os.path.join(mr.rt.scratch, "nvidia.json")
    mr("cdi", "generate", "--output", out, check=True)
    with open(out) as f:
        spec = json.load(f)
    spec["containerEdits"]["env"] = ["FROM_THE_FILE=1"]
    os.makedirs(spec_dir, exist_ok=True)
    os.chmod(mr.rt.scratch, 0o755)
    with open(os.path.join(spec_dir, "nvidia.json"), "w") as f:
        json.dump(spec, f)
    r = run(mr, gpu, "--device", "nvidia.com/gpu=0", script="echo $FROM_THE_FILE")
    assert r.returncode == 0 and r.stdout.strip() == "1", (r.stdout, r.stderr)


def test_no_gpu_is_one_clear_error(mr, gpu):
    mr.settings["MINIRUN_DRIVER_ROOT"] = "/"          # this machine: no NVIDIA driver
    r = run(mr, gpu, "--gpus", "all", script="true")
    assert r.returncode == 125 and "--gpus: no NVIDIA GPU here" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run(mr, gpu, "--device", "nvidia.com/gpu=7", script="true")
    assert r.returncode == 125 and "nvidia.com/gpu=7" in r.stderr, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""
