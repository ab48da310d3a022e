"""Resource flags, as podman spells them, -> the OCI ``linux.resources``.

    --memory 64m --memory-swap 128m   memory.limit, memory.swap (memory+swap)
    --cpus 0.5                        cpu.quota 50000 per cpu.period 100000
    --pids-limit 20                   pids.limit
    --device-write-bps /dev/sda:1mb   blockIO.throttleWriteBpsDevice major:minor

The runtime turns these into cgroup files (runtime/resources.py).
"""
import os
import re
import stat

from minirun.errors import MiniRunError

MIN_MEMORY = 6 << 20          # podman's floor: below it a container cannot start
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", re.IGNORECASE)


def size(text: str, flag: str) -> int:
    """``512m`` -> 536870912 (podman's units: b, k, m, g, t; powers of 1024)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise MiniRunError(f"--{flag} {text}: not a size (use bytes, or a number with "
                           "k, m, g: 512m)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def number(kw: dict, key: str, kind=int):
    text = kw.get(key)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise MiniRunError(f"--{key.replace('_', '-')} {text}: not a number") from None


def _device(spec: str, flag: str, rate_of) -> dict:
    path, sep, rate = spec.rpartition(":")
    if not sep or not path:
        raise MiniRunError(f"--{flag} {spec}: give DEVICE:RATE (e.g. /dev/loop0:1mb)")
    try:
        st = os.stat(path)
    except OSError as e:
        raise MiniRunError(f"--{flag} {spec}: {path}: {e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise MiniRunError(f"--{flag} {spec}: {path} is not a block device")
    return {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "rate": rate_of(rate)}


def resources(kw: dict) -> dict:
    """linux.resources for the flags given (empty when none are)."""
    res: dict = {}
    memory = {}
    if kw.get("memory"):
        memory["limit"] = size(kw["memory"], "memory")
        if memory["limit"] < MIN_MEMORY:     # the runtime and a shell need about that
            raise MiniRunError(f"--memory {kw['memory']}: minimum memory limit allowed "
                               "is 6MB")
    if kw.get("memory_reservation"):
        memory["reservation"] = size(kw["memory_reservation"], "memory-reservation")
    if kw.get("memory_swap"):
        swap = -1 if kw["memory_swap"] == "-1" else size(kw["memory_swap"], "memory-swap")
        if "limit" not in memory:
            raise MiniRunError("--memory-swap needs --memory (it is memory plus swap)")
        if swap != -1 and swap < memory["limit"]:
            raise MiniRunError("--memory-swap must be at least --memory (it is memory "
                               "plus swap), or -1 for unlimited swap")
        memory["swap"] = swap
    if memory:
        res["memory"] = memory
    cpu = {}
    cpus = number(kw, "cpus", float)
    if cpus is not None:
        if cpus <= 0:
            raise MiniRunError(f"--cpus {kw['cpus']}: must be more than 0")
        cpu["period"] = 100000
        cpu["quota"] = int(cpus * 100000)
    for key, field in (("cpu_shares", "shares"), ("cpu_quota", "quota"),
                       ("cpu_period", "period")):
        value = number(kw, key)
        if value is not None:
            cpu[field] = value
    if kw.get("cpuset_cpus"):
        cpu["cpus"] = kw["cpuset_cpus"]
    if kw.get("cpuset_mems"):
        cpu["mems"] = kw["cpuset_mems"]
    if cpu:
        res["cpu"] = cpu
    pids = number(kw, "pids_limit")
    if pids is not None:
        res["pids"] = {"limit": pids}
    blkio: dict = {}
    weight = number(kw, "blkio_weight")
    if weight is not None:
        if not 10 <= weight <= 1000:
            raise MiniRunError(f"--blkio-weight {weight}: must be 10 to 1000")
        blkio["weight"] = weight
    for key, field, rate_of in (
            ("device_read_bps", "throttleReadBpsDevice", lambda r: size(r, "device-read-bps")),
            ("device_write_bps", "throttleWriteBpsDevice",
             lambda r: size(r, "device-write-bps")),
            ("device_read_iops", "throttleReadIOPSDevice", lambda r: _iops(r, "read")),
            ("device_write_iops", "throttleWriteIOPSDevice", lambda r: _iops(r, "write"))):
        for spec in kw.get(key) or []:
            blkio.setdefault(field, []).append(_device(spec, key.replace("_", "-"), rate_of))
    if blkio:
        res["blockIO"] = blkio
    return res


def _iops(text: str, way: str) -> int:
    if not text.isdigit():
        raise MiniRunError(f"--device-{way}-iops: `{text}` is not a whole number of "
                           "operations per second")
    return int(text)
