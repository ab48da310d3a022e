"""The default config.json (``minirun-oci spec``) and ``features``.

The defaults are the ones runc and podman use: a small capability set, the
masked and read-only /proc paths, a minimal /dev, no_new_privs, and every
namespace but the user one (``--rootless`` adds it with the caller's ids).
"""
import json
import os

from minirun.errors import MiniRunError

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_config(rootless: bool = False) -> dict:
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts.append("gid=5")
    config = {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in
                             ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minirun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                                 "cgroup")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
            # no device but the runtime's standard ones (runtime/resources.py)
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }
    if rootless:
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"].update(rootless_mappings())
    return config


def rootless_mappings() -> dict:
    """The caller's own id as root, plus its subordinate range when it has one."""
    from minirun.kernel.idmap import subordinate_ranges
    uid, gid = os.getuid(), os.getgid()
    out = {}
    for kind, own in (("uid", uid), ("gid", gid)):
        maps = [{"containerID": 0, "hostID": own, "size": 1}]
        ranges = subordinate_ranges(kind, uid)
        if ranges:
            start, count = ranges[0]
            maps.append({"containerID": 1, "hostID": start, "size": min(count, 65536)})
        out[f"{kind}Mappings"] = maps
    if not subordinate_ranges("uid", uid):
        import sys
        sys.stderr.write(f"minirun-oci: uid {uid} has no range in /etc/subuid: the config maps "
                         "only your own id (container root)\n")
    return out


def write_spec(bundle: str, rootless: bool) -> int:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise MiniRunError(f"`{path}` exists already: remove it first")
    with open(path, "w") as f:
        json.dump(default_config(rootless), f, indent=2)
        f.write("\n")
    return 0


def features() -> dict:
    from minirun.kernel import capabilities, mounts, seccomp
    return {
        "ociVersionMin": "1.0.0", "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(list(mounts.OPTIONS) + list(mounts.PROPAGATION_OPTIONS)),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": capabilities.NAMES,
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": sorted(seccomp.ACTIONS),
                        "operators": sorted(seccomp.OPERATORS)},
            "apparmor": {"enabled": False}, "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "minirun-oci 0.1.0"},
    }
