"""--device with a host node, as podman spells it: root gets a node made in
the container and a device cgroup that allows it alone (with the access
asked); a plain user, who may make no node, gets the host's bound in."""
import pytest


def test_a_host_device_at_another_path(mr, img):
    r = mr("run", "--rm", "--network", "none", "--device", "/dev/null:/dev/mynull", img,
           "sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull && echo write-ok")
    assert r.returncode == 0, r.stderr
    assert "1,   3" in r.stdout and "write-ok" in r.stdout, r.stdout


@pytest.fixture
def loops(tmp_path):
    """Two loop devices over small files: block nodes outside the default
    allow list (null, zero, full, tty, random, urandom, ptmx, pts, tun)."""
    import subprocess
    made = []
    for i in range(2):
        backing = tmp_path / f"disk{i}"
        backing.write_bytes(b"minirun" * 1000)
        made.append(subprocess.run(["losetup", "--find", "--show", str(backing)],
                                   capture_output=True, text=True, check=True).stdout.strip())
    yield made
    for dev in made:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_a_device_is_given_with_its_access_and_no_other_opens(mr, img, loops):
    """The isolation a GPU job relies on: the device cgroup allows the node
    given, with the access asked (r: no writes), and refuses a node the
    container makes for a device it was not given, even with CAP_MKNOD."""
    if mr.rt.rootless:
        pytest.skip("a plain user's devices are the host's nodes bound in: their access is "
                    "the host's, and no node can be made in a user namespace")
    import os
    other = os.stat(loops[1]).st_rdev
    r = mr("run", "--rm", "--network", "none", "--cap-add", "mknod",
           "--device", f"{loops[0]}:/dev/disk:r", img, "sh", "-c",
           f"head -c7 /dev/disk; echo; echo x > /dev/disk || echo write-refused; "
           f"mknod /dev/other b {os.major(other)} {os.minor(other)} && "
           f"head -c1 /dev/other || echo other-refused")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["minirun", "write-refused", "other-refused"], r.stdout
    assert r.stderr.count("Operation not permitted") == 2, r.stderr


@pytest.mark.parametrize("flag, message", [
    ("/dev/nonexistent", "--device /dev/nonexistent: /dev/nonexistent: No such file"),
    ("/etc/hostname", "is not a device node"),
    ("/dev/null:/dev/x:rwz", "neither a path nor permissions"),
    ("relative", "use /dev/HOST"),
])
def test_bad_devices_are_one_error_and_nothing_made(mr, img, flag, message):
    r = mr("run", "--rm", "--device", flag, img, "true")
    assert r.returncode == 125 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert mr("ps", "-aq", check=True).stdout == ""
