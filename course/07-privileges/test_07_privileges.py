"""Level 7's checks: inside, root has only the default capabilities,
no_new_privs is set, and a seccomp filter refuses unshare, mount and
keyctl with EPERM; each seen from /proc/self/status, and by trying."""
import os
import shutil

import pytest

pytestmark = pytest.mark.usefixtures("shared_mounts")     # as on a systemd host (conftest.py)

# podman's eleven: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6,
# SETUID 7, SETPCAP 8, NET_BIND_SERVICE 10, SYS_CHROOT 18, SETFCAP 31
DEFAULT_MASK = sum(1 << bit for bit in (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31))
CAP_MKNOD, CAP_SYS_ADMIN = 27, 21


@pytest.fixture
def rootfs(busybox, scratch_dirs):
    """A copy of the busybox rootfs for this check alone."""
    top = scratch_dirs("course-privileges-")
    shutil.copytree(busybox, os.path.join(top, "rootfs"), symlinks=True)
    return os.path.join(top, "rootfs")


def status(run, *options: str, as_user: bool = False) -> dict[str, str]:
    """/proc/self/status as the program inside sees it."""
    r = run("run", *options, "/bin/cat", "/proc/self/status", as_user=as_user)
    assert r.returncode == 0, r.stderr
    return dict(line.split(":\t", 1) for line in r.stdout.splitlines() if ":\t" in line)


def inside(run, rootfs: str, script: str, *options: str):
    return run("run", "--rootfs", rootfs, *options, "/bin/sh", "-c", script)


def test_capeff_and_capbnd_are_the_default_list(run, root_only):
    """At exec, root's effective set becomes its bounding set.
    Look at: drop_capabilities(): PR_CAPBSET_DROP for every capability not kept."""
    fields = status(run)
    assert int(fields["CapBnd"], 16) == DEFAULT_MASK, fields["CapBnd"]
    assert int(fields["CapEff"], 16) == DEFAULT_MASK, fields["CapEff"]


def test_cap_add_gives_one_back(run, root_only, rootfs):
    """mknod needs CAP_MKNOD, which the default list does not keep.
    Look at: drop_privileges(): DEFAULT_CAPABILITIES + opts.cap_add."""
    refused = inside(run, rootfs, "mknod /tmp/null c 1 3")
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr, \
        refused.stderr
    given = inside(run, rootfs, "mknod /tmp/null c 1 3 && grep CapEff /proc/self/status",
                   "--cap-add", "CAP_MKNOD")
    assert given.returncode == 0, given.stderr
    assert int(given.stdout.split()[1], 16) == DEFAULT_MASK | 1 << CAP_MKNOD


def test_without_cap_sys_admin_root_cannot_even_name_its_own_uts_namespace(run, root_only):
    """sethostname needs CAP_SYS_ADMIN, in the namespace's owner.
    Look at: drop_capabilities(): CAP_SYS_ADMIN is not in the default list."""
    r = run("run", "--hostname", "set-before-the-drop", "/bin/sh", "-c",
            "hostname another; echo $?; hostname")
    failed, name = r.stdout.split()
    assert failed != "0", "hostname another: allowed"
    assert name == "set-before-the-drop", (r.stdout, r.stderr)


def test_no_new_privs_is_set(run, root_only):
    """Look at: drop_privileges(): linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)."""
    assert status(run)["NoNewPrivs"] == "1"


def test_a_seccomp_filter_is_installed(run, root_only):
    """Seccomp 2 is SECCOMP_MODE_FILTER; --no-seccomp leaves it out.
    Look at: install_seccomp(): prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)."""
    fields = status(run)
    assert (fields["Seccomp"], fields.get("Seccomp_filters")) == ("2", "1"), fields
    assert status(run, "--no-seccomp")["Seccomp"] == "0"


def test_unshare_is_refused_by_the_filter(run, root_only, rootfs):
    """A user namespace needs no capability: only the filter refuses it.
    Look at: seccomp_program(): the number of unshare, then SECCOMP_RET_ERRNO | EPERM."""
    refused = inside(run, rootfs, "unshare -U true")
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr, \
        refused.stderr
    allowed = inside(run, rootfs, "unshare -U true", "--no-seccomp")
    assert allowed.returncode == 0, allowed.stderr


def test_mount_is_refused_even_with_cap_sys_admin(run, root_only, rootfs):
    """Two locks: the capability, and the filter.
    Look at: seccomp_program(): "mount" in the refused calls."""
    script = "mount -t tmpfs none /tmp && echo mounted"
    refused = inside(run, rootfs, script, "--cap-add", "CAP_SYS_ADMIN")
    assert "mounted" not in refused.stdout, "mount was allowed"
    # EPERM, in busybox's words
    assert "permission denied (are you root?)" in refused.stderr, refused.stderr
    allowed = inside(run, rootfs, script, "--cap-add", "CAP_SYS_ADMIN", "--no-seccomp")
    assert allowed.stdout.strip() == "mounted", allowed.stderr


def test_the_filter_allows_the_rest(run, root_only, rootfs):
    """An allow-list of one return: everything not refused goes on.
    Look at: seccomp_program(): SECCOMP_RET_ALLOW last; the arch check first."""
    r = inside(run, rootfs, "echo hi > /tmp/f && cat /tmp/f && ls / >/dev/null && sleep 0")
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr


def test_a_plain_users_container_is_confined_the_same(run, root_only):
    """Root in a user namespace has every capability there: drop them too.
    Look at: init(): drop_privileges() runs as the namespace's root, rootless or not."""
    fields = status(run, as_user=True)
    assert int(fields["CapEff"], 16) == DEFAULT_MASK, fields["CapEff"]
    assert (fields["NoNewPrivs"], fields["Seccomp"]) == ("1", "2"), fields
