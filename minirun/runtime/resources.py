"""linux.resources -> cgroup files: the limits a container runs under.

The OCI config says what it wants once (memory limit, cpu shares, ...);
each cgroup version spells it differently.  :func:`files` turns the config
into ``(controller, file, value)`` writes for the tree that holds each
controller on this host: v1 where a v1 hierarchy has the controller (as on
hybrid hosts), else v2.  The conversions between the two (cpu shares to
weight, blkio weight to io weight, memory+swap to swap) are runc's.

Order matters and is kept: a v1 cpu period before its quota, a memory
limit before memory+swap (the kernel refuses memsw below memory).
"""
from minirun.errors import ConfigError


# What every container may use whatever its config denies (runc's list):
# mknod of any node (using one is another matter), the standard nodes,
# terminals, and /dev/net/tun.
DEFAULT_DEVICES = [{"allow": True, "type": t, "access": "m"} for t in ("c", "b")] + [
    {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, None),
                         (10, 200))]


def _device_rule(d: dict) -> str:
    """``c 1:3 rwm``, as devices.allow and devices.deny read it."""
    if d.get("type", "a") == "a":
        return "a"
    major = "*" if d.get("major") is None else d["major"]
    minor = "*" if d.get("minor") is None else d["minor"]
    return f"{d['type']} {major}:{minor} {d.get('access') or 'rwm'}"


def _cpuset_and_pids(res: dict) -> list[tuple[str, str, str]]:
    """The files both versions spell alike."""
    out = []
    cpu, pids = res.get("cpu") or {}, res.get("pids") or {}
    if cpu.get("cpus"):
        out.append(("cpuset", "cpuset.cpus", cpu["cpus"]))
    if cpu.get("mems"):
        out.append(("cpuset", "cpuset.mems", cpu["mems"]))
    if pids.get("limit") is not None:
        out.append(("pids", "pids.max", str(pids["limit"]) if pids["limit"] > 0 else "max"))
    return out


def _v1(res: dict) -> list[tuple[str, str, str]]:
    out = []
    if res.get("devices") is not None:      # the config's rules, then the defaults
        for d in list(res["devices"]) + DEFAULT_DEVICES:
            out.append(("devices", "devices.allow" if d.get("allow") else "devices.deny",
                        _device_rule(d)))
    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        out.append(("memory", "memory.limit_in_bytes", str(mem["limit"])))
    if mem.get("reservation") is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", str(mem["reservation"])))
    if mem.get("swap") is not None:
        out.append(("memory", "memory.memsw.limit_in_bytes", str(mem["swap"])))
    if mem.get("swappiness") is not None:
        out.append(("memory", "memory.swappiness", str(mem["swappiness"])))
    if mem.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", "1"))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        out.append(("cpu", "cpu.shares", str(cpu["shares"])))
    if cpu.get("period"):
        out.append(("cpu", "cpu.cfs_period_us", str(cpu["period"])))
    if cpu.get("quota"):
        out.append(("cpu", "cpu.cfs_quota_us", str(cpu["quota"])))
    out += _cpuset_and_pids(res)
    blk = res.get("blockIO") or {}
    if blk.get("weight"):
        out.append(("blkio", "blkio.weight", str(blk["weight"])))
    for key, name in (("throttleReadBpsDevice", "read_bps_device"),
                      ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"),
                      ("throttleWriteIOPSDevice", "write_iops_device")):
        for d in blk.get(key) or []:
            out.append(("blkio", f"blkio.throttle.{name}",
                        f"{d['major']}:{d['minor']} {d['rate']}"))
    for h in res.get("hugepageLimits") or []:
        out.append(("hugetlb", f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"])))
    return out


def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000)."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def io_weight(weight: int) -> int:
    """v1 blkio.weight (10..1000) -> v2 io.weight (1..10000)."""
    return 1 + ((max(10, min(weight, 1000)) - 10) * 9999) // 990


def _v2(res: dict) -> list[tuple[str, str, str]]:
    out = []
    mem = res.get("memory") or {}
    limit = mem.get("limit")
    if limit is not None:
        out.append(("memory", "memory.max", str(limit) if limit > 0 else "max"))
    if mem.get("reservation") is not None:
        out.append(("memory", "memory.low", str(mem["reservation"])))
    swap = mem.get("swap")
    if swap is not None:    # OCI counts memory+swap; v2 counts swap alone
        if swap == -1:
            out.append(("memory", "memory.swap.max", "max"))
        elif limit and limit > 0:
            out.append(("memory", "memory.swap.max", str(max(0, swap - limit))))
    if mem.get("disableOOMKiller"):
        raise ConfigError("linux.resources.memory.disableOOMKiller: cgroup v2 has no way "
                          "to turn the OOM killer off")
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        out.append(("cpu", "cpu.weight", str(cpu_weight(cpu["shares"]))))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        out.append(("cpu", "cpu.max",
                    f"{quota if quota > 0 else 'max'} {cpu.get('period') or 100000}"))
    out += _cpuset_and_pids(res)
    blk = res.get("blockIO") or {}
    if blk.get("weight"):
        out.append(("io", "io.weight", f"default {io_weight(blk['weight'])}"))
    for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                      ("throttleReadIOPSDevice", "riops"),
                      ("throttleWriteIOPSDevice", "wiops")):
        for d in blk.get(key) or []:
            out.append(("io", "io.max", f"{d['major']}:{d['minor']} {name}={d['rate']}"))
    for h in res.get("hugepageLimits") or []:
        out.append(("hugetlb", f"hugetlb.{h['pageSize']}.max", str(h["limit"])))
    for key, value in (res.get("unified") or {}).items():
        if "/" in key or key.startswith("."):
            raise ConfigError(f"linux.resources.unified: `{key}` is not a cgroup file name")
        out.append((key.split(".")[0], key, str(value)))
    return out


def files(res: dict, v1_controllers: set[str]) -> list[tuple[int, str, str, str]]:
    """(version, controller, file, value) for every limit in ``res``: v1 for
    the controllers a v1 hierarchy holds here, v2 for the rest."""
    out = [(1, c, f, v) for c, f, v in _v1(res) if c in v1_controllers]
    unified = res.get("unified") or {}
    for c, f, v in _v2(res):
        if ("blkio" if c == "io" else c) not in v1_controllers:
            out.append((2, c, f, v))
        elif f in unified:
            raise ConfigError(f"linux.resources.unified.{f}: the {c} controller is in a "
                              "cgroup v1 hierarchy on this host, not in cgroup v2")
    return out
