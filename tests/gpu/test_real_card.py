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

These tests need no registry (a GPU machine may have no Debian packages):
busybox is imported from the tests' own busybox root filesystem, and the
library directory and nvidia-smi's path are read from the CDI spec that
``minirun cdi generate`` writes for this host, wherever its driver lives.
How to run them on a lent GPU machine: tests/gpu/on-a-card.sh.
"""
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from tests.api.conftest import Api
from tests.e2e.conftest import Minirun

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/nvidia0") or not shutil.which("nvidia-smi"),
    reason="no NVIDIA GPU here (/dev/nvidia0 or nvidia-smi is absent): the real-card tests "
           "run on a machine with one")

LOADER = "/lib64/ld-linux-x86-64.so.2"
HOST_LIBC = "/usr/lib/x86_64-linux-gnu"
GLIBC = ("libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1")
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
        src = LOADER if name == os.path.basename(LOADER) else os.path.join(HOST_LIBC, name)
        if os.path.exists(src):
            shutil.copy(os.path.realpath(src), os.path.join(d, name))
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def driver_spec():
    """The CDI spec minirun generates for this host's driver (as JSON)."""
    from tests.conftest import VENV_BIN
    r = subprocess.run([os.path.join(VENV_BIN, "minirun"), "cdi", "generate", "--format",
                        "json"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def spec_mounts(spec: dict) -> list[str]:
    return [m["containerPath"] for m in spec.get("containerEdits", {}).get("mounts", [])]


@pytest.fixture(scope="module")
def lib_dirs(driver_spec) -> str:
    """The directories where the spec mounts the driver's libraries."""
    dirs = []
    for path in spec_mounts(driver_spec):
        if ".so" in os.path.basename(path) and os.path.dirname(path) not in dirs:
            dirs.append(os.path.dirname(path))
    assert dirs, f"the generated spec mounts no library: {driver_spec}"
    return ":".join(dirs)


@pytest.fixture(scope="module")
def smi(driver_spec) -> str:
    paths = [p for p in spec_mounts(driver_spec) if p.endswith("/nvidia-smi")]
    assert paths, f"the generated spec mounts no nvidia-smi: {driver_spec}"
    return paths[0]


@pytest.fixture(scope="module")
def busybox_tar(busybox_rootfs):
    d = tempfile.mkdtemp(prefix="minirun-gpu-image-", dir="/tmp")
    os.chmod(d, 0o755)
    path = os.path.join(d, "busybox.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mr(rt, busybox_tar):
    """minirun as root or as the test user, with test/busybox imported."""
    conf = os.path.join(rt.scratch, "registries.conf")
    with open(conf, "w") as f:
        f.write("unqualified-search-registries = []\n")
    os.chmod(conf, 0o644)
    m = Minirun(rt, conf)
    m("import", busybox_tar, "test/busybox", check=True)
    yield m
    m("rm", "-fa", timeout=60)


def in_container(mr, probe_dir, lib_dirs, gpu_args: list[str], *cmd: str):
    """Run ``cmd`` through the host's loader in a busybox container given
    ``gpu_args`` (--gpus all, --device nvidia.com/gpu=1)."""
    loader = ["/opt/glibc/ld-linux-x86-64.so.2", "--library-path", f"/opt/glibc:{lib_dirs}"]
    return mr("run", "--rm", "--network", "none", *gpu_args,
              "-v", f"{probe_dir}:/opt/glibc:ro", "test/busybox",
              *(loader + list(cmd) if cmd[0] != "sh" else cmd), timeout=180)


def test_nvidia_smi_in_a_container_lists_every_gpu(mr, probe_dir, lib_dirs, smi):
    r = in_container(mr, probe_dir, lib_dirs, ["--gpus", "all"], smi, "-L")
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("GPU ")] == host_gpus()


def test_cuda_and_nvml_in_a_container_see_every_gpu(mr, probe_dir, lib_dirs):
    r = in_container(mr, probe_dir, lib_dirs, ["--gpus", "all"], "/opt/glibc/cuprobe")
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


def test_one_gpu_by_its_cdi_name_and_by_count(mr, probe_dir, lib_dirs):
    """``--device nvidia.com/gpu=0`` and ``--gpus 1`` each give one GPU
    that CUDA can use; the container sees that node and no other."""
    for args in (["--device", "nvidia.com/gpu=0"], ["--gpus", "1"]):
        r = in_container(mr, probe_dir, lib_dirs, args, "/opt/glibc/cuprobe")
        print(args, r.stdout, r.stderr)
        assert r.returncode == 0 and "count=1" in r.stdout, r.stdout + r.stderr
        r = in_container(mr, probe_dir, lib_dirs, args,
                         "sh", "-c", "ls /dev | grep '^nvidia[0-9]'")
        assert r.stdout.split() == ["nvidia0"], r.stdout + r.stderr


def test_a_container_given_one_gpu_cannot_open_another(mr, probe_dir, lib_dirs):
    gpus = host_gpus()
    if len(gpus) < 2:
        pytest.skip(f"isolation needs two GPUs; this host has {len(gpus)}")
    r = in_container(mr, probe_dir, lib_dirs, ["--device", "nvidia.com/gpu=1"],
                     "/opt/glibc/cuprobe")
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and "count=1" in r.stdout, r.stdout + r.stderr
    r = in_container(mr, probe_dir, lib_dirs, ["--device", "nvidia.com/gpu=1"],
                     "sh", "-c", "ls /dev/nvidia1 && ! test -e /dev/nvidia0")
    assert r.returncode == 0, r.stdout + r.stderr
    if not mr.rt.rootless:    # a node made by hand is refused too: the device cgroup denies it
        r = in_container(mr, probe_dir, lib_dirs,
                         ["--device", "nvidia.com/gpu=1", "--cap-add", "MKNOD"],
                         "sh", "-c", "mknod /tmp/g0 c 195 0 && exec 3</tmp/g0")
        assert r.returncode != 0, "GPU 0 opened from a container given only GPU 1"


def test_a_pool_job_runs_cuda_on_its_own_gpu(mr, probe_dir, lib_dirs):
    """minirun.Pool(gpus=1): every job, run inside a warm container, sees
    one GPU through CUDA and NVML."""
    api = Api(mr, "test/busybox")
    loader = ["/opt/glibc/ld-linux-x86-64.so.2", "--library-path", f"/opt/glibc:{lib_dirs}"]
    out = api.json(f"""
        from minirun.pool import Pool
        with Pool(IMAGE, size=1, root=STORE, network="none", gpus=1,
                  volumes={{{probe_dir!r}: "/opt/glibc:ro"}}) as pool:
            runs = [pool.run({loader + ["/opt/glibc/cuprobe"]!r}) for _ in range(2)]
        print(json.dumps([[r.exit_code, r.stdout, r.stderr] for r in runs]))
    """, timeout=300)
    for code, stdout, _stderr in out:
        assert code == 0 and "count=1" in stdout and "nvml=1" in stdout, out
