"""linux.resources -> cgroup files: the limits a container runs under.

The OCI config says what it wants once (memory limit, cpu shares, ...);
each cgroup version spells it differently.  The translation is organised by
controller, as youki and crun organise it: for each controller one function
per cgroup version says which files it writes.  :func:`files` asks, for each
controller, which tree holds it on this host (a v1 hierarchy, as on hybrid
hosts, else v2) and calls only that version's function: a translation for
one version is never computed, let alone refused, for a controller that the
other version holds (``disableOOMKiller`` has no v2 spelling, and must not
stop a host whose memory controller is v1).

The conversions between the two (cpu shares to weight, blkio weight to io
weight, memory+swap to swap) are runc's.  Order matters and is kept: a v1
cpu period before its quota, a memory limit before memory+swap (the kernel
refuses memsw below memory).  Malformed entries are refused naming their
JSON path.
"""
from minirun.errors import ConfigError

W = "linux.resources."

# What every container may use whatever its config denies (runc's list):
# mknod of any node (using one is another matter), the standard nodes,
# terminals, and /dev/net/tun.
DEFAULT_DEVICES = [{"allow": True, "type": t, "access": "m"} for t in ("c", "b")] + [
    {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, None),
                         (10, 200))]


def _section(res: dict, key: str) -> dict:
    value = res.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{W}{key}: expected an object, got {type(value).__name__}")
    return value


def _number(obj: dict, key: str, where: str, required: bool = False):
    value = obj.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}{key}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key}: expected an integer, got {type(value).__name__}")
    return value


def _entries(section: dict, key: str, where: str, fields: tuple[str, ...]):
    """Each object of a list such as blockIO.throttleReadBpsDevice, checked."""
    items = section.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{where}{key}: expected a list")
    for i, item in enumerate(items):
        w = f"{where}{key}[{i}]."
        if not isinstance(item, dict):
            raise ConfigError(f"{w[:-1]}: expected an object")
        for f in fields:
            if f != "pageSize":
                _number(item, f, w, required=True)
            elif not isinstance(item.get(f), str):
                raise ConfigError(f"{w}{f}: expected a page size such as \"2MB\"")
        yield item


# --- devices (v1 only: on v2 an eBPF program, see kernel/bpf.py) -----------

def _device_rule(d: dict) -> str:
    """``c 1:3 rwm``, as devices.allow and devices.deny read it."""
    if d.get("type", "a") == "a":
        return "a"
    major = "*" if d.get("major") is None else d["major"]
    minor = "*" if d.get("minor") is None else d["minor"]
    return f"{d['type']} {major}:{minor} {d.get('access') or 'rwm'}"


def devices_v1(res: dict) -> list[tuple[str, str]]:
    if res.get("devices") is None:
        return []
    rules = res["devices"]
    if not isinstance(rules, list) or not all(isinstance(d, dict) for d in rules):
        raise ConfigError(f"{W}devices: expected a list of objects")
    return [("devices.allow" if d.get("allow") else "devices.deny", _device_rule(d))
            for d in list(rules) + DEFAULT_DEVICES]       # the config's, then the defaults


# --- memory ------------------------------------------------------------------

def memory_v1(res: dict) -> list[tuple[str, str]]:
    mem, w, out = _section(res, "memory"), W + "memory.", []
    for key, name in (("limit", "memory.limit_in_bytes"),
                      ("reservation", "memory.soft_limit_in_bytes"),
                      ("swap", "memory.memsw.limit_in_bytes"),
                      ("swappiness", "memory.swappiness")):
        if _number(mem, key, w) is not None:
            out.append((name, str(mem[key])))
    if mem.get("disableOOMKiller"):
        out.append(("memory.oom_control", "1"))
    return out


def memory_v2(res: dict) -> list[tuple[str, str]]:
    mem, w, out = _section(res, "memory"), W + "memory.", []
    limit = _number(mem, "limit", w)
    if limit is not None:
        out.append(("memory.max", str(limit) if limit > 0 else "max"))
    if _number(mem, "reservation", w) is not None:
        out.append(("memory.low", str(mem["reservation"])))
    swap = _number(mem, "swap", w)
    if swap is not None:    # OCI counts memory+swap; v2 counts swap alone
        if swap == -1:
            out.append(("memory.swap.max", "max"))
        elif limit and limit > 0:
            out.append(("memory.swap.max", str(max(0, swap - limit))))
    if mem.get("disableOOMKiller"):
        raise ConfigError(f"{w}disableOOMKiller: cgroup v2 has no way to turn the OOM "
                          "killer off (remove it, or run on a host whose memory controller "
                          "is cgroup v1)")
    return out


# --- cpu -----------------------------------------------------------------------

def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000)."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def cpu_v1(res: dict) -> list[tuple[str, str]]:
    cpu, w, out = _section(res, "cpu"), W + "cpu.", []
    for key, name in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                      ("quota", "cpu.cfs_quota_us")):         # the period before the quota
        if _number(cpu, key, w):
            out.append((name, str(cpu[key])))
    return out


def cpu_v2(res: dict) -> list[tuple[str, str]]:
    cpu, w, out = _section(res, "cpu"), W + "cpu.", []
    if _number(cpu, "shares", w):
        out.append(("cpu.weight", str(cpu_weight(cpu["shares"]))))
    quota, period = _number(cpu, "quota", w), _number(cpu, "period", w)
    if quota or period:
        out.append(("cpu.max", f"{quota if quota and quota > 0 else 'max'} {period or 100000}"))
    return out


def cpuset_any(res: dict) -> list[tuple[str, str]]:
    """Both versions spell cpuset alike."""
    cpu, out = _section(res, "cpu"), []
    for key in ("cpus", "mems"):
        if cpu.get(key):
            if not isinstance(cpu[key], str):
                raise ConfigError(f"{W}cpu.{key}: expected a list such as \"0-1,3\"")
            out.append((f"cpuset.{key}", cpu[key]))
    return out


# --- pids ----------------------------------------------------------------------

def pids_any(res: dict) -> list[tuple[str, str]]:
    """Both versions spell pids alike."""
    limit = _number(_section(res, "pids"), "limit", W + "pids.")
    if limit is None:
        return []
    return [("pids.max", str(limit) if limit > 0 else "max")]


# --- block IO ------------------------------------------------------------------

def io_weight(weight: int) -> int:
    """v1 blkio.weight (10..1000) -> v2 io.weight (1..10000)."""
    return 1 + ((max(10, min(weight, 1000)) - 10) * 9999) // 990


THROTTLES = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
             ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
             ("throttleReadIOPSDevice", "read_iops_device", "riops"),
             ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def blkio_v1(res: dict) -> list[tuple[str, str]]:
    blk, w, out = _section(res, "blockIO"), W + "blockIO.", []
    if _number(blk, "weight", w):
        out.append(("blkio.weight", str(blk["weight"])))
    for key, v1_name, _ in THROTTLES:
        for d in _entries(blk, key, w, ("major", "minor", "rate")):
            out.append((f"blkio.throttle.{v1_name}", f"{d['major']}:{d['minor']} {d['rate']}"))
    return out


def io_v2(res: dict) -> list[tuple[str, str]]:
    blk, w, out = _section(res, "blockIO"), W + "blockIO.", []
    if _number(blk, "weight", w):
        out.append(("io.weight", f"default {io_weight(blk['weight'])}"))
    for key, _, v2_name in THROTTLES:
        for d in _entries(blk, key, w, ("major", "minor", "rate")):
            out.append(("io.max", f"{d['major']}:{d['minor']} {v2_name}={d['rate']}"))
    return out


# --- hugetlb -------------------------------------------------------------------

def hugetlb_v1(res: dict) -> list[tuple[str, str]]:
    return [(f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"]))
            for h in _entries(res, "hugepageLimits", W, ("pageSize", "limit"))]


def hugetlb_v2(res: dict) -> list[tuple[str, str]]:
    return [(f"hugetlb.{h['pageSize']}.max", str(h["limit"]))
            for h in _entries(res, "hugepageLimits", W, ("pageSize", "limit"))]


# --- the table -----------------------------------------------------------------

# controller as v1 names it, its v1 translation, its v2 name and translation
CONTROLLERS = (("devices", devices_v1, None, None),
               ("memory", memory_v1, "memory", memory_v2),
               ("cpu", cpu_v1, "cpu", cpu_v2),
               ("cpuset", cpuset_any, "cpuset", cpuset_any),
               ("pids", pids_any, "pids", pids_any),
               ("blkio", blkio_v1, "io", io_v2),
               ("hugetlb", hugetlb_v1, "hugetlb", hugetlb_v2))


def _unified(res: dict, v1_controllers: set[str]) -> list[tuple[int, str, str, str]]:
    """linux.resources.unified: raw v2 files, for controllers v2 holds here."""
    unified = res.get("unified") or {}
    if not isinstance(unified, dict):
        raise ConfigError(f"{W}unified: expected an object of file names and values")
    out = []
    for key, value in unified.items():
        if "/" in key or key.startswith(".") or "." not in key:
            raise ConfigError(f"{W}unified: `{key}` is not a cgroup file name")
        controller = key.split(".")[0]
        if ("blkio" if controller == "io" else controller) in v1_controllers:
            raise ConfigError(f"{W}unified.{key}: the {controller} controller is in a "
                              "cgroup v1 hierarchy on this host, not in cgroup v2")
        out.append((2, controller, key, str(value)))
    return out


def files(res: dict, v1_controllers: set[str]) -> list[tuple[int, str, str, str]]:
    """(version, controller, file, value) for every limit in ``res``: v1 for
    the controllers a v1 hierarchy holds here, v2 for the rest."""
    if not isinstance(res, dict):
        raise ConfigError(f"{W[:-1]}: expected an object")
    out = []
    for v1_name, v1_files, v2_name, v2_files in CONTROLLERS:
        if v1_name in v1_controllers:
            out += [(1, v1_name, f, v) for f, v in v1_files(res)]
        elif v2_files is not None:
            out += [(2, v2_name, f, v) for f, v in v2_files(res)]
    return out + _unified(res, v1_controllers)
