"""Layer unpacking: overlay form is right, and hostile tars stay inside the
layer directory.  Each case runs as root and rootless (as root of a user
namespace holding the test user's subordinate ids, as a rootless pull does)."""
import io
import json
import os
import subprocess
import sys
import struct
import tarfile
import tempfile

import pytest

SCRIPT = """
import json, sys, traceback
from minirun.engine.images import unpack
from minirun.engine import userns
from minirun.kernel.idmap import is_rootless

def work():
    with open(sys.argv[1], "rb") as f:
        r = unpack.unpack(f, sys.argv[2], rootless=is_rootless())
    return {"skipped": r.skipped_devices}

try:
    out = userns.as_root(work) if userns.needed() else work()
    print(json.dumps({"ok": out}))
except Exception as e:
    traceback.print_exc()
    print(json.dumps({"error": str(e), "type": type(e).__name__}))
"""


def make_tar(entries) -> bytes:
    """entries: (name, kind, extra dict) -> a PAX tar in memory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            data = extra.pop("data", b"")
            info.type = kind
            info.mode = extra.pop("mode", 0o644)
            for k, v in extra.items():
                setattr(info, k, v)
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def unpack_as(rt, entries):
    dest = tempfile.mkdtemp(prefix="layer-", dir=rt.scratch)
    path = dest + ".tar"
    with open(path, "wb") as f:
        f.write(make_tar(entries))
    rt.chown(path)
    rt.chown(dest)
    r = subprocess.run(rt.prefix() + [sys.executable, "-c", SCRIPT, path, dest],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    if "error" in result:
        result["stderr"] = r.stderr[:1500]
    return result, dest


def host_target(rt):
    d = os.path.join(rt.scratch, "host")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "secret"), "w") as f:
        f.write("untouched")
    os.chmod(os.path.join(d, "secret"), 0o600)
    return d


# vfs_cap_data, revision 2: CAP_NET_BIND_SERVICE permitted and effective
CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)
D, F, L, H, C = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE


def test_overlay_form(rt):
    entries = [
        ("etc", D, {"mode": 0o755}),
        ("etc/app.conf", F, {"data": b"x=1\n", "uid": 1000, "gid": 1000, "mtime": 1234567890}),
        ("bin", D, {"mode": 0o755}),
        ("bin/suid", F, {"data": b"#!", "mode": 0o4755}),
        ("bin/link", L, {"linkname": "suid"}),
        ("bin/hard", H, {"linkname": "bin/suid"}),
        ("bin/cap", F, {"data": b"c", "pax_headers": {"SCHILY.xattr.user.note": "hello"}}),
        ("bin/ping", F, {"data": b"p", "mode": 0o755, "pax_headers": {
            "SCHILY.xattr.security.capability": CAP_NET_BIND.decode("utf-8", "surrogateescape")}}),
        ("gone", F, {}), (".wh.gone", F, {}),
        ("opaque", D, {}), ("opaque/.wh..wh..opq", F, {}),
        ("secret", D, {"mode": 0o500}), ("secret/inside", F, {"data": b"s"}),
        ("dev", D, {}), ("dev/null", C, {"devmajor": 1, "devminor": 3, "mode": 0o666}),
        ("fifo", tarfile.FIFOTYPE, {"mode": 0o600}),
    ]
    result, dest = unpack_as(rt, entries)
    assert "ok" in result, result
    st = os.stat(os.path.join(dest, "etc/app.conf"))
    own = 1000 + (100000 - 1 if rt.rootless else 0)
    assert (st.st_uid, st.st_gid) == (own, own) and int(st.st_mtime) == 1234567890
    suid = os.stat(os.path.join(dest, "bin/suid"))
    assert suid.st_mode & 0o7777 == 0o4755
    assert os.readlink(os.path.join(dest, "bin/link")) == "suid"
    assert os.stat(os.path.join(dest, "bin/hard")).st_ino == suid.st_ino
    assert os.getxattr(os.path.join(dest, "bin/cap"), "user.note") == b"hello"
    cap = os.getxattr(os.path.join(dest, "bin/ping"), "security.capability")
    # as root the v2 form is kept; in a user namespace the kernel stores v3,
    # naming the namespace's root: the permitted bits are the same
    assert struct.unpack_from("<II", cap)[1] == 1 << 10
    wh = os.stat(os.path.join(dest, "gone"), follow_symlinks=False)
    assert wh.st_rdev == 0 and (wh.st_mode & 0o170000) == 0o020000   # a 0:0 char device
    attr = "user.overlay.opaque" if rt.rootless else "trusted.overlay.opaque"
    assert os.getxattr(os.path.join(dest, "opaque"), attr) == b"y"
    assert os.stat(os.path.join(dest, "secret")).st_mode & 0o777 == 0o500
    assert os.path.exists(os.path.join(dest, "secret/inside"))
    assert os.path.exists(os.path.join(dest, "fifo"))
    if rt.rootless:
        assert result["ok"]["skipped"] == ["/dev/null"]
    else:
        assert os.stat(os.path.join(dest, "dev/null")).st_rdev == os.makedev(1, 3)


def hostile(rt, entries, message):
    target = host_target(rt)
    before = sorted(os.listdir(target))
    result, dest = unpack_as(rt, entries)
    assert "error" in result and message in result["error"], result
    assert result["type"] == "HostileLayer"
    assert sorted(os.listdir(target)) == before
    with open(os.path.join(target, "secret")) as f:
        assert f.read() == "untouched"
    assert os.stat(os.path.join(target, "secret")).st_mode & 0o777 == 0o600
    return target, dest


def test_dot_dot_names_are_refused(rt):
    hostile(rt, [("../../../../../../tmp/escaped", F, {"data": b"x"})], "climbs out")


def test_absolute_names_stay_inside(rt):
    target = host_target(rt)
    result, dest = unpack_as(rt, [(target + "/planted", F, {"data": b"x"})])
    assert "ok" in result
    assert not os.path.exists(os.path.join(target, "planted"))
    assert os.path.exists(dest + target + "/planted")


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_writing_through_a_symlink_is_refused(rt, kind):
    target = host_target(rt)
    link = target if kind == "absolute" else "../" * 12 + target.lstrip("/")
    hostile(rt, [("evil", L, {"linkname": link}), ("evil/planted", F, {"data": b"x"})],
            "through the symlink `evil`")


def test_hardlink_to_outside_is_refused(rt):
    target = host_target(rt)
    hostile(rt, [("h", H, {"linkname": target + "/secret"})], "not in this layer")
    hostile(rt, [("h", H, {"linkname": "../../../../" + target + "/secret"})], "climbs out")


def test_chmod_does_not_follow_a_symlink(rt):
    """CVE-2021-32760: a symlink, then an entry of the same name with a mode."""
    target = host_target(rt)
    result, dest = unpack_as(rt, [("x", L, {"linkname": target + "/secret"}),
                                  ("x", F, {"data": b"", "mode": 0o777})])
    assert "ok" in result
    assert os.stat(os.path.join(target, "secret")).st_mode & 0o777 == 0o600
    assert not os.path.islink(os.path.join(dest, "x"))


def test_a_root_symlink_is_refused(rt):
    """CVE-2021-29136: `/.` as a symlink would redirect everything after it."""
    target = host_target(rt)
    hostile(rt, [("/.", L, {"linkname": target}), ("planted", F, {"data": b"x"})],
            "replace the layer's root")


def test_bare_whiteouts_are_refused(rt):
    hostile(rt, [(".wh.", F, {})], "whiteout of nothing")
    hostile(rt, [("d/.wh..", F, {})], "whiteout of nothing")
