"""top: the processes of a running container as ps(1) and podman top show
them, through descriptors (``top NAME user pid comm``): from /proc, with
the pids of its PID namespace and the users of its own /etc/passwd.

The descriptors are podman's (psgo's): pid, ppid, user, uid, group, comm,
args, etime, time, tty, pcpu, hpid, huser, vsz, rss, nice, pgid, stime;
their AIX-style names (%p, %P, %U, %c, %a, %t, %x, %y, %C, %z, %n, %r) too.
"""
import os
import pwd
import time

from minirun.engine.containers import records as ct
from minirun.errors import MiniRunError

DEFAULT = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")
HEADERS = {"user": "USER", "pid": "PID", "ppid": "PPID", "pcpu": "%CPU", "etime": "ELAPSED",
           "tty": "TTY", "time": "TIME", "args": "COMMAND", "comm": "COMMAND", "uid": "UID",
           "group": "GROUP", "hpid": "HPID", "huser": "HUSER", "vsz": "VSZ", "rss": "RSS",
           "nice": "NI", "pgid": "PGID", "stime": "STIME"}
AIX = {"%p": "pid", "%P": "ppid", "%U": "user", "%c": "comm", "%a": "args", "%t": "etime",
       "%x": "time", "%y": "tty", "%C": "pcpu", "%z": "vsz", "%n": "nice", "%r": "pgid"}


def descriptors(words: list[str]) -> list[str]:
    """The descriptors asked for (a comma list counts too), checked."""
    out = [AIX.get(w, w) for word in words for w in word.split(",") if w] or list(DEFAULT)
    unknown = [w for w in out if w not in HEADERS]
    if unknown:
        raise MiniRunError(f"top: unknown descriptor(s) {', '.join(unknown)}: use "
                           f"{', '.join(sorted(HEADERS))}")
    return out


def processes(pid1: int) -> list[dict]:
    """Every process of the PID namespace of ``pid1``, each a dict of the
    descriptors' values (as text), by pid."""
    ns = os.readlink(f"/proc/{pid1}/ns/pid")
    with open(f"/proc/{pid1}/uid_map") as f:
        maps = [tuple(int(x) for x in line.split()) for line in f]
    names = _names(f"/proc/{pid1}/root/etc/passwd")
    groups = _names(f"/proc/{pid1}/root/etc/group")
    raw = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    raw.append(_read(int(entry)))
            except OSError:
                continue
    inside = {p["hpid"]: p["nspid"] for p in raw}
    out = []
    for p in raw:
        uid = next((i + p["huid"] - o for i, o, n in maps if o <= p["huid"] < o + n), p["huid"])
        gid = next((i + p["hgid"] - o for i, o, n in maps if o <= p["hgid"] < o + n), p["hgid"])
        out.append({"pid": str(p["nspid"]), "ppid": str(inside.get(p["hppid"], 0)),
                    "user": names.get(uid, str(uid)), "uid": str(uid),
                    "group": groups.get(gid, str(gid)), "comm": p["comm"],
                    "args": p["args"] or f"[{p['comm']}]", "etime": go_duration(p["elapsed"]),
                    "time": go_duration(float(int(p["cpu"]))), "tty": p["tty"],
                    "pcpu": f"{p['cpu'] * 100 / p['elapsed'] if p['elapsed'] else 0:.3f}",
                    "hpid": str(p["hpid"]), "huser": _host_user(p["huid"]),
                    "vsz": str(p["vsz"] // 1024), "rss": str(p["rss"]), "nice": str(p["nice"]),
                    "pgid": str(inside.get(p["hpgid"], p["hpgid"])), "stime": p["stime"]})
    return sorted(out, key=lambda p: int(p["pid"]))


def _read(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    with open(f"/proc/{pid}/stat") as f:
        head, _, rest = f.read().rpartition(")")
    fields = rest.split()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    started = int(fields[19]) / ticks
    tty = int(fields[4])
    return {"hpid": pid, "nspid": int(status["NSpid"].split()[-1]), "hppid": int(fields[1]),
            "hpgid": int(fields[2]), "huid": int(status["Uid"].split()[0]),
            "hgid": int(status["Gid"].split()[0]), "comm": head.partition("(")[2],
            "args": args, "cpu": (int(fields[11]) + int(fields[12])) / ticks,
            "elapsed": max(0.0, uptime - started), "nice": int(fields[16]),
            "vsz": int(fields[20]), "rss": int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024,
            "tty": f"pts/{os.minor(tty)}" if tty and os.major(tty) == 136 else "?",
            "stime": time.strftime("%H:%M", time.localtime(time.time() - uptime + started))}


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 0s, 1.5s, 2m3.25s, 1h0m5s."""
    if seconds <= 0:
        return "0s"
    ns = int(round(seconds * 1e9))
    hours, ns = divmod(ns, 3600 * 10**9)
    minutes, ns = divmod(ns, 60 * 10**9)
    secs = f"{ns / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else "") + secs


def table(store, name: str, words: list[str]) -> list[list[str]]:
    """The header row and one row per process."""
    from minirun.engine.containers import lifecycle
    asked = descriptors(words)
    rec = lifecycle.refresh(store, ct.find(store, name))
    if rec["state"] not in ("running", "paused"):
        raise ct.ContainerError(f"container `{rec['name']}` is not running")
    rows = [[HEADERS[d] for d in asked]]
    rows += [[p[d] for d in asked] for p in processes(rec["pid"])]
    return rows


def _names(path: str) -> dict[int, str]:
    out = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    out.setdefault(int(parts[2]), parts[0])
    except OSError:
        pass
    return out


def _host_user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
