"""On a real NVIDIA card: `minirun run --gpus all` gives a container from an
image with no NVIDIA file of its own (busybox) a working driver, as root and
rootless, and `--device nvidia.com/gpu=N` gives it that GPU and no other.

Skipped, with the reason printed, where /dev/nvidia0 or nvidia-smi is absent
(the development machines have no GPU: discovery and injection are tested
there against the fake driver root instead).

How the driver is exercised inside busybox, which has no C library and no
Python: a small C probe, built here with gcc against the host's glibc,
dlopen()s the injected ``libcuda.so.1`` (cuInit, cuDeviceGetCount) and
``libnvidia-ml.so.1`` (nvmlInit_v2, nvmlDeviceGetCount_v2).  A static
binary cannot dlopen, so the probe is dynamic, and it brings its own
loader: the host's ld-linux, libc, libm, libdl, libpthread and librt are
copied into a directory bound read-only at /opt/glibc (never the host's
whole /usr/lib/x86_64-linux-gnu, which holds the host's own libcuda and
would prove nothing).  The probe, and the injected nvidia-smi, run as
``/opt/glibc/ld-linux-x86-64.so.2 --library-path
/opt/glibc:/usr/lib/x86_64-linux-gnu PROGRAM``: the second directory is
where the spec mounted the driver's libraries and made their soname links.
NVML is also asked on the host through nvidia-ml-py where it is importable,
so the container's count is compared with the host's.
"""
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/nvidia0") or not shutil.which("nvidia-smi"),
    reason="no NVIDIA GPU here (/dev/nvidia0 or nvidia-smi is absent): the real-card tests "
           "run on a machine with one")

LOADER = "/lib64/ld-linux-x86-64.so.2"
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PROBE_C = r"""
#include <dlfcn.h>
#include <stdio.h>
typedef int (*init_fn)(unsigned int);
typedef int (*count_fn)(int *);
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_count_fn)(unsigned int *);
int main(void) {
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
    if (!cuda) { printf("dlopen libcuda.so.1: %s\n", dlerror()); return 1; }
    int n = -1, rc = ((init_fn)dlsym(cuda, "cuInit"))(0);
    int rc2 = ((count_fn)dlsym(cuda, "cuDeviceGetCount"))(&n);
    printf("cuInit=%d cuDeviceGetCount=%d count=%d\n", rc, rc2, n);
    void *nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!nvml) { printf("dlopen libnvidia-ml.so.1: %s\n", dlerror()); return 1; }
    unsigned int m = 0;
    int rc3 = ((nvml_init_fn)dlsym(nvml, "nvmlInit_v2"))();
    int rc4 = ((nvml_count_fn)dlsym(nvml, "nvmlDeviceGetCount_v2"))(&m);
    printf("nvmlInit=%d nvmlDeviceGetCount=%d nvml=%u\n", rc3, rc4, m);
    return rc || rc2 || rc3 || rc4;
}
"""


def host_gpus() -> list[str]:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("GPU ")]


@pytest.fixture(scope="module")
def probe_dir():
    """The C probe and the host's loader and C library, in a directory
    every user can read (bound read-only into the containers)."""
    if not shutil.which("gcc"):
        pytest.skip("the CUDA probe is built with gcc, which is not installed")
    import tempfile
    d = tempfile.mkdtemp(prefix="minirun-gpu-probe-", dir="/tmp")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "cuprobe.c"), "w") as f:
        f.write(PROBE_C)
    subprocess.run(["gcc", "-O2", "-o", os.path.join(d, "cuprobe"),
                    os.path.join(d, "cuprobe.c"), "-ldl"], check=True)
    for name in (os.path.basename(LOADER),) + GLIBC:
        src = LOADER if name == os.path.basename(LOADER) else os.path.join(LIBDIR, name)
        if os.path.exists(src):
            shutil.copy(os.path.realpath(src), os.path.join(d, name))
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def in_container(mr, probe_dir, gpu_args: list[str], *cmd: str):
    """Run ``cmd`` through the host's loader in a busybox container given
    ``gpu_args`` (--gpus all, --device nvidia.com/gpu=1)."""
    loader = ["/opt/glibc/ld-linux-x86-64.so.2", "--library-path", f"/opt/glibc:{LIBDIR}"]
    return mr("run", "--rm", *gpu_args, "-v", f"{probe_dir}:/opt/glibc:ro",
              "test/busybox", *(loader + list(cmd) if cmd[0] != "sh" else cmd),
              timeout=180)


def test_nvidia_smi_in_a_container_lists_every_gpu(mr, probe_dir):
    mr("pull", "test/busybox", check=True)
    r = in_container(mr, probe_dir, ["--gpus", "all"], "/usr/bin/nvidia-smi", "-L")
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("GPU ")] == host_gpus()


def test_cuda_and_nvml_in_a_container_see_every_gpu(mr, probe_dir):
    mr("pull", "test/busybox", check=True)
    r = in_container(mr, probe_dir, ["--gpus", "all"], "/opt/glibc/cuprobe")
    print(r.stdout, r.stderr)
    n = len(host_gpus())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"cuInit=0 cuDeviceGetCount=0 count={n}" in r.stdout
    assert f"nvmlInit=0 nvmlDeviceGetCount=0 nvml={n}" in r.stdout
    try:
        import pynvml
    except ImportError:
        print("nvidia-ml-py is not installed: the host's NVML count is nvidia-smi's")
        return
    pynvml.nvmlInit()
    try:
        assert pynvml.nvmlDeviceGetCount() == n
    finally:
        pynvml.nvmlShutdown()


def test_a_container_given_one_gpu_cannot_open_another(mr, probe_dir):
    gpus = host_gpus()
    if len(gpus) < 2:
        pytest.skip(f"isolation needs two GPUs; this host has {len(gpus)}")
    mr("pull", "test/busybox", check=True)
    r = in_container(mr, probe_dir, ["--device", "nvidia.com/gpu=1"], "/opt/glibc/cuprobe")
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and "count=1" in r.stdout, r.stdout + r.stderr
    r = in_container(mr, probe_dir, ["--device", "nvidia.com/gpu=1"],
                     "sh", "-c", "ls /dev/nvidia1 && ! test -e /dev/nvidia0")
    assert r.returncode == 0, r.stdout + r.stderr
    if not mr.rt.rootless:    # a node made by hand is refused too: the device cgroup denies it
        r = in_container(mr, probe_dir, ["--device", "nvidia.com/gpu=1", "--cap-add", "MKNOD"],
                         "sh", "-c", "mknod /tmp/g0 c 195 0 && exec 3</tmp/g0")
        assert r.returncode != 0, "GPU 0 opened from a container given only GPU 1"
