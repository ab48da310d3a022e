"""`minirun info`: what this host gives containers, and a clear word on
what it lacks (cgroup controllers, rootless helpers, device permissions)."""
import os
import platform
import shutil


def _network_modes(rootless: bool) -> str:
    """What --network may be here, and what is missing for the rest."""
    modes = ["none (the default for now)", "host"]
    if not rootless:
        modes.append("bridge and named networks" if shutil.which("nft") else
                     "bridge: missing nft (apt-get install nftables)")
    if shutil.which("slirp4netns"):
        tun = os.access("/dev/net/tun", os.R_OK | os.W_OK)
        modes.append("slirp4netns" if tun else "slirp4netns: /dev/net/tun is not usable")
    else:
        modes.append("slirp4netns: not installed")
    modes.append("pasta: " + ("installed, not driven yet" if shutil.which("pasta")
                              else "not installed"))
    return ", ".join(modes)


def _seccomp() -> bool:
    with open("/proc/self/status") as f:
        return "Seccomp:" in f.read()


def gather(root: str | None) -> dict:
    from minirun import __version__
    from minirun.engine.store import default_root
    from minirun.kernel import cgroups
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
        "host": {"kernel": platform.release(), "arch": platform.machine(),
                 "rootless": rootless, "cgroup": cgroup,
                 "cgroup v1 controllers": ",".join(v1) or "none",
                 "cgroup v2 controllers": ",".join(v2_controllers) or "none",
                 "overlay": "native overlayfs" + (" (userxattr, in a user namespace)"
                                                  if rootless else ""),
                 "seccomp": _seccomp(),
                 "network modes": _network_modes(rootless),
                 "missing": "; ".join(missing) or "nothing"},
        "store": {"root": root or default_root(), "version": __version__},
    }
