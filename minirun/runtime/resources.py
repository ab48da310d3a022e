"""linux.resources -> cgroup files: the limits a container runs under.

The OCI config says what it wants once (memory limit, cpu shares, ...),
parsed and checked by spec.py into one record per controller
(``spec.Resources``); each cgroup version spells it differently.  This
module is where cgroup policy lives, organised by controller as youki and
crun organise it: for each controller one function per cgroup version says
which files it writes, and :func:`apply` writes them.

:func:`files` asks, for each controller, which tree holds it on this host (a
v1 hierarchy, as on hybrid hosts, else v2) and calls only that version's
function: a translation for one version is never computed, let alone
refused, for a controller that the other version holds (``disableOOMKiller``
has no v2 spelling, and must not stop a host whose memory controller is v1).

The conversions between the two (cpu shares to weight, blkio weight to io
weight, memory+swap to swap) are runc's.  Order matters and is kept: a v1
cpu period before its quota, a memory limit before memory+swap (the kernel
refuses memsw below memory; :func:`apply` swaps them when raising both).

See: cgroups(7), the kernel's Documentation/admin-guide/cgroup-v1/ and
cgroup-v2.rst; runtime-spec config-linux.md ("Control groups")
"""
import os

from minirun.errors import ConfigError
from minirun.runtime.spec import DeviceRule, Resources

W = "linux.resources."

# What every container may use whatever its config denies (runc's list):
# mknod of any node (using one is another matter), the standard nodes,
# terminals, and /dev/net/tun.
DEFAULT_RULES = tuple(DeviceRule(allow=True, type=t, access="m") for t in ("c", "b")) + tuple(
    DeviceRule(allow=True, type="c", major=major, minor=minor, access="rwm")
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, None),
                         (10, 200)))
# the same, as config.json spells rules (kernel/bpf.py reads them so)
DEFAULT_DEVICES = [rule._asdict() for rule in DEFAULT_RULES]


# --- devices (v1 only: on v2 an eBPF program, see kernel/bpf.py) -----------

def _device_rule(d: DeviceRule) -> str:
    """``c 1:3 rwm``, as devices.allow and devices.deny read it."""
    if d.type == "a":
        return "a"
    major = "*" if d.major is None else d.major
    minor = "*" if d.minor is None else d.minor
    return f"{d.type} {major}:{minor} {d.access}"


def devices_v1(res: Resources) -> list[tuple[str, str]]:
    if res.devices is None:
        return []
    return [("devices.allow" if d.allow else "devices.deny", _device_rule(d))
            for d in res.devices + DEFAULT_RULES]       # the config's, then the defaults


# --- memory ------------------------------------------------------------------

def memory_v1(res: Resources) -> list[tuple[str, str]]:
    mem = res.memory
    out = [(name, str(value)) for name, value in (
        ("memory.limit_in_bytes", mem.limit),
        ("memory.soft_limit_in_bytes", mem.reservation),
        ("memory.memsw.limit_in_bytes", mem.swap),            # after the limit
        ("memory.swappiness", mem.swappiness)) if value is not None]
    if mem.disable_oom_killer:
        out.append(("memory.oom_control", "1"))
    return out


def memory_v2(res: Resources) -> list[tuple[str, str]]:
    mem, out = res.memory, []
    if mem.limit is not None:
        out.append(("memory.max", str(mem.limit) if mem.limit > 0 else "max"))
    if mem.reservation is not None:
        out.append(("memory.low", str(mem.reservation)))
    if mem.swap is not None:    # OCI counts memory+swap; v2 counts swap alone
        if mem.swap == -1:
            out.append(("memory.swap.max", "max"))
        elif mem.limit and mem.limit > 0:
            out.append(("memory.swap.max", str(max(0, mem.swap - mem.limit))))
    if mem.disable_oom_killer:
        raise ConfigError(f"{W}memory.disableOOMKiller: cgroup v2 has no way to turn the OOM "
                          "killer off (remove it, or run on a host whose memory controller "
                          "is cgroup v1)")
    return out


# --- cpu -----------------------------------------------------------------------

def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000)."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def cpu_v1(res: Resources) -> list[tuple[str, str]]:
    cpu = res.cpu
    return [(name, str(value)) for name, value in (
        ("cpu.shares", cpu.shares), ("cpu.cfs_period_us", cpu.period),
        ("cpu.cfs_quota_us", cpu.quota)) if value]          # the period before the quota


def cpu_v2(res: Resources) -> list[tuple[str, str]]:
    cpu, out = res.cpu, []
    if cpu.shares:
        out.append(("cpu.weight", str(cpu_weight(cpu.shares))))
    if cpu.quota or cpu.period:
        quota = cpu.quota if cpu.quota and cpu.quota > 0 else "max"
        out.append(("cpu.max", f"{quota} {cpu.period or 100000}"))
    return out


def cpuset_any(res: Resources) -> list[tuple[str, str]]:
    """Both versions spell cpuset alike."""
    return [(f"cpuset.{key}", value) for key, value in (("cpus", res.cpu.cpus),
                                                        ("mems", res.cpu.mems)) if value]


# --- pids ----------------------------------------------------------------------

def pids_any(res: Resources) -> list[tuple[str, str]]:
    """Both versions spell pids alike."""
    limit = res.pids.limit
    if limit is None:
        return []
    return [("pids.max", str(limit) if limit > 0 else "max")]


# --- block IO ------------------------------------------------------------------

def io_weight(weight: int) -> int:
    """v1 blkio.weight (10..1000) -> v2 io.weight (1..10000)."""
    return 1 + ((max(10, min(weight, 1000)) - 10) * 9999) // 990


# the BlockIO field, its v1 file (blkio.throttle.*) and its io.max key on v2
THROTTLES = (("throttle_read_bps_device", "read_bps_device", "rbps"),
             ("throttle_write_bps_device", "write_bps_device", "wbps"),
             ("throttle_read_iops_device", "read_iops_device", "riops"),
             ("throttle_write_iops_device", "write_iops_device", "wiops"))


def blkio_v1(res: Resources) -> list[tuple[str, str]]:
    blk, out = res.block_io, []
    if blk.weight:
        out.append(("blkio.weight", str(blk.weight)))
    for field, v1_name, _ in THROTTLES:
        out += [(f"blkio.throttle.{v1_name}", f"{t.major}:{t.minor} {t.rate}")
                for t in getattr(blk, field)]
    return out


def io_v2(res: Resources) -> list[tuple[str, str]]:
    blk, out = res.block_io, []
    if blk.weight:
        out.append(("io.weight", f"default {io_weight(blk.weight)}"))
    for field, _, v2_name in THROTTLES:
        out += [("io.max", f"{t.major}:{t.minor} {v2_name}={t.rate}")
                for t in getattr(blk, field)]
    return out


# --- hugetlb -------------------------------------------------------------------

def hugetlb_v1(res: Resources) -> list[tuple[str, str]]:
    return [(f"hugetlb.{h.page_size}.limit_in_bytes", str(h.limit))
            for h in res.hugepage_limits]


def hugetlb_v2(res: Resources) -> list[tuple[str, str]]:
    return [(f"hugetlb.{h.page_size}.max", str(h.limit)) for h in res.hugepage_limits]


# --- the table -----------------------------------------------------------------

# controller as v1 names it, its v1 translation, its v2 name and translation
CONTROLLERS = (("devices", devices_v1, None, None),
               ("memory", memory_v1, "memory", memory_v2),
               ("cpu", cpu_v1, "cpu", cpu_v2),
               ("cpuset", cpuset_any, "cpuset", cpuset_any),
               ("pids", pids_any, "pids", pids_any),
               ("blkio", blkio_v1, "io", io_v2),
               ("hugetlb", hugetlb_v1, "hugetlb", hugetlb_v2))


def _unified(res: Resources, v1_controllers: set[str]) -> list[tuple[int, str, str, str]]:
    """linux.resources.unified: raw v2 files, for controllers v2 holds here."""
    out = []
    for key, value in res.unified:
        controller = key.split(".")[0]
        if ("blkio" if controller == "io" else controller) in v1_controllers:
            raise ConfigError(f"{W}unified.{key}: the {controller} controller is in a "
                              "cgroup v1 hierarchy on this host, not in cgroup v2")
        out.append((2, controller, key, value))
    return out


def files(res: Resources, v1_controllers: set[str]) -> list[tuple[int, str, str, str]]:
    """(version, controller, file, value) for every limit in ``res``: v1 for
    the controllers a v1 hierarchy holds here, v2 for the rest."""
    out = []
    for v1_name, v1_files, v2_name, v2_files in CONTROLLERS:
        if v1_name in v1_controllers:
            out += [(1, v1_name, f, v) for f, v in v1_files(res)]
        elif v2_files is not None:
            out += [(2, v2_name, f, v) for f, v in v2_files(res)]
    return out + _unified(res, v1_controllers)


# --- writing them ----------------------------------------------------------------

def apply(k, res: Resources, leaves: list[str]) -> None:
    """Write ``res`` into a container's groups (``leaves``, one per tree):
    at create, and by `update` on a live one, where only the limits named
    change.  ``k`` is the kernel seam (k.cgroups, k.bpf, k.idmap)."""
    if res == Resources():
        return
    holders = k.cgroups.holders(leaves)
    v1_controllers = k.cgroups.v1_controllers()
    writes = _v1_memory_order(k, files(res, v1_controllers), holders)
    if res.devices is not None and "devices" not in v1_controllers:
        _device_filter(k, res, holders)
    for version, controller, name, value in writes:
        directory = holders.get(controller if version == 1 else "v2")
        if directory is None:
            raise ConfigError(f"{W[:-1]}: no {controller} controller on this host "
                              f"(for {name})")
        if version == 2:
            k.cgroups.enable(directory, controller, os.path.dirname(os.path.dirname(directory)))
        _write(k, directory, name, value)


def _v1_memory_order(k, writes: list, holders: dict) -> list:
    """v1 keeps memory <= memory+swap at every step: raising both, the larger
    memsw goes first (as runc orders it for update); else the limit first."""
    names = [w[2] for w in writes]
    if "memory.limit_in_bytes" in names and "memory.memsw.limit_in_bytes" in names:
        i, j = names.index("memory.limit_in_bytes"), names.index("memory.memsw.limit_in_bytes")
        current = k.cgroups.read(holders.get("memory", ""), "memory.memsw.limit_in_bytes")
        if current and int(writes[i][3]) > int(current):
            writes[i], writes[j] = writes[j], writes[i]
    return writes


def _device_filter(k, res: Resources, holders: dict) -> None:
    """cgroup v2 has no devices controller: an eBPF program per group.  A
    plain user needs none: a user namespace cannot use host devices."""
    if not holders.get("v2") or os.geteuid() != 0 or k.idmap.in_user_namespace():
        return
    try:
        k.bpf.attach_device_filter(holders["v2"], [rule._asdict() for rule in res.devices]
                                   + DEFAULT_DEVICES)
    except OSError as e:
        raise ConfigError(f"{W}devices: cannot attach the device filter "
                          f"({e.strerror})") from None


def _write(k, directory: str, name: str, value: str) -> None:
    try:
        try:
            k.cgroups.write(directory, name, value)
        except FileNotFoundError:
            if name != "blkio.weight":
                raise
            k.cgroups.write(directory, "blkio.bfq.weight", value)   # the BFQ scheduler's
    except OSError as e:
        raise ConfigError(f"{W[:-1]}: the kernel refused {name} = {value!r} "
                          f"({e.strerror})") from None
