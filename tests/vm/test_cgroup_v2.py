"""Limits on a real cgroup v2 kernel: this host is hybrid (v1 controllers),
so the enforcement tests also run in a VM (qemu, software emulation) with
Debian's cloud kernel, as root and as a plain user in a cgroup delegated
the way systemd delegates user@UID.service.  tests/vm/build.py makes the
VM; tests/vm/inside.py runs the checks there and prints one RESULT line
each, read here from the serial console.

    .venv/bin/pytest tests/vm        (about two minutes)
"""
import os
import shutil
import subprocess

import pytest

from tests.vm import build

CHECKS = ["controllers", "load", "oom", "below_the_limit", "half_a_cpu", "pids", "update",
          "device_write_bps", "devices", "clean", "rootless_load", "rootless_oom",
          "rootless_half_a_cpu", "rootless_pids_and_update"]
# the course's level 6 (course/06-cgroups) on its solution: every check but
# the one for a host without the memory controller, which skips there
CHECKS += ["course_06_" + name for name in (
    "the_program_runs_in_a_group_of_its_own", "the_group_is_beside_ours_and_gone_after",
    "the_limits_are_in_the_groups_files", "past_memory_max_the_oom_killer_ends_it",
    "below_memory_max_it_lives", "half_a_cpu_is_half_a_cpu", "pids_max_stops_a_fork_bomb",
    "a_plain_user_limits_its_container_in_its_delegated_subtree",
    "a_plain_user_without_delegation_runs_without_a_group",
    "a_plain_user_without_delegation_is_refused_its_limits")]


@pytest.fixture(scope="module")
def vm(busybox_rootfs, tmp_path_factory) -> dict[str, tuple[bool, str]]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (scripts/setup-host installs it)")
    out = os.path.join(build.REPO, ".build", "vm")
    image = str(tmp_path_factory.mktemp("vm-image") / "busybox")
    subprocess.run([os.path.join(build.REPO, "rootfs-tools", "build-image"), image, "--layer",
                    busybox_rootfs, "--tag", "localhost/busybox:latest"], check=True,
                   capture_output=True)
    try:
        vmlinuz, initrd = build.build(out, image)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"could not fetch Debian's cloud kernel ({' '.join(e.cmd)}): "
                    "no route to the Debian mirror?")
    r = subprocess.run(["qemu-system-x86_64", "-m", "1536", "-smp", "2", "-nographic",
                        "-no-reboot", "-kernel", vmlinuz, "-initrd", initrd,
                        "-append", "console=ttyS0 quiet panic=-1"],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    results = {}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            _, name, verdict, *detail = line.split(" ", 3)
            results[name] = (verdict == "PASS", " ".join(detail))
    console = "\n".join(r.stdout.splitlines()[-60:])
    results["__console__"] = (True, console)
    return results


@pytest.mark.parametrize("check", CHECKS)
def test_in_a_cgroup_v2_vm(vm, check):
    assert check in vm, f"the VM did not report `{check}`; its console ended:\n" \
                        f"{vm['__console__'][1]}"
    ok, detail = vm[check]
    assert ok, detail
