"""What this host's NVIDIA driver gives containers, found without NVIDIA's
toolkit: the kernel module's version, the GPUs, the device nodes, the
driver's user-space libraries, its tools, socket and firmware.

Everything is read relative to a *driver root*: "/" on a real host, a
directory for tests (tests/gpu/fakedriver.py lays a fake one out).  The
root is, in order, the ``root`` argument, the environment variable
``MINIRUN_DRIVER_ROOT`` (a test seam: it lets the CLI, run as any user,
read a fake driver), or "/".  Paths in the result are the paths a
container sees (``/dev/nvidia0``); ``host_path`` puts the root in front.

Where each fact comes from:

- the version: ``/sys/module/nvidia/version``, else the version in
  ``/proc/driver/nvidia/version`` (the module's banner line);
- the GPUs: ``/proc/driver/nvidia/gpus/<pci address>/information`` (its
  ``Model``, ``GPU UUID`` and ``Device Minor``), numbered in PCI order as
  NVML and nvidia-smi number them;
- the nodes: ``/dev/nvidia<minor>``, ``nvidiactl``, ``nvidia-uvm``,
  ``nvidia-uvm-tools``, ``nvidia-modeset``, ``/dev/nvidia-caps/*``, those
  that exist (uvm's appear only once the module is loaded);
- the libraries: the root's ``/etc/ld.so.cache`` (ldcache.py), each entry
  followed to the file it names; kept when that file's name ends in
  ``.so.<the module's version>``, as the toolkit keeps them, so a library
  left by another driver (``libcuda.so.535.0.0``) is never mounted over a
  550 kernel module;
- the tools: nvidia-smi, nvidia-debugdump, nvidia-persistenced,
  nvidia-cuda-mps-control and -server, in the directories of $PATH, then
  the standard ones (as NVIDIA's toolkit looks), under the root: a driver
  laid out as a cloud's GPU images lay it (``/usr/local/nvidia/bin`` and
  ``lib64``, in the loader cache and on PATH but in no standard
  directory) is found as on the machines whose driver is in ``/usr``;
- nvidia-persistenced's socket and the GSP firmware of this version.

No driver is not an error: the result is empty (``found`` is false), and
the caller says so.
"""
import os

from minirun.engine.cdi import ldcache
from minirun.records import record

DRIVER_ROOT_ENV = "MINIRUN_DRIVER_ROOT"
CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                 "/dev/nvidia-modeset")
BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
            "nvidia-cuda-mps-control", "nvidia-cuda-mps-server")
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PERSISTENCED_SOCKET = "/run/nvidia-persistenced/socket"
FIRMWARE_DIR = "/lib/firmware/nvidia"


@record
class Gpu:
    index: int       # NVML's and nvidia-smi's number: the PCI order
    minor: int       # /dev/nvidia<minor>
    uuid: str        # GPU-8c7a...
    pci: str         # 0000:17:00.0
    model: str

    @property
    def node(self) -> str:
        return f"/dev/nvidia{self.minor}"


@record
class Library:
    path: str        # the versioned file: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15
    soname: str      # libcuda.so.1


@record
class Driver:
    root: str                    # the driver root everything was read under
    version: str = ""            # the kernel module's: 550.54.15 ("" when no driver)
    gpus: tuple = ()             # Gpu, by index
    nodes: tuple = ()            # the control nodes that exist (CONTROL_NODES' order)
    cap_nodes: tuple = ()        # /dev/nvidia-caps/* (MIG's capabilities)
    libraries: tuple = ()        # Library
    binaries: tuple = ()         # /usr/bin/nvidia-smi, ...
    sockets: tuple = ()          # nvidia-persistenced's
    firmware: tuple = ()         # /lib/firmware/nvidia/VERSION/gsp_*.bin

    @property
    def found(self) -> bool:
        return bool(self.version)


def driver_root(root: str | None = None) -> str:
    """The driver root: ``root``, else $MINIRUN_DRIVER_ROOT, else "/"."""
    return os.path.abspath(root or os.environ.get(DRIVER_ROOT_ENV) or "/")


def host_path(root: str, path: str) -> str:
    """Where the container path ``path`` lies on the host under ``root``."""
    return os.path.join(root, path.lstrip("/")) if root != "/" else path


def discover(root: str | None = None) -> Driver:
    """Everything the driver under ``root`` (see driver_root) gives a
    container; an empty Driver when there is no driver."""
    root = driver_root(root)
    version = module_version(root)
    if not version:
        return Driver(root=root)

    def exists(path: str) -> bool:
        return os.path.exists(host_path(root, path))
    gpus = tuple(g for g in gpus_of(root) if exists(g.node))
    cap_nodes = tuple(f"/dev/nvidia-caps/{n}"
                      for n in sorted(_listdir(host_path(root, "/dev/nvidia-caps"))))
    return Driver(root=root, version=version, gpus=gpus,
                  nodes=tuple(n for n in CONTROL_NODES if exists(n)), cap_nodes=cap_nodes,
                  libraries=libraries(root, version), binaries=binaries(root),
                  sockets=tuple(p for p in (PERSISTENCED_SOCKET,) if exists(p)),
                  firmware=firmware(root, version))


def module_version(root: str) -> str:
    """The loaded kernel module's version, "" when none is loaded."""
    text = _read(host_path(root, "/sys/module/nvidia/version")).strip()
    if text:
        return text
    # NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 ...
    # (the open module says "Open Kernel Module for x86_64  550.54.15  Release Build")
    banner = _read(host_path(root, "/proc/driver/nvidia/version")).partition("\n")[0]
    for word in banner.partition("Kernel Module")[2].split():
        if word[0].isdigit() and "." in word and word.replace(".", "").isdigit():
            return word
    return ""


def gpus_of(root: str) -> list[Gpu]:
    """The GPUs the module knows, in PCI order (their index)."""
    base = host_path(root, "/proc/driver/nvidia/gpus")
    found = []
    for pci in sorted(_listdir(base)):
        info = {}
        for line in _read(os.path.join(base, pci, "information")).splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
        if info.get("Device Minor", "").isdigit():
            found.append(Gpu(index=len(found), minor=int(info["Device Minor"]),
                             uuid=info.get("GPU UUID", ""), pci=pci,
                             model=info.get("Model", "")))
    return found


def libraries(root: str, version: str) -> tuple:
    """The driver's libraries of this ``version`` that the root's loader
    cache names, for this machine's ABI, each once."""
    suffix = f".so.{version}"
    found: dict[str, Library] = {}
    for entry in ldcache.read(host_path(root, "/etc/ld.so.cache")):
        if not entry.native:
            continue
        path = resolve(root, entry.path)
        if path.endswith(suffix) and path not in found and \
                os.path.isfile(host_path(root, path)):
            found[path] = Library(path=path, soname=entry.soname)
    return tuple(found.values())


def resolve(root: str, path: str) -> str:
    """Follow the symbolic links of ``path``'s last part inside ``root``
    (an absolute target counts from the root, never from the host's /)."""
    for _ in range(40):                     # the kernel's own limit on links
        try:
            target = os.readlink(host_path(root, path))
        except OSError:
            return path
        path = os.path.normpath(target if target.startswith("/") else
                                os.path.join(os.path.dirname(path), target))
    return path


def binaries(root: str) -> tuple:
    """The driver's tools, each from the first directory holding it: those
    of $PATH (absolute ones), then the standard ones."""
    dirs = [d.rstrip("/") for d in os.environ.get("PATH", "").split(":") if d.startswith("/")]
    dirs = list(dict.fromkeys(dirs + list(PATH_DIRS)))
    found = []
    for name in BINARIES:
        for d in dirs:
            if os.path.isfile(host_path(root, f"{d}/{name}")) and os.access(
                    host_path(root, f"{d}/{name}"), os.X_OK):
                found.append(f"{d}/{name}")
                break
    return tuple(found)


def firmware(root: str, version: str) -> tuple:
    """The GSP firmware files of this driver version."""
    d = f"{FIRMWARE_DIR}/{version}"
    return tuple(f"{d}/{n}" for n in sorted(_listdir(host_path(root, d)))
                 if n.startswith("gsp") and n.endswith(".bin"))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
