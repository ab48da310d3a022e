"""Kernel parameters under /proc/sys that a namespace owns (net.*, kernel.shm*).

Why (``--explain`` prints the item under the call):

- write: a kernel parameter the config sets; it belongs to the container's
  own namespace (network, IPC), so the host's stays as it was (sysctl(8), proc(5))

See: sysctl(8), proc(5)
"""
from minirun import explain

# Only these are namespaced (as runc and podman allow); others would change the host.
NAMESPACED = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
              "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
              "kernel.domainname", "kernel.hostname")
NAMESPACED_PREFIXES = ("fs.mqueue.", "net.")


def allowed(key: str) -> bool:
    return key in NAMESPACED or key.startswith(NAMESPACED_PREFIXES)


def owner(key: str) -> str:
    """The namespace type whose own copy of the parameter ``key`` sets."""
    if key.startswith("net."):
        return "network"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts"
    return "ipc"


def write(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    explain.say(f'write {path} "{value}"', why="write")
    with open(path, "w") as f:
        f.write(value)
