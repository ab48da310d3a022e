"""Where podman and minirun should agree, both run the same image and
command, and the test compares what the container sees."""
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import end_podman_pause
from tests.e2e.registry import free_port

PROBE = ("echo ENV; env | grep -v -E '^(container|HOSTNAME)=' | sort; echo ID; id; "
         "echo CWD; pwd; echo RESOLV; cat /etc/resolv.conf; echo HOSTS; "
         "grep -c localhost /etc/hosts; echo MOUNTS; cut -d' ' -f2 /proc/self/mounts | sort -u")
IMPORTANT_MOUNTS = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                    "/etc/hosts", "/etc/hostname"}   # resolv.conf: none without a network


@pytest.fixture
def podman(mr, registries_conf):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run scripts/setup-host")
    d = tempfile.mkdtemp(prefix="minirun-pm-", dir="/tmp")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "containers.conf")
    with open(conf, "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                'events_logger = "file"\n')
    os.makedirs(os.path.join(d, "xdg"), mode=0o700)
    mr.rt.chown(d)
    runroot = f"/tmp/pmr-{os.path.basename(d)[-8:]}"
    pre = mr.rt.prefix()
    env = [f"CONTAINERS_CONF={conf}", f"CONTAINERS_REGISTRIES_CONF={registries_conf}"]
    if pre:
        pre = pre[:-1] + env + [f"XDG_RUNTIME_DIR={d}/xdg", pre[-1]]
    else:
        pre = ["env"] + env
    base = pre + ["podman", "--root", f"{d}/storage", "--runroot", runroot]

    def run(*args):
        return subprocess.run(base + list(args), capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)
    yield run
    run("rm", "-af", "-t", "0")
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if d in line or runroot in line]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    end_podman_pause(d)
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(runroot, ignore_errors=True)


def sections(text: str) -> dict[str, list[str]]:
    out, key = {}, None
    for line in text.splitlines():
        if line in ("ENV", "ID", "CWD", "RESOLV", "HOSTS", "MOUNTS"):
            key = line
            out[key] = []
        elif key:
            out[key].append(line)
    return out


@pytest.mark.parametrize("flags", [[], ["-u", "daemon", "-w", "/tmp", "-e", "EXTRA=x y"]])
def test_the_same_view_from_inside(mr, registry, podman, flags):
    image = f"{registry.addr}/test/busybox:latest"
    r = podman("pull", "-q", image)
    assert r.returncode == 0, r.stderr
    theirs = podman("run", "--rm", "--network", "none", *flags, image, "sh", "-c", PROBE)
    ours = mr("run", "--rm", "--network", "none", *flags, image, "sh", "-c", PROBE)
    assert theirs.returncode == ours.returncode == 0, (theirs.stderr, ours.stderr)
    a, b = sections(theirs.stdout), sections(ours.stdout)
    for key in ("ENV", "ID", "CWD", "RESOLV", "HOSTS"):
        assert a[key] == b[key], key
    assert IMPORTANT_MOUNTS <= set(a["MOUNTS"]) and IMPORTANT_MOUNTS <= set(b["MOUNTS"])


def test_the_same_exit_codes(mr, registry, podman):
    image = f"{registry.addr}/test/busybox:latest"
    podman("pull", "-q", image)
    for cmd in (["sh", "-c", "exit 42"], ["/no/such"], ["/etc/passwd"]):
        theirs = podman("run", "--rm", "--network", "none", image, *cmd)
        ours = mr("run", "--rm", "--network", "none", image, *cmd)
        assert theirs.returncode == ours.returncode, (cmd, theirs.stderr, ours.stderr)


# podman's keys minirun has no value for (conmon's files, SELinux and AppArmor
# labels, checkpoints): written down, not faked
NOT_OURS = {
    None: {"ImageDigest", "ConmonPidFile", "PidFile", "MountLabel", "ProcessLabel",
           "AppArmorProfile"},
    "State": {"ConmonPid", "Health", "CheckpointedAt", "RestoredAt", "CgroupPath",
              "CheckpointPath", "CheckpointLog", "RestoreLog"},
    "Config": {"HealthcheckOnFailureAction", "Passwd", "sdNotifyMode", "Healthcheck",
               "ChrootDirs", "Systemd", "SystemdMode"},
    "HostConfig": {"BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                   "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
                   "CpuRealtimeRuntime", "DiskQuota", "KernelMemory", "MemorySwappiness",
                   "OomKillDisable", "CpuCount", "CpuPercent", "IOMaximumIOps",
                   "IOMaximumBandwidth", "CgroupConf", "VolumeDriver", "VolumesFrom",
                   "Cgroup", "Cgroups", "CgroupParent", "Links", "ConsoleSize", "Isolation"},
    "NetworkSettings": set(),
}


def _at(obj: dict, path: str):
    for key in path.split("."):
        obj = obj[key]
    return obj


def test_inspect_in_podmans_shape(mr, registry, podman):
    """The same container made by both (created, not started): every key
    podman's inspect has, minirun's has (but those written down above), and
    the values scripts read are the same."""
    import json
    image = f"{registry.addr}/test/busybox:latest"
    flags = ["--name", "shape", "-e", "A=1", "-p", "18080:80", "-w", "/tmp", "--label", "k=v"]
    if not mr.rt.rootless:
        flags += ["--memory", "64m"]
    r = podman("create", *flags, image, "sleep", "30")
    assert r.returncode == 0, r.stderr
    mr("create", *flags, image, "sleep", "30", check=True)
    theirs = json.loads(podman("inspect", "shape").stdout)[0]
    ours = json.loads(mr("inspect", "shape", check=True).stdout)[0]
    for section, allowed in NOT_OURS.items():
        keys = set(theirs if section is None else theirs[section])
        have = set(ours if section is None else ours[section])
        assert keys - have - allowed == set(), (section, sorted(keys - have - allowed))
    for path in ("Name", "Path", "Args", "State.Status", "State.Running", "State.ExitCode",
                 "State.Pid", "State.StartedAt", "Config.Cmd", "Config.WorkingDir",
                 "Config.Entrypoint", "Config.StopSignal", "Config.Labels", "Config.User",
                 "Config.Tty", "Config.Image", "HostConfig.PortBindings",
                 "HostConfig.Memory", "HostConfig.AutoRemove", "HostConfig.Privileged",
                 "HostConfig.RestartPolicy", "NetworkSettings.Ports",
                 "NetworkSettings.IPAddress"):
        assert _at(ours, path) == _at(theirs, path), (path, _at(ours, path),
                                                       _at(theirs, path))
    assert "A=1" in ours["Config"]["Env"] and "A=1" in theirs["Config"]["Env"]


INSPECT_TEMPLATES = [
    "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}", "{{.Name}}",
    "{{.Config.Cmd}}", "{{json .Config.Cmd}}", "{{.Config.WorkingDir}}",
    "{{.Config.StopSignal}}", "{{.Config.Labels}}", "{{.Config.Labels.k}}",
    "{{index .Config.Labels \"k\"}}", "{{.Config.Labels.missing}}", "{{.HostConfig.PortBindings}}",
    "{{range $p, $b := .HostConfig.PortBindings}}{{$p}}->{{(index $b 0).HostPort}}{{end}}",
    "{{json .HostConfig.PortBindings}}", "{{.HostConfig.RestartPolicy.Name}}",
    "{{if .State.Running}}up{{else}}down{{end}}", "{{.Config.Entrypoint}}",
    "{{.Config.Tty}} {{.HostConfig.AutoRemove}}", "{{.Path}} {{.Args}}",
]
PS_TEMPLATES = ["{{.Names}} {{.Status}} {{.State}}", "table {{.Names}}\t{{.Status}}",
                "{{.Labels}}", "{{.Ports}}", "{{.Command}}", "{{.Image}}", "{{.Mounts}}",
                "{{.AutoRemove}} {{.Exited}} {{.ExitCode}}", "{{.Pod}}"]


def test_templates_read_the_same(mr, registry, podman):
    """The same container made by both: what a script reads through
    inspect -f and ps --format, side by side."""
    image = f"{registry.addr}/test/busybox:latest"
    flags = ["--name", "tmpl", "-p", f"{free_port()}:80", "-w", "/tmp", "--label", "k=v"]
    assert podman("create", *flags, image, "sleep", "30").returncode == 0
    mr("create", *flags, image, "sleep", "30", check=True)
    for template in INSPECT_TEMPLATES:
        theirs, ours = podman("inspect", "-f", template, "tmpl"), mr("inspect", "-f",
                                                                    template, "tmpl")
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), \
            (template, ours, theirs)
    for template in PS_TEMPLATES:
        theirs, ours = podman("ps", "-a", "--format", template), mr("ps", "-a", "--format",
                                                                   template)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), \
            (template, ours, theirs)
    # the default network is each one's own: podman's "podman", minirun's "minirun"
    assert mr("ps", "-a", "--format", "{{.Networks}}").stdout == "minirun\n" or mr.rt.rootless
    for bad in ("{{.Nope}}", "{{.State.Nope}}", "{{.Name"):
        theirs, ours = podman("inspect", "-f", bad, "tmpl"), mr("inspect", "-f", bad, "tmpl")
        assert ours.returncode == theirs.returncode == 125, (bad, ours, theirs)
