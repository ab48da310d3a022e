"""`inspect` of a container in podman's shape, so that a podman user's
``--format '{{.State.Status}}'``, ``{{.Config.Env}}``,
``{{.NetworkSettings.IPAddress}}`` and ``{{json .HostConfig}}`` read the same.

Each key is podman 4.3's, with podman's types (``Config.Entrypoint`` a
string, ``Config.StopSignal`` a number, times never null:
``0001-01-01T00:00:00Z`` when not yet).  The values come from where the
truth is: the record (state, exit, times), the container's own config.json
(the process as it runs: its arguments, environment, user, directory,
capabilities, mounts), the options it was made with (limits, ports, restart
policy), the image's config (labels) and the network's leases (addresses).
minirun's own figures stay under their own key: ``Usage`` (what the
cgroups counted over the run).
"""
import json
import os
import signal

from minirun.engine.containers import health as healthcheck, records as ct, restart
from minirun.engine.store import Store

NEVER = "0001-01-01T00:00:00Z"          # Go's zero time, as podman prints it


def container(store: Store, rec: dict) -> dict:
    """The inspect object of container ``rec`` (a refreshed record)."""
    directory = ct.container_dir(store, rec["id"])
    config = _read_json(os.path.join(directory, "config.json"))
    process = config.get("process") or {}
    args = list(process.get("args") or [])
    opts = rec["options"]
    return {
        "Id": rec["id"], "Created": rec["created"],
        "Path": args[0] if args else "", "Args": args[1:],
        "State": state(rec, healthcheck.state(store, rec["id"])),
        "Image": ct.hex_of(rec["image_id"]), "ImageName": ct.image_name(store, rec["image_id"]),
        "Rootfs": "", "Pod": opts.get("pod") or "",
        "ResolvConfPath": os.path.join(directory, "resolv.conf"),
        "HostnamePath": os.path.join(directory, "hostname"),
        "HostsPath": os.path.join(directory, "hosts"),
        "StaticDir": directory, "OCIConfigPath": os.path.join(directory, "config.json"),
        "OCIRuntime": opts.get("runtime") or "minirun",
        "Name": rec["name"], "RestartCount": restart.count(store, rec["id"]),
        "Driver": "overlay",
        "EffectiveCaps": sorted((process.get("capabilities") or {}).get("effective") or []),
        "BoundingCaps": sorted((process.get("capabilities") or {}).get("bounding") or []),
        "ExecIDs": [],
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": os.path.join(directory, "upper"),
            "WorkDir": os.path.join(directory, "work"),
            "MergedDir": os.path.join(directory, "rootfs")}},
        "Mounts": mounts(config, opts),
        "Dependencies": [],
        "NetworkSettings": network_settings(store, rec),
        "Namespace": "", "IsInfra": bool(opts.get("infra")), "IsService": False,
        "Config": config_section(store, rec, config),
        "HostConfig": host_config(store, rec, config),
        # minirun's own: what the cgroups counted over the run (at its exit)
        "Usage": {"CPUTimeNs": rec["usage"].get("cpu_ns"),
                  "MemoryPeakBytes": rec["usage"].get("memory_peak"),
                  "BlockReadBytes": rec["usage"].get("io_read"),
                  "BlockWriteBytes": rec["usage"].get("io_write")},
    }


def state(rec: dict, health: dict | None = None) -> dict:
    status = rec["state"]
    return {"OciVersion": "1.0.2", "Status": status, "Running": status == "running",
            "Paused": status == "paused", "Restarting": False,
            "OOMKilled": bool(rec["usage"].get("oom_kills")), "Dead": False,
            "Pid": rec["pid"] or 0 if status in ("running", "paused") else 0,
            "ExitCode": rec["exit_code"] or 0, "Error": "",
            "StartedAt": rec["started"] or NEVER, "FinishedAt": rec["finished"] or NEVER,
            "Health": health or {"Status": "", "FailingStreak": 0, "Log": None}}


def config_section(store: Store, rec: dict, config: dict) -> dict:
    """``Config``: the process as it runs, and what it was made with."""
    from minirun.engine.containers import bundle
    process = config.get("process") or {}
    opts = rec["options"]
    image = _image_config(store, rec["image_id"], bundle)
    entrypoint = opts.get("entrypoint")
    if entrypoint is None:
        entrypoint = image.get("Entrypoint") or []
    elif isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    command = list(opts.get("command") or []) or \
        ([] if opts.get("entrypoint") is not None else list(image.get("Cmd") or []))
    labels = dict(image.get("Labels") or {}, **(opts.get("labels") or {}))
    return {
        "Hostname": config.get("hostname", rec["id"][:12]), "Domainname": "",
        "User": opts.get("user") or image.get("User") or "",
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
        "Tty": bool(opts.get("tty")), "OpenStdin": bool(opts.get("interactive")),
        "StdinOnce": False, "Env": _env_without_secrets(process, opts), "Cmd": command,
        "Image": ct.image_name(store, rec["image_id"]),
        "Volumes": {v: {} for v in image.get("Volumes") or {}} or None,
        "WorkingDir": process.get("cwd") or "/",
        "Entrypoint": " ".join(entrypoint),
        "OnBuild": None, "Labels": labels or None,
        "Annotations": dict(config.get("annotations") or {}),
        "StopSignal": _signal_number(opts.get("stop_signal") or image.get("StopSignal")),
        "CreateCommand": opts.get("create_command") or [],
        **({"Healthcheck": check} if (check := healthcheck.of(store, rec)) else {}),
        "Umask": "0022", "Timeout": 0, "StopTimeout": opts.get("stop_timeout") or 10,
    }


def host_config(store: Store, rec: dict, config: dict) -> dict:
    """``HostConfig``: limits, ports, volumes, security, as podman names them."""
    opts = rec["options"]
    res = opts.get("resources") or {}
    memory, cpu, pids = res.get("memory") or {}, res.get("cpu") or {}, res.get("pids") or {}
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
    return {
        "Binds": [v for v in opts.get("volumes") or [] if ":" in v],
        "CgroupManager": "cgroupfs", "CgroupMode": "private",
        "ContainerIDFile": opts.get("cidfile") or "",
        "LogConfig": {"Type": opts.get("log_driver") or "k8s-file", "Config": None,
                      "Path": os.path.join(ct.container_dir(store, rec["id"]), "ctr.log")},
        "NetworkMode": _network_mode(opts.get("network")),
        "PortBindings": port_bindings(opts.get("ports") or []),
        "RestartPolicy": {"Name": "" if opts.get("restart") in (None, "no")
                          else opts["restart"],
                          "MaximumRetryCount": opts.get("restart_retries") or 0},
        "AutoRemove": bool(opts.get("rm")),
        "CapAdd": sorted(opts.get("cap_add") or []), "CapDrop": sorted(opts.get("cap_drop") or []),
        "Dns": list(opts.get("dns") or []), "DnsOptions": [], "DnsSearch": [],
        "ExtraHosts": list(opts.get("add_host") or []),
        "GroupAdd": list(opts.get("group_add") or []),
        "IpcMode": "private", "PidMode": "private", "UTSMode": "private",
        "UsernsMode": "" if opts.get("userns") in (None, "host") else opts.get("userns"),
        "OomScoreAdj": opts.get("oom_score_adj") or 0,
        "Privileged": bool(opts.get("privileged")),
        "PublishAllPorts": bool(opts.get("publish_all")),
        "ReadonlyRootfs": bool(opts.get("read_only")),
        "SecurityOpt": _security_opt(opts),
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in opts.get("tmpfs") or []},
        "ShmSize": opts.get("shm_size") or 65536000, "Runtime": "oci",
        "Memory": memory.get("limit") or 0,
        "MemoryReservation": memory.get("reservation") or 0,
        "MemorySwap": memory.get("swap") or 0,
        "NanoCpus": int(quota * 1_000_000_000 // period) if quota > 0 and period else 0,
        "CpuShares": cpu.get("shares") or 0, "CpuQuota": quota if quota > 0 else 0,
        "CpuPeriod": period, "CpusetCpus": cpu.get("cpus") or "",
        "CpusetMems": cpu.get("mems") or "",
        "BlkioWeight": (res.get("blockIO") or {}).get("weight") or 0,
        "PidsLimit": pids.get("limit") or 0,
        "Devices": [{"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"}
                    for d in opts.get("devices") or [] if isinstance(d, str)],
        "Ulimits": [{"Name": r.get("type"), "Soft": r.get("soft"), "Hard": r.get("hard")}
                    for r in (config.get("process") or {}).get("rlimits") or []],
    }


def port_bindings(ports: list[dict]) -> dict:
    """{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, as podman keys them."""
    out: dict = {}
    for p in ports:
        out.setdefault(f"{p['container_port']}/{p['protocol']}", []).append(
            {"HostIp": p.get("host_ip") or "", "HostPort": str(p["host_port"])})
    return out


def _exposed(store: Store, rec: dict) -> dict:
    """Ports exposed (the image's, --expose) but not published: podman lists
    them with no binding (null)."""
    from minirun.engine.containers import bundle
    image = _image_config(store, rec["image_id"], bundle)
    ports = set(image.get("ExposedPorts") or {}) | set(rec["options"].get("expose") or ())
    return {p if "/" in p else f"{p}/tcp": None for p in sorted(ports)}


def network_settings(store: Store, rec: dict) -> dict:
    """Its addresses on the networks it joined (their leases), and the ports
    it is reached on (a pod member's: its pod's)."""
    from minirun.engine.containers import joining
    from minirun.engine.network import bridge
    opts = rec["options"]
    networks = {}
    if rec["state"] == "running":
        for name, address, subnet, gateway in bridge.leases_of(store, rec["id"]):
            networks[name] = {"EndpointID": "", "Gateway": gateway, "IPAddress": address,
                              "IPPrefixLen": int(subnet.partition("/")[2] or 0),
                              "IPv6Gateway": "", "GlobalIPv6Address": "",
                              "GlobalIPv6PrefixLen": 0, "MacAddress": "", "NetworkID": name,
                              "DriverOpts": None, "IPAMConfig": None, "Links": None,
                              "Aliases": list(opts.get("aliases") or [])}
    first = next(iter(networks.values()), {})
    return {"EndpointID": "", "Gateway": first.get("Gateway", ""),
            "IPAddress": first.get("IPAddress", ""), "IPPrefixLen": first.get("IPPrefixLen", 0),
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "", "Bridge": "", "SandboxID": "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": _exposed(store, rec) | port_bindings(joining.published(store, rec)),
            "SandboxKey": "",
            "Networks": networks}


def mounts(config: dict, opts: dict) -> list[dict]:
    """Its binds and volumes (not the runtime's own /proc, /dev, ...)."""
    named = {v.split(":")[1]: v.split(":")[0] for v in opts.get("volumes") or []
             if v.count(":") >= 1 and not v.startswith("/")}
    anonymous = opts.get("anonymous_volumes") or {}
    out = []
    for m in config.get("mounts") or []:
        dest, options = m.get("destination"), list(m.get("options") or [])
        if m.get("type") != "bind" or dest in ("/etc/hosts", "/etc/hostname",
                                               "/etc/resolv.conf", "/run/minirun-init"):
            continue
        name = named.get(dest) or next((n for n, d in anonymous.items() if d == dest), "")
        out.append({"Type": "volume" if name else "bind", "Name": name,
                    "Source": m.get("source", ""), "Destination": dest,
                    "Driver": "local" if name else "", "Mode": "",
                    "Options": [o for o in options if o not in ("ro", "rw")],
                    "RW": "ro" not in options,
                    "Propagation": next((o for o in options if o.endswith("private")
                                         or o.endswith("shared") or o.endswith("slave")), "")})
    return out


def _env_without_secrets(process: dict, opts: dict) -> list[str]:
    """The process's environment, less the secrets given as variables."""
    hidden = {(s.get("target") or s["name"]) for s in opts.get("secrets") or []
              if s.get("type") == "env"}
    return [e for e in process.get("env") or [] if e.partition("=")[0] not in hidden]


def _network_mode(network: str | None) -> str:
    if network in ("none", "host", "pasta", "slirp4netns") or not network:
        return network or "none"
    if network.startswith(("container:", "ns:")):
        return network
    return "bridge"


def _security_opt(opts: dict) -> list[str]:
    out = []
    if opts.get("seccomp") not in (None, "default"):
        out.append(f"seccomp={opts['seccomp']}")
    if opts.get("no_new_privileges"):
        out.append("no-new-privileges")
    return out


def _signal_number(name) -> int:
    if isinstance(name, int):
        return name
    if not name:
        return int(signal.SIGTERM)
    name = str(name).upper()
    if name.isdigit():
        return int(name)
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        return int(signal.SIGTERM)


def _image_config(store: Store, image_id: str, bundle) -> dict:
    try:
        return bundle.image_config(store, image_id)
    except Exception:       # noqa: BLE001 (the image may be gone: inspect goes on)
        return {}


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
