"""A fake NVIDIA driver root, for machines without a GPU.

`build(root)` lays out, under ``root``, what NVIDIA's kernel module and
driver package put on a host, as real files of the real kinds:

- character device nodes made with mknod (so building needs root), with
  NVIDIA's numbers: ``dev/nvidia0..N`` (195:N), ``dev/nvidiactl`` (195:255),
  ``dev/nvidia-modeset`` (195:254), ``dev/nvidia-uvm`` and
  ``dev/nvidia-uvm-tools`` (a dynamic major, minors 0 and 1), and
  ``dev/nvidia-caps/nvidia-cap1``/``-cap2`` (another dynamic major); both
  dynamic majors are picked from those /proc/devices does not list;
- what the module shows: ``proc/driver/nvidia/version``,
  ``proc/driver/nvidia/gpus/<pci>/information``, ``sys/module/nvidia/version``;
- the user-space libraries, each a real ELF shared object with its soname
  (gcc -shared), in ``usr/lib/x86_64-linux-gnu``, their soname links and an
  ``etc/ld.so.cache`` both made by the host's ``ldconfig -r ROOT``, and a
  decoy ``libcuda.so.535.0.0`` of another driver in ``usr/lib/nvidia-535``
  (in the cache too) that discovery must not pick;
- ``usr/bin/nvidia-smi`` (a shell script answering ``-L``), GSP firmware
  under ``lib/firmware/nvidia/VERSION/`` and the persistence daemon's socket.

Everything is readable by every user (directories 0755, files 0644, nodes
0666 as NVIDIA makes them), so rootless tests read the same root.
Tests use the ``fake_driver`` fixture (tests/gpu/conftest.py); benchmarks
call build() and remove() themselves.
"""
import os
import shutil
import socket
import stat
import subprocess
import tempfile

from minirun.records import record

VERSION = "550.54.15"
DECOY_VERSION = "535.0.0"
LIBDIR = "usr/lib/x86_64-linux-gnu"
DECOY_LIBDIR = "usr/lib/nvidia-535"
# library file stem -> its soname's suffix after ".so." (NVIDIA's own choices)
LIBRARIES = {"libcuda": "1", "libnvidia-ml": "1", "libnvidia-ptxjitcompiler": "1",
             "libnvidia-nvvm": "4", "libcudadebugger": "1", "libnvidia-opencl": "1",
             "libnvidia-gpucomp": VERSION, "libnvidia-allocator": "1", "libnvidia-cfg": "1"}
NVIDIA_MAJOR = 195
FIRMWARE = ("gsp_ga10x.bin", "gsp_tu10x.bin")


@record
class FakeGpu:
    index: int
    minor: int
    uuid: str
    pci: str          # bus location: 0000:17:00.0
    model: str


@record
class FakeDriver:
    root: str
    version: str
    gpus: tuple        # FakeGpu, by index
    uvm_major: int
    caps_major: int
    libraries: tuple   # container paths of the versioned files: /usr/lib/.../libcuda.so.550.54.15
    decoy: str         # container path of the decoy library


def free_majors(count: int) -> list[int]:
    """Character majors no driver of this host holds, from the top of the
    dynamic range down (the kernel hands out 511, 510, ... last)."""
    with open("/proc/devices") as f:
        used = set()
        for line in f:
            if line.startswith("Block"):
                break
            if line.strip() and line.split()[0].isdigit():
                used.add(int(line.split()[0]))
    return [m for m in range(511, 383, -1) if m not in used][:count]


def build(root: str, gpus: int = 2, version: str = VERSION) -> FakeDriver:
    """Lay a fake driver with ``gpus`` GPUs out under ``root`` (made if
    missing).  Needs root (mknod) and gcc and ldconfig on the host."""
    os.makedirs(root, mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)
    uvm, caps = free_majors(2)
    cards = tuple(FakeGpu(index=i, minor=i, uuid=f"GPU-{i:08x}-1111-2222-3333-{i:012x}",
                          pci=f"0000:{0x17 + i:02x}:00.0", model="NVIDIA H100 80GB HBM3")
                  for i in range(gpus))
    _nodes(root, cards, uvm, caps)
    _module(root, cards, version)
    libraries = _libraries(root, version)
    _tools(root, cards, version)
    return FakeDriver(root=root, version=version, gpus=cards, uvm_major=uvm, caps_major=caps,
                      libraries=libraries,
                      decoy=f"/{DECOY_LIBDIR}/libcuda.so.{DECOY_VERSION}")


def remove(driver: FakeDriver) -> None:
    shutil.rmtree(driver.root, ignore_errors=True)


def _write(root: str, rel: str, text: str, mode: int = 0o644) -> str:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def _node(root: str, rel: str, major: int, minor: int, mode: int = 0o666) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
    os.chmod(path, mode)


def _nodes(root: str, cards: tuple, uvm: int, caps: int) -> None:
    for gpu in cards:
        _node(root, f"dev/nvidia{gpu.minor}", NVIDIA_MAJOR, gpu.minor)
    _node(root, "dev/nvidiactl", NVIDIA_MAJOR, 255)
    _node(root, "dev/nvidia-modeset", NVIDIA_MAJOR, 254)
    _node(root, "dev/nvidia-uvm", uvm, 0)
    _node(root, "dev/nvidia-uvm-tools", uvm, 1)
    _node(root, "dev/nvidia-caps/nvidia-cap1", caps, 1, 0o444)
    _node(root, "dev/nvidia-caps/nvidia-cap2", caps, 2, 0o444)


def _module(root: str, cards: tuple, version: str) -> None:
    """What the loaded kernel module shows in /proc and /sys."""
    _write(root, "proc/driver/nvidia/version",
           f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  "
           "Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
    _write(root, "sys/module/nvidia/version", version + "\n")
    for gpu in cards:
        _write(root, f"proc/driver/nvidia/gpus/{gpu.pci}/information",
               f"Model: \t\t {gpu.model}\nIRQ:   \t\t {40 + gpu.index}\n"
               f"GPU UUID: \t {gpu.uuid}\nVideo BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\n"
               f"DMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\n"
               f"Bus Location: \t {gpu.pci}\nDevice Minor: \t {gpu.minor}\n"
               "GPU Firmware: \t 550.54.15\nGPU Excluded:\t No\n")


def _shared_object(path: str, soname: str) -> None:
    """A real, empty ELF shared object whose DT_SONAME is ``soname``."""
    with tempfile.NamedTemporaryFile("w", suffix=".c") as src:
        src.write("int minirun_fake_driver_symbol;\n")
        src.flush()
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", path,
                        src.name], check=True, capture_output=True)
    os.chmod(path, 0o755)


def _libraries(root: str, version: str) -> tuple:
    """The versioned libraries, the decoy, and ldconfig's links and cache."""
    made = []
    for stem, suffix in LIBRARIES.items():
        os.makedirs(os.path.join(root, LIBDIR), mode=0o755, exist_ok=True)
        _shared_object(os.path.join(root, LIBDIR, f"{stem}.so.{version}"), f"{stem}.so.{suffix}")
        made.append(f"/{LIBDIR}/{stem}.so.{version}")
    os.makedirs(os.path.join(root, DECOY_LIBDIR), mode=0o755, exist_ok=True)
    _shared_object(os.path.join(root, DECOY_LIBDIR, f"libcuda.so.{DECOY_VERSION}"), "libcuda.so.1")
    _write(root, "etc/ld.so.conf", f"/{LIBDIR}\n/{DECOY_LIBDIR}\n")
    os.makedirs(os.path.join(root, "var/cache/ldconfig"), mode=0o755, exist_ok=True)
    subprocess.run(["ldconfig", "-r", root], check=True, capture_output=True)
    os.chmod(os.path.join(root, "etc/ld.so.cache"), 0o644)
    return tuple(made)


def _tools(root: str, cards: tuple, version: str) -> None:
    """nvidia-smi, the GSP firmware and nvidia-persistenced's socket."""
    lines = "".join(f"GPU {g.index}: {g.model} (UUID: {g.uuid})\\n" for g in cards)
    _write(root, "usr/bin/nvidia-smi",
           "#!/bin/sh\n# a fake nvidia-smi: answers -L as the real one does\n"
           f"case \"$1\" in -L) printf '{lines}' ;; *) echo 'NVIDIA-SMI {version}' ;; esac\n",
           0o755)
    for name in FIRMWARE:
        _write(root, f"lib/firmware/nvidia/{version}/{name}", "fake firmware\n")
    os.makedirs(os.path.join(root, "run/nvidia-persistenced"), mode=0o755, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(root, "run/nvidia-persistenced/socket"))
    sock.close()
