"""Level 5's checks, run as the plain user (``runuser -u minirun-test``):
uid 0 inside, the maps, who owns on the host what the program made, and
levels 2 to 4 (pid 1, pivot_root, overlay) without root."""
import os
import pwd
import shutil
import stat

import pytest

pytestmark = pytest.mark.usefixtures("shared_mounts")     # as on a systemd host (conftest.py)
USER = os.environ.get("COURSE_USER", "minirun-test")


class Tree:
    """What a check gives the plain user, in a directory made for the check:
    ``layer`` (a busybox tree owned by the user, but for /etc/owned-by-root),
    ``kept`` (for --keep-upper) and ``tmp`` (its TMPDIR)."""

    def __init__(self, top: str, user: pwd.struct_passwd):
        self.top, self.user = top, user
        self.layer, self.kept, self.tmp = (os.path.join(top, n) for n in ("layer", "kept", "tmp"))


@pytest.fixture
def tree(busybox, scratch_dirs):
    if os.geteuid() != 0:
        pytest.skip("these checks become the plain user with runuser, which needs root "
                    "(sudo make check LEVEL=5); the program itself runs as that user")
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER!r} here (COURSE_USER names another)")
    top = scratch_dirs("course-userns-")
    os.chmod(top, 0o755)                    # the plain user must reach it
    t = Tree(top, user)
    shutil.copytree(busybox, t.layer, symlinks=True)
    os.makedirs(os.path.join(t.layer, "etc", "dir"))
    open(os.path.join(t.layer, "etc", "dir", "file"), "w").close()
    for d in (t.kept, t.tmp):
        os.mkdir(d)
    for root, dirs, files in os.walk(top):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, user.pw_uid, user.pw_gid)
    open(os.path.join(t.layer, "etc", "owned-by-root"), "w").close()
    return t


def subordinate(path: str, user: pwd.struct_passwd) -> tuple[int, int]:
    with open(path) as f:
        for line in f:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in (user.pw_name, str(user.pw_uid)):
                return int(parts[1]), int(parts[2])
    pytest.skip(f"{path} gives {user.pw_name} no range (scripts/setup-host adds one)")


@pytest.fixture
def subids(tree) -> tuple[int, int]:
    """The plain user's subordinate uid range (skip without one, or newuidmap)."""
    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        pytest.skip("newuidmap/newgidmap are not installed (the uidmap package)")
    uids = subordinate("/etc/subuid", tree.user)
    subordinate("/etc/subgid", tree.user)
    return uids


def needs_rootless_overlay() -> None:
    if tuple(int(x) for x in os.uname().release.split(".")[:2]) < (5, 11):
        pytest.skip("overlayfs in a user namespace needs Linux 5.11 (userxattr)")


def inside(run, tree: Tree, idmap: str, script: str, *options: str):
    r = run("run", "--idmap", idmap, *options, "/bin/sh", "-c", script, as_user=True,
            env={"TMPDIR": tree.tmp})
    assert r.returncode == 0, r.stderr
    return r


def test_id_inside_is_0(run, tree):
    """Our uid, mapped to 0, is root in there: `id -u` says 0.
    Look at: enter_user_namespace(), then write_maps() "single" (0 UID 1)."""
    r = inside(run, tree, "single", "id -u; id -g")
    assert r.stdout.split() == ["0", "0"], r.stdout


def test_the_single_map_is_our_own_id(run, tree):
    """Look at: write_maps(): uid_map, then "deny" to setgroups, then gid_map."""
    r = inside(run, tree, "single", "cat /proc/self/uid_map /proc/self/gid_map "
               "/proc/self/setgroups")
    u, g = tree.user.pw_uid, tree.user.pw_gid
    assert r.stdout.split() == ["0", str(u), "1", "0", str(g), "1", "deny"], r.stdout


def test_the_full_map_adds_the_subordinate_range(run, tree, subids):
    """Look at: write_maps() "full": newmap() with subordinate_range()'s range."""
    r = inside(run, tree, "full", "cat /proc/self/uid_map")
    lines = [line.split() for line in r.stdout.splitlines()]
    assert lines == [["0", str(tree.user.pw_uid), "1"], ["1", str(subids[0]), str(subids[1])]]


def test_an_unmapped_owner_reads_as_65534(run, tree):
    """The host's root is in no map of ours: its files show as nobody inside.
    Look at: write_maps(): the map names the only ids the namespace knows."""
    r = inside(run, tree, "single", "stat -c %u /etc/owned-by-root /etc/passwd",
               "--rootfs", tree.layer)
    assert r.stdout.split() == ["65534", "0"], r.stdout


def test_a_file_made_inside_is_the_plain_users_on_the_host(run, tree):
    """Look at: write_maps() "single": inside 0 is outside the plain user."""
    needs_rootless_overlay()
    inside(run, tree, "single", "touch /made-inside", "--layer", tree.layer,
           "--keep-upper", tree.kept)
    st = os.stat(os.path.join(tree.kept, "upper", "made-inside"))
    assert (st.st_uid, st.st_gid) == (tree.user.pw_uid, tree.user.pw_gid)


def test_a_file_of_uid_1000_inside_is_a_subordinate_id_on_the_host(run, tree, subids):
    """Inside 1..N are the first N ids of the range: 1000 is FIRST + 999.
    Look at: newmap(): 0 OWN 1 1 FIRST COUNT."""
    needs_rootless_overlay()
    inside(run, tree, "full", "touch /f; chown 1000:1000 /f", "--layer", tree.layer,
           "--keep-upper", tree.kept)
    assert os.stat(os.path.join(tree.kept, "upper", "f")).st_uid == subids[0] + 999


def test_pid_1_hostname_and_pivot_root_as_the_plain_user(run, tree):
    """The namespaces made after the user namespace belong to it: we may.
    Look at: child(): enter_user_namespace() before linux.unshare(the others)."""
    r = inside(run, tree, "single", "echo $$; hostname; cut -d' ' -f5 /proc/self/mountinfo; "
               "ls /", "--rootfs", tree.layer, "--hostname", "rootless")
    out = r.stdout.split()
    assert out[:5] == ["1", "rootless", "/", "/proc", "bin"], out
    assert set(out[4:]) == set(os.listdir(tree.layer))


def test_overlay_in_a_user_namespace(run, tree):
    """Deleting a lower directory needs overlayfs's xattrs: user.* ones here.
    Look at: mount_overlay(): the option userxattr when in a user namespace."""
    needs_rootless_overlay()
    r = inside(run, tree, "single", "rm -r /etc/dir && grep -c userxattr /proc/self/mountinfo",
               "--layer", tree.layer, "--keep-upper", tree.kept)
    assert r.stdout.strip() == "1"
    assert stat.S_ISCHR(os.lstat(os.path.join(tree.kept, "upper", "etc", "dir")).st_mode)
    assert os.path.exists(os.path.join(tree.layer, "etc", "dir", "file"))


def test_nothing_is_left_behind(run, tree, subids):
    """Files of subordinate ids are not the plain user's to remove, out here.
    Look at: remove(): from inside the user namespace (setns on our fd to it)."""
    needs_rootless_overlay()
    inside(run, tree, "full", "mkdir -p /d/e; touch /d/e/f; chown -R 1000:1000 /d",
           "--layer", tree.layer)
    assert os.listdir(tree.tmp) == [], "the scratch directory is still there"
    with open("/proc/self/mountinfo") as f:
        assert tree.top not in f.read(), "still mounted on the host"
