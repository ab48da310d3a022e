"""Step 1 of a launch: what the config asks, checked and clamped before
anything is made (launch.py's ``create`` and ``exec_process`` call these).

check_spec           refuse what this runtime cannot do safely (sysctls not
                     namespaced or in the runtime's own namespace, a hostname
                     without a uts namespace, systemd cgroup paths, a shared
                     mount namespace with what needs a private one)
namespace_plan       which namespaces to make and which to join, by path
clamp_rlimits        rlimits lowered to what may be raised, with a warning
clamp_capabilities   capabilities the kernel lacks, and ambient ones it would
                     refuse, left out with a warning (as runc does)
"""
import os
import sys

from minirun.errors import ConfigError
from minirun.runtime import spec as spec_mod

# An annotation the engine writes where it has told the user already that a
# plain user's limits are ignored: the launch need not say it again.
LIMITS_WARNED = "org.minirun.limits-warned"


# Where warnings go: stderr, unless the engine gave minirun-oci a --log
# (as runc, everything it would say goes there then: under a shim the
# runtime's stderr may be the container's own, and a warning would read as
# the container's output).
_sink = None


def send_warnings_to(sink) -> None:
    """``sink(message)`` takes every warning from now on."""
    global _sink
    _sink = sink


def warn(message: str) -> None:
    if _sink is not None:
        _sink(message)
    else:
        sys.stderr.write(f"minirun: warning: {message}\n")


def clamp_rlimits(k, proc: spec_mod.Process, can_raise: bool) -> spec_mod.Process:
    limits = []
    for rl in proc.rlimits:
        soft, hard, why = k.rlimits.clamp(rl.type, rl.soft, rl.hard, can_raise)
        if why:
            warn(why)
        limits.append(spec_mod.Rlimit(type=rl.type, soft=soft, hard=hard))
    return proc._replace(rlimits=tuple(limits))


def clamp_capabilities(k, proc: spec_mod.Process) -> spec_mod.Process:
    """Grant what the kernel allows and say what it will not, as runc does:

    - a capability this kernel does not know (newer than cap_last_cap) is
      left out of every set;
    - an ambient capability must also be permitted and inheritable
      (capabilities(7)); `runc spec` lists ambient ones and no inheritable
      set, so those are not raised rather than failing the container.
    """
    caps = proc.capabilities
    if caps is None:
        return proc
    last, sets = k.capabilities.last_cap(), {}
    for key in caps._fields:
        names = getattr(caps, key)
        unknown = [n for n in names if k.capabilities.BY_NAME[n] > last]
        if unknown:
            warn(f"process.capabilities.{key}: {', '.join(unknown)} unknown to this kernel "
                 "(too new for it): not granted")
        sets[key] = tuple(n for n in names if n not in unknown)
    kept = set(sets["permitted"]) & set(sets["inheritable"])
    refused = [n for n in sets["ambient"] if n not in kept]
    if refused:
        warn(f"process.capabilities.ambient: {', '.join(refused)} not raised: an ambient "
             "capability must also be in the permitted and inheritable sets (add it to "
             "process.capabilities.inheritable to grant it)")
        sets["ambient"] = tuple(n for n in sets["ambient"] if n in kept)
    return proc._replace(capabilities=spec_mod.Capabilities(**sets))


def can_raise_rlimits(k, new_userns: bool) -> bool:
    """Raising a hard limit needs CAP_SYS_RESOURCE in the initial user ns."""
    if new_userns or k.idmap.is_rootless():
        return False
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


def namespace_plan(k, spec: spec_mod.Spec) -> tuple[int, bool, list]:
    ns = k.namespaces
    new_flags, joins = 0, []
    for n in spec.linux.namespaces:
        flag = ns.BY_TYPE[n.type][0]
        if n.path:
            joins.append((ns.JOIN_ORDER.index(n.type), n.path, flag))
        elif n.type != "user":
            new_flags |= flag
    new_userns = bool(spec.linux.namespace("user") and not spec.linux.namespace("user").path)
    return new_flags, new_userns, [(p, f) for _, p, f in sorted(joins)]


def check_spec(k, spec: spec_mod.Spec) -> None:
    """What the config asks that this runtime cannot do, refused before
    anything is made.  A namespace type the config does not list is the
    runtime's own, inherited (runtime-spec, config-linux.md): what would
    change that shared namespace for everyone in it is refused here."""
    if spec.process is None:
        raise ConfigError("process: missing; the container needs a process to run")
    if os.geteuid() != 0 and not spec.linux.namespace("user"):  # root of a user ns may
        raise ConfigError("linux.namespaces: running as a plain user needs a user namespace "
                          "(`minirun-oci spec --rootless` writes a config with one)")
    for key, _ in spec.linux.sysctl:
        if not k.sysctl.allowed(key):
            raise ConfigError(f"linux.sysctl: `{key}` is not namespaced: setting it would "
                              "change the host (only kernel.msg*, kernel.sem, kernel.shm*, "
                              "fs.mqueue.* and net.* can be set per container)")
        kind = k.sysctl.owner(key)
        if not _own_namespace(k, spec, kind):
            raise ConfigError(f"linux.sysctl: `{key}` needs a {kind} namespace that is not "
                              f"the runtime's own (add {{\"type\": \"{kind}\"}} to "
                              "linux.namespaces): it would change the host's")
    for field, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
        if value and not _own_namespace(k, spec, "uts"):
            raise ConfigError(f"{field}: setting it needs a uts namespace that is not the "
                              "runtime's own (add {\"type\": \"uts\"} to linux.namespaces)")
    if not spec.linux.namespace("mount"):
        check_shared_mounts(k, spec)
    if spec.linux.cgroups_path and ":" in spec.linux.cgroups_path:
        raise ConfigError(f"linux.cgroupsPath: `{spec.linux.cgroups_path}` is a systemd "
                          "slice:prefix:name path; minirun manages cgroupfs paths only "
                          "(use a path like /minirun/ID, or none)")


def _own_namespace(k, spec: spec_mod.Spec, kind: str) -> bool:
    """The container has a namespace of this type that is not ours: a new
    one, or one joined by a path that does not name the runtime's."""
    ns = spec.linux.namespace(kind)
    if ns is None:
        return False
    if ns.path is None:
        return True
    proc_name = k.namespaces.BY_TYPE[kind][1]
    try:
        return not k.namespaces.same(ns.path, f"/proc/self/ns/{proc_name}")
    except OSError:
        return True         # joining it will fail with its own clear error


def check_shared_mounts(k, spec: spec_mod.Spec) -> None:
    """No mount namespace: the container lives in the runtime's.  Its mounts
    are made there under the rootfs (removed again at delete) and it is
    chrooted, as runc does.  What would change mounts outside the rootfs,
    or cannot be undone, is refused, each naming why (runc refuses the same)."""
    if spec.linux.namespace("user") or k.idmap.in_user_namespace():
        raise ConfigError("linux.namespaces: a container in a user namespace needs a mount "
                          "namespace of its own: the runtime's mount namespace belongs to "
                          "another user namespace, so it could make neither its mounts nor "
                          "its /dev there (add {\"type\": \"mount\"})")
    why = "add {\"type\": \"mount\"} to linux.namespaces, or remove it"
    if spec.linux.masked_paths or spec.linux.readonly_paths:
        raise ConfigError("linux.maskedPaths: masked and read-only paths need a mount "
                          "namespace of the container's own (they would cover the runtime's "
                          f"/proc and /sys): {why}")
    if spec.root_readonly:
        raise ConfigError(f"root.readonly: a read-only root needs a mount namespace of the "
                          f"container's own: {why}")
    if spec.linux.rootfs_propagation:
        raise ConfigError(f"linux.rootfsPropagation: needs a mount namespace of the "
                          f"container's own: {why}")
    from minirun.runtime.rootfs import OVERLAY_ANNOTATION
    if (spec.annotations or {}).get(OVERLAY_ANNOTATION):
        raise ConfigError(f"annotations.{OVERLAY_ANNOTATION}: the overlay rootfs is mounted "
                          f"in the container's own mount namespace: {why}")


# --- id maps --------------------------------------------------------------
