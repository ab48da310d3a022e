"""`minirun info`: what this host gives containers, and a clear word on
what it lacks (cgroup controllers, rootless helpers, device permissions)."""
import os
import platform
import shutil


def _network_modes(rootless: bool) -> str:
    """What --network may be here (the default first), and what is missing."""
    tun = os.access("/dev/net/tun", os.R_OK | os.W_OK)
    user = {tool: tool if shutil.which(tool) and tun else
            f"{tool}: /dev/net/tun is not usable" if shutil.which(tool) else
            f"{tool}: not installed" for tool in ("pasta", "slirp4netns")}
    bridge = "bridge and named networks" + ("" if shutil.which("nft") else
                                            ": missing nft (apt-get install nftables)")
    if rootless:
        default = "pasta" if shutil.which("pasta") else "slirp4netns"
        return ", ".join([f"{user[default]} (the default)",
                          user["slirp4netns" if default == "pasta" else "pasta"],
                          bridge + " (in a network namespace of yours, through slirp4netns)",
                          "none", "host"])
    return ", ".join([bridge + " (the default)", user["pasta"], user["slirp4netns"], "none",
                      "host"])


def _seccomp() -> bool:
    with open("/proc/self/status") as f:
        return "Seccomp:" in f.read()


def gather(root: str | None) -> dict:
    from minirun import __version__
    from minirun.engine.store import default_root
    from minirun.kernel import cgroups
    from minirun.runtime.state import default_root as runtime_root
    from minirun.kernel.idmap import is_rootless, subordinate_ranges
    trees = cgroups.hierarchies()
    v2 = [t for t in trees if t.version == 2]
    v1 = [c for t in trees if t.version == 1 for c in t.controllers]
    v2_controllers = []
    if v2:
        try:
            with open(os.path.join(v2[0].mountpoint, "cgroup.controllers")) as f:
                v2_controllers = f.read().split()
        except OSError:
            pass
    rootless = is_rootless()
    missing = []
    if rootless:
        if not subordinate_ranges("uid", os.getuid()):
            missing.append("no /etc/subuid range for this user: containers map one id only")
        if not shutil.which("newuidmap"):
            missing.append("newuidmap is not installed (Debian: uidmap)")
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):
            missing.append("/dev/fuse is not usable by this user (lazy layers need it)")
        missing.append("no delegated cgroup tree: containers run without limits")
    cgroup = ("v2" if v2 and not v1 else "hybrid (v1 controllers, v2 mounted beside)"
              if v2 else "v1")
    return {
        "host": {"kernel": platform.release(),
                 "arch": ARCH.get(platform.machine(), platform.machine()),
                 "rootless": rootless, "cgroup": cgroup,
                 "cgroup v1 controllers": ",".join(v1) or "none",
                 "cgroup v2 controllers": ",".join(v2_controllers) or "none",
                 "overlay": "native overlayfs" + (" (userxattr, in a user namespace)"
                                                  if rootless else ""),
                 "seccomp": _seccomp(),
                 "network modes": _network_modes(rootless),
                 "missing": "; ".join(missing) or "nothing",
                 # podman's names for what scripts read (`info --format`)
                 "os": "linux", "hostname": platform.node(),
                 "cgroupVersion": "v2" if v2 and not v1 else "v1",
                 "cgroupManager": "cgroupfs", "cpus": os.cpu_count(),
                 "ociRuntime": {"name": "minirun"},
                 "security": {"rootless": rootless, "seccompEnabled": _seccomp()}},
        "store": {"root": root or default_root(), "runroot": runtime_root(),
                  "version": __version__, "graphRoot": root or default_root(),
                  "runRoot": runtime_root(), "graphDriverName": "overlay"},
        "version": {"Version": __version__, "APIVersion": __version__, "Os": "linux",
                    "OsArch": f"linux/{ARCH.get(platform.machine(), platform.machine())}",
                    "PythonVersion": platform.python_version()},
    }


ARCH = {"x86_64": "amd64", "aarch64": "arm64"}      # as Go names them
