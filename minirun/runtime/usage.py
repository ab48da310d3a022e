"""What a container's cgroups counted: CPU time, memory, block IO, pids
and OOM kills, read from whichever tree holds each controller (v1's files
or v2's).  The engine's `stats`, `inspect` and `wait` show these; the
runtime reads them (`lifecycle.usage`) before it removes the groups.
kernel/cgroups.py makes, fills and removes groups; this module only reads.

See: cgroups(7), the kernel's cgroup-v1/ and cgroup-v2.rst
"""
from minirun.kernel import cgroups


def usage(dirs: list[str]) -> dict:
    """What a container's groups counted: CPU time (ns), peak memory
    (bytes), OOM kills; from whichever tree holds each controller."""
    out = {"oom_kills": oom_kills(dirs)}
    for d in dirs:
        ns = cgroups.read(d, "cpuacct.usage")                      # v1
        if ns is not None:
            out["cpu_ns"] = int(ns)
        for line in (cgroups.read(d, "cpu.stat") or "").splitlines():   # v2
            key, _, value = line.partition(" ")
            if key == "usage_usec" and "cpu_ns" not in out:
                out["cpu_ns"] = int(value) * 1000
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            value = cgroups.read(d, name)
            if value is not None and value.strip().isdigit():
                out["memory_peak"] = int(value)
    out.update(io_bytes(dirs))
    return out


def io_bytes(dirs: list[str]) -> dict:
    """Bytes read and written on block devices: v1 blkio, or v2 io.stat."""
    out = {}
    for d in dirs:
        for line in (cgroups.read(d, "blkio.throttle.io_service_bytes") or "").splitlines():   # v1
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("Read", "Write"):
                key = "io_read" if parts[1] == "Read" else "io_write"
                out[key] = out.get(key, 0) + int(parts[2])
        for line in (cgroups.read(d, "io.stat") or "").splitlines():                       # v2
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key in ("rbytes", "wbytes"):
                    name = "io_read" if key == "rbytes" else "io_write"
                    out[name] = out.get(name, 0) + int(value)
    return out


def now(dirs: list[str]) -> dict:
    """What a live container's groups hold now: CPU time, memory in use and
    its limit (None: unlimited), pids, bytes read and written on block
    devices; each from whichever tree holds the controller."""
    out = usage(dirs)
    for d in dirs:
        for name in ("memory.usage_in_bytes", "memory.current"):
            value = cgroups.read(d, name)
            if value is not None:
                out["memory"] = int(value)
        for name in ("memory.limit_in_bytes", "memory.max"):
            value = (cgroups.read(d, name) or "").strip()
            if value:
                limit = None if value == "max" or int(value) >= 1 << 62 else int(value)
                out["memory_limit"] = limit
        value = cgroups.read(d, "pids.current")
        if value is not None:
            out["pids"] = int(value)
    return out


def oom_kills(dirs: list[str]) -> int:
    """How many processes the OOM killer took in these groups: v2's
    memory.events, or v1's memory.oom_control (oom_kill, kernel 4.13+)."""
    count = 0
    for d in dirs:
        for name in ("memory.events", "memory.oom_control"):
            for line in (cgroups.read(d, name) or "").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    count += int(value)
    return count
