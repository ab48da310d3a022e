"""Level 4's checks: the rootfs is the overlay of the layers; what the
program changes lands in upper/ (copy-up, whiteouts) and never in a layer;
nothing is left mounted or behind on the host."""
import os
import shutil
import stat

import pytest

pytestmark = pytest.mark.usefixtures("shared_mounts")     # as on a systemd host (conftest.py)


@pytest.fixture
def layers(busybox, scratch_dirs):
    """Two layers made for this check alone: a copy of the busybox rootfs
    (the shared one is never written to) with /etc/greeting "one", and on
    top of it a layer with its own /etc/greeting "two" and /etc/motd.
    Yields (the scratch directory, [lowest, top])."""
    top = scratch_dirs("course-overlay-")
    base, extra = os.path.join(top, "base"), os.path.join(top, "extra")
    shutil.copytree(busybox, base, symlinks=True)
    os.makedirs(os.path.join(extra, "etc"))
    for path, text in [(f"{base}/etc/greeting", "one\n"), (f"{base}/etc/old", "old\n"),
                       (f"{extra}/etc/greeting", "two\n"), (f"{extra}/etc/motd", "hi\n")]:
        with open(path, "w") as f:
            f.write(text)
    return top, [base, extra]


def snapshot(d: str) -> dict:
    """Every path below ``d`` with its type, size and content time."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), d)] = (st.st_mode, st.st_size,
                                                                  st.st_mtime_ns)
    return out


def inside(run, top: str, layers: list[str], script: str):
    args = [a for d in layers for a in ("--layer", d)]
    r = run("run", *args, "--keep-upper", f"{top}/kept", "/bin/sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r


def test_the_rootfs_is_the_union_of_the_layers(run, root_only, layers):
    """A file of the top layer hides the same file below it.
    Look at: mount_overlay(): lowerdir lists the top layer first: reversed(layers)."""
    top, dirs = layers
    r = inside(run, top, dirs, "cat /etc/greeting /etc/motd; ls /bin/busybox")
    assert r.stdout.split() == ["two", "hi", "/bin/busybox"]


def test_root_is_an_overlay_mount(run, root_only, layers):
    """Look at: mount_overlay(): linux.mount("overlay", merged, "overlay", 0, data)."""
    top, dirs = layers
    lines = inside(run, top, dirs, "cat /proc/self/mountinfo").stdout.splitlines()
    root = [line.split(" - ")[1].split()[0] for line in lines if line.split()[4] == "/"]
    assert root == ["overlay"], lines


def test_a_new_file_lands_in_upper_and_no_layer_changes(run, root_only, layers):
    """Look at: mount_overlay(): upperdir=SCRATCH/upper; make_scratch(): keep DIR."""
    top, dirs = layers
    before = [snapshot(d) for d in dirs]
    inside(run, top, dirs, "echo written > /new-file")
    with open(f"{top}/kept/upper/new-file") as f:
        assert f.read() == "written\n"
    assert [snapshot(d) for d in dirs] == before, "a layer changed: only upper/ may"


def test_a_changed_file_is_copied_up_whole(run, root_only, layers):
    """Changing a layer's file copies all of it to upper/ first (copy-up).
    Look at: mount_overlay(): upperdir and workdir, on the same filesystem."""
    top, dirs = layers
    inside(run, top, dirs, "echo more >> /etc/greeting")
    with open(f"{top}/kept/upper/etc/greeting") as f:
        assert f.read() == "two\nmore\n"
    with open(f"{dirs[1]}/etc/greeting") as f:
        assert f.read() == "two\n"


def test_a_deleted_file_becomes_a_whiteout(run, root_only, layers):
    """A layer cannot lose a file: upper/ hides it with a 0:0 character device.
    Look at: mount_overlay(); the README's part on whiteouts."""
    top, dirs = layers
    r = inside(run, top, dirs, "rm /etc/old; ls /etc/old || echo gone")
    assert "gone" in r.stdout
    st = os.lstat(f"{top}/kept/upper/etc/old")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, oct(st.st_mode)
    assert os.path.exists(f"{dirs[0]}/etc/old")


def test_nothing_is_left_behind_on_the_host(run, root_only, layers):
    """Without --keep-upper the scratch directory goes; the overlay mount was
    in the container's mount namespace only.
    Look at: make_scratch(): tempfile.mkdtemp() (run() removes it); enter_rootfs()."""
    top, dirs = layers
    tmp = os.path.join(top, "tmp")
    os.mkdir(tmp)
    args = [a for d in dirs for a in ("--layer", d)]
    r = run("run", *args, "/bin/sh", "-c", "echo x > /x", env={"TMPDIR": tmp})
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp) == [], "the scratch directory is still there"
    with open("/proc/self/mountinfo") as f:
        assert top not in f.read(), "an overlay is still mounted on the host"
