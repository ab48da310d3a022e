"""`minirun stats`: what running containers use, read from their cgroups.

CPU % is CPU time over wall time: since the container started for the
first sample, between two samples after that (as `top` does).  Memory,
pids and block IO are the kernel's own counters (runtime/usage.now).  A
rootless container without a cgroup of its own shares its caller's, and
has no figures of its own to show: it says so rather than show the
caller's.
"""
import time

from minirun.engine.containers import records as ct, lifecycle
from minirun.engine.store import Store


def _dirs(rec: dict) -> list[str]:
    from minirun.engine.containers import external
    from minirun.kernel import cgroups
    from minirun.errors import MiniRunError
    if external.for_record(rec):
        return cgroups.of_process(rec["pid"])
    rs = ct.runtime_store()
    try:
        return rs.load(rec["id"]).cgroup_dirs
    except MiniRunError:
        return []


def _started(rec: dict) -> float:
    """Seconds since the container started (its record's UTC stamp)."""
    from datetime import datetime, timezone
    try:
        stamp = datetime.fromisoformat(rec["started"].rstrip("Z")[:26])
    except (AttributeError, ValueError):
        return 0.0
    return time.time() - stamp.replace(tzinfo=timezone.utc).timestamp()


class Sampler:
    """Samples containers; CPU % between this sample and the last."""

    def __init__(self, store: Store, names: list[str]):
        self.store, self.names = store, names
        self.last: dict[str, tuple[float, int]] = {}

    def records(self) -> list[dict]:
        if self.names:
            recs = [lifecycle.refresh(self.store, ct.find(self.store, n)) for n in self.names]
            for rec in recs:
                if rec["state"] != "running":
                    raise ct.ContainerError(f"container `{rec['name']}` is not running")
            return recs
        out = []
        for rec in ct.all_records(self.store):
            try:
                rec = lifecycle.refresh(self.store, rec)
            except ct.ContainerError:
                continue
            if rec["state"] == "running":
                out.append(rec)
        return out

    def sample(self) -> list[dict]:
        from minirun.runtime import usage
        rows = []
        for rec in self.records():
            dirs = _dirs(rec)
            row = {"id": rec["id"], "name": rec["name"], "pid": rec["pid"],
                   "cgroup": bool(dirs), "uptime": _started(rec), **_net(rec["pid"])}
            if dirs:
                figures = usage.now(dirs)
                row.update(figures)
                t, cpu = time.monotonic(), figures.get("cpu_ns", 0)
                if rec["id"] in self.last:
                    t0, cpu0 = self.last[rec["id"]]
                    row["cpu_percent"] = 100 * (cpu - cpu0) / max(1e-9, (t - t0) * 1e9)
                else:
                    row["cpu_percent"] = 100 * cpu / max(1e-9, _started(rec) * 1e9)
                row["avg_cpu_percent"] = 100 * cpu / max(1e-9, _started(rec) * 1e9)
                self.last[rec["id"]] = (t, cpu)
            rows.append(row)
        return rows


def _net(pid: int) -> dict:
    """Bytes received and sent by the container's interfaces (its network
    namespace's /proc/net/dev, loopback left out)."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, counters = line.partition(":")
                fields = counters.split()
                if name.strip() != "lo" and len(fields) > 8:
                    rx, tx = rx + int(fields[0]), tx + int(fields[8])
    except OSError:
        pass
    return {"net_rx": rx, "net_tx": tx}


def human(n: int | None) -> str:
    if n is None:
        return "--"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000
    return str(n)


def as_podman(row: dict) -> dict:
    """podman's `stats --format json` fields (strings), and the numbers
    behind them for programs (cpu_nano, mem_bytes, ...)."""
    if not row["cgroup"]:
        return {"id": row["id"][:12], "name": row["name"], "cgroup": False}
    mem, limit = row.get("memory"), row.get("memory_limit")
    return {"id": row["id"][:12], "name": row["name"],
            "cpu_percent": f"{row['cpu_percent']:.2f}%",
            "mem_usage": f"{human(mem)} / {human(limit) if limit else 'unlimited'}",
            "mem_percent": f"{100 * mem / limit:.2f}%" if mem is not None and limit else "--",
            "net_io": f"{human(row.get('net_rx', 0))} / {human(row.get('net_tx', 0))}",
            "block_io": f"{human(row.get('io_read', 0))} / {human(row.get('io_write', 0))}",
            "pids": str(row.get("pids", "--")),
            "cpu_nano": row.get("cpu_ns"), "mem_bytes": mem, "mem_limit_bytes": limit,
            "net_rx_bytes": row.get("net_rx", 0), "net_tx_bytes": row.get("net_tx", 0),
            "block_read_bytes": row.get("io_read", 0),
            "block_write_bytes": row.get("io_write", 0), "pids_current": row.get("pids"),
            "cgroup": True}


def template_row(row: dict) -> dict:
    """What `stats --format '{{.Field}}'` sees, podman's field names."""
    from minirun.engine.containers.top import go_duration
    p = as_podman(row)
    if not p["cgroup"]:
        blank = "--"
        return {"ID": p["id"], "Name": p["name"], "CPUPerc": blank, "MemUsage": blank,
                "MemPerc": blank, "NetIO": blank, "BlockIO": blank, "PIDs": blank,
                "CPU": blank, "AVGCPU": blank, "UpTime": go_duration(row["uptime"])}
    return {"ID": p["id"], "Name": p["name"], "CPUPerc": p["cpu_percent"],
            "MemUsage": p["mem_usage"], "MemPerc": p["mem_percent"], "NetIO": p["net_io"],
            "BlockIO": p["block_io"], "PIDs": p["pids"],
            "CPU": go_duration(round((row.get("cpu_ns") or 0) / 1e9, 6)),
            "AVGCPU": f"{row.get('avg_cpu_percent', 0):.2f}%",
            "UpTime": go_duration(round(row["uptime"], 3))}


TABLE = ("table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t"
         "{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}\\t{{.CPU}}\\t{{.AVGCPU}}")
HEADERS = {"CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
           "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDs": "PIDS", "CPU": "CPU TIME",
           "AVGCPU": "AVG CPU %"}
