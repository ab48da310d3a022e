"""The container's settings beyond its limits (limits.py): podman's
--ulimit, --sysctl, --shm-size, --stop-signal, --stop-timeout, --add-host,
--group-add, --expose, --platform, --read-only-tmpfs and the --health-*
flags (engine/containers/health.py runs the check).

Each is checked once when the spec is made (``check``: one MiniRunError
naming the flag and saying what it takes) and written into config.json by
the bundle (``apply``), so `--dry-run` shows it and the runtime applies it
as any OCI runtime would (process.rlimits, linux.sysctl, the /dev/shm
tmpfs, process.user.additionalGids).
"""
import ipaddress
import json
import platform as host_platform
import re
import signal

from minirun.errors import MiniRunError

# sysctls a container may set: those of the namespaces it has (podman's list)
NAMESPACED = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
              "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
NAMESPACED_PREFIXES = ("fs.mqueue.", "net.")
READ_ONLY_TMPFS = ("/tmp", "/var/tmp", "/run")      # podman's --read-only-tmpfs
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
NS = 1_000_000_000
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64"}


def check(kw: dict) -> dict:
    """The checked values of these flags, by spec field."""
    from minirun.engine.containers.limits import size
    return {
        "stop_signal": stop_signal(kw["stop_signal"]),
        "stop_timeout": _whole(kw["stop_timeout"], "--stop-timeout"),
        "add_host": tuple(_host(h) for h in kw["add_host"]),
        "sysctl": dict(_sysctl(s, kw["network"]) for s in kw["sysctl"]),
        "shm_size": size(kw["shm_size"], "shm-size") if kw["shm_size"] else None,
        "ulimit": tuple(_ulimit(u) for u in kw["ulimit"]),
        "group_add": tuple(kw["group_add"]),
        "expose": tuple(_port(p) for p in kw["expose"]),
        "read_only_tmpfs": _bool(kw["read_only_tmpfs"], "--read-only-tmpfs"),
    } | ({"platform": platform(kw["platform"])} if kw["platform"] else {})


def stop_signal(text: str | None) -> str | None:
    """SIGINT, INT or 2 -> "SIGINT"; None stays None (the image's, else SIGTERM)."""
    if not text:
        return None
    name = str(text).upper()
    try:
        sig = signal.Signals(int(name)) if name.isdigit() else \
            signal.Signals[name if name.startswith("SIG") else "SIG" + name]
    except (ValueError, KeyError):
        raise MiniRunError(f"--stop-signal {text}: not a signal (SIGINT, INT or 2)") from None
    return sig.name


def platform(text: str) -> str:
    """Only this host's: minirun runs no other architecture's binaries."""
    arch = ARCHES.get(host_platform.machine(), host_platform.machine())
    os_name, _, rest = text.partition("/")
    want = rest.partition("/")[0]
    if os_name != "linux" or ARCHES.get(want, want) != arch:
        raise MiniRunError(f"--platform {text}: only this host's platform, linux/{arch}, "
                           "runs here (no emulation)")
    return f"linux/{arch}"


def apply(config: dict, spec, groups: list[list[str]]) -> None:
    """Write the settings into ``config`` (a bundle being built); ``groups``:
    the image's /etc/group, split."""
    process, linux = config["process"], config["linux"]
    if spec.ulimit:
        given = {name for name, _, _ in spec.ulimit}
        process["rlimits"] = [r for r in process.get("rlimits", []) if r["type"] not in given] \
            + [{"type": name, "soft": soft, "hard": hard} for name, soft, hard in spec.ulimit]
    if spec.network not in ("host", "none") and not spec.network.startswith("container:"):
        # podman's default: ping for group 0 (an ICMP socket, no raw socket or capability)
        linux.setdefault("sysctl", {})["net.ipv4.ping_group_range"] = "0 0"
    if spec.sysctl:
        linux["sysctl"] = dict(linux.get("sysctl") or {}, **spec.sysctl)
    if spec.shm_size:
        for m in config["mounts"]:
            if m["destination"] == "/dev/shm":
                m["options"] = [o for o in m.get("options", []) if not o.startswith("size=")] \
                    + [f"size={spec.shm_size}"]
    if spec.group_add:
        gids = process["user"].setdefault("additionalGids", [])
        gids += [g for g in (_group(groups, name) for name in spec.group_add) if g not in gids]
    if spec.read_only and spec.read_only_tmpfs:
        taken = {m["destination"] for m in config["mounts"]}
        config["mounts"] += [{"destination": d, "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "mode=1777" if d != "/run"
                                          else "mode=755"]}
                             for d in READ_ONLY_TMPFS if d not in taken]


def duration(text: str, flag: str) -> int:
    """A Go duration (30s, 1m30s, 500ms) in nanoseconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise MiniRunError(f"{flag} {text}: a duration such as 30s, 1m30s or 500ms")
    return int(sum(float(n) * DURATION_UNITS[u] for n, u in parts) * NS)


def healthcheck(kw: dict) -> dict | None:
    """The --health-* flags as an OCI image's Healthcheck (times in ns);
    None where none is given (the image's applies)."""
    if kw["no_healthcheck"]:
        return {"Test": ["NONE"]}
    cmd = kw["health_cmd"]
    if not cmd:
        return None
    if cmd.startswith("["):
        try:
            test = json.loads(cmd)
        except ValueError:
            test = None
        if not isinstance(test, list) or not test:
            raise MiniRunError(f"--health-cmd {cmd}: a JSON array, or a shell command")
        test = test if test[0] in ("CMD", "CMD-SHELL") else ["CMD"] + test
    else:
        test = ["CMD-SHELL", cmd]
    interval = kw["health_interval"] or "30s"
    retries = str(kw["health_retries"] if kw["health_retries"] is not None else 3)
    if not retries.isdigit() or int(retries) < 1:
        raise MiniRunError(f"--health-retries {retries}: a whole number, 1 or more")
    return {"Test": test,
            "Interval": 0 if interval == "disable" else duration(interval, "--health-interval"),
            "Timeout": duration(kw["health_timeout"] or "30s", "--health-timeout"),
            "StartPeriod": duration(kw["health_start_period"] or "0s",
                                    "--health-start-period"),
            "Retries": int(retries)}


def hosts_lines(spec) -> list[str]:
    """--add-host's lines for /etc/hosts."""
    return [f"{address}\t{host}\n" for host, address in spec.add_host]


def _whole(text, flag: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise MiniRunError(f"{flag} {text}: a whole number of seconds, 0 or more")
    return value


def _bool(text, flag: str) -> bool:
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("true", "1", "yes", ""):
        return True
    if str(text).lower() in ("false", "0", "no"):
        return False
    raise MiniRunError(f"{flag}={text}: true or false")


def _host(text: str) -> tuple[str, str]:
    """HOST:IP (an IPv6 address keeps its colons)."""
    host, sep, address = text.partition(":")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        sep = ""
    if not sep or not host:
        raise MiniRunError(f"--add-host {text}: HOST:IP, e.g. db:10.0.0.5")
    return host, address


def _sysctl(text: str, network) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise MiniRunError(f"--sysctl {text}: NAME=VALUE, e.g. net.ipv4.ip_forward=1")
    if name not in NAMESPACED and not name.startswith(NAMESPACED_PREFIXES):
        raise MiniRunError(f"--sysctl {name}: not a namespaced kernel parameter; a "
                           "container may set net.*, fs.mqueue.* and the kernel's IPC ones")
    if name.startswith("net.") and network == "host":
        raise MiniRunError(f"--sysctl {name}: with --network host it would change the "
                           "host's network")
    return name, value


def _ulimit(text: str) -> tuple[str, int, int]:
    """TYPE=SOFT[:HARD] (-1 or unlimited: no limit)."""
    from minirun.kernel.rlimits import BY_NAME as NAMES
    kind, sep, values = text.partition("=")
    name = "RLIMIT_" + kind.upper().removeprefix("RLIMIT_")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = _limit(soft_text)
        hard = _limit(hard_text) if hard_text else soft
    except ValueError:
        sep = ""
    if not sep or name not in NAMES:
        raise MiniRunError(f"--ulimit {text}: TYPE=SOFT[:HARD], e.g. nofile=1024:4096 "
                           "(types: " + ", ".join(sorted(n[7:].lower() for n in NAMES)) + ")")
    if hard != -1 and (soft == -1 or soft > hard):
        raise MiniRunError(f"--ulimit {text}: the soft limit is above the hard one")
    return name, soft, hard


def _limit(text: str) -> int:
    if text in ("-1", "unlimited"):
        return -1
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _port(text: str) -> str:
    port, _, proto = text.partition("/")
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("", "tcp", "udp"):
        raise MiniRunError(f"--expose {text}: PORT[/tcp|udp]")
    return f"{int(port)}/{proto or 'tcp'}"


def _group(groups: list[list[str]], name: str) -> int:
    """A group's gid: a number, or a name in the image's /etc/group."""
    if name.isdigit():
        return int(name)
    from minirun.engine.containers.records import ContainerError
    for entry in groups:
        if entry[0] == name and len(entry) > 2 and entry[2].isdigit():
            return int(entry[2])
    raise ContainerError(f"--group-add {name}: no such group in the image's /etc/group")

