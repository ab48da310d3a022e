"""Bad input gets one clear error and leaves nothing behind: no state
directory, cgroup, mount or process."""
import json
import os

import pytest

from tests.conftest import leftovers


def create(rt, b, cid):
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1, r.stderr     # one message, no traceback
    assert "Traceback" not in r.stderr
    return r.stderr


def test_malformed_config(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    with open(os.path.join(b.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.2.0", "process": ')
    assert "is not valid JSON" in create(rt, b, cid)
    assert leftovers(rt, cid, b) == []


def test_missing_config(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    os.unlink(os.path.join(b.path, "config.json"))
    assert "does not exist" in create(rt, b, cid)
    assert leftovers(rt, cid, b) == []


def test_missing_rootfs(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("root.path", "no-such-rootfs")
    b.write()
    assert "root.path: `" in create(rt, b, cid)
    assert leftovers(rt, cid, b) == []


def test_unknown_namespace(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["linux"]["namespaces"].append({"type": "time"})
    b.write()
    err = create(rt, b, cid)
    assert "linux.namespaces[" in err and "'time' is not supported" in err
    assert leftovers(rt, cid, b) == []


def test_a_namespace_path_that_does_not_exist(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"]
                                       if n["type"] != "network"]
    b.config["linux"]["namespaces"].append({"type": "network", "path": "/proc/999999/ns/net"})
    b.write()
    err = create(rt, b, cid)
    assert "join namespaces" in err and "/proc/999999/ns/net" in err
    assert leftovers(rt, cid, b) == []


def test_mount_onto_a_symlink_that_points_outside(rt, busybox_rootfs, cid):
    target = os.path.join(rt.scratch, "host-target")
    os.mkdir(target)
    b = rt.bundle(busybox_rootfs, ["true"])
    os.symlink(target, os.path.join(b.rootfs, "escape"))
    b.config["mounts"].append({"destination": "/escape", "type": "tmpfs", "source": "tmpfs"})
    b.write()
    err = create(rt, b, cid)
    assert "mount /escape" in err and "is a symlink" in err
    assert os.listdir(target) == []
    assert leftovers(rt, cid, b) == []


def test_a_symlink_in_the_middle_stays_inside_the_rootfs(rt, busybox_rootfs, cid):
    """A link in a destination's parents is followed as the container sees
    it (RESOLVE_IN_ROOT): ../../.. and absolute targets end at its root."""
    host = os.path.join(rt.scratch, "host-dir")
    os.mkdir(host)
    b = rt.bundle(busybox_rootfs, ["sh", "-c", f"ls -d {host}/sub && grep -c ' {host}/sub ' "
                                   "/proc/self/mounts"])
    os.symlink("../../../../../../.." + host, os.path.join(b.rootfs, "up"))
    b.config["mounts"].append({"destination": "/up/sub", "type": "tmpfs", "source": "tmpfs"})
    b.set("root.readonly", False)
    b.write()
    rt.chown(b.rootfs)
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"{host}/sub", "1"]
    assert os.listdir(host) == []          # nothing was made on the host
    assert leftovers(rt, cid, b) == []


def test_bind_source_missing(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.config["mounts"].append({"destination": "/data", "type": "bind",
                               "source": "/no/such/dir", "options": ["rbind"]})
    b.write()
    err = create(rt, b, cid)
    assert "mount /data" in err and "/no/such/dir" in err
    assert leftovers(rt, cid, b) == []


@pytest.mark.parametrize("doc,message", [
    ({"process": {"args": ["true"]}}, "ociVersion"),
    ({"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "linux": {}}, "process: missing"),
    ({"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"args": ["true"]},
      "hostname": "h", "linux": {"namespaces": [{"type": "pid"}]}},
     "hostname: setting it needs a uts namespace"),
])
def test_incomplete_configs(rt, busybox_rootfs, cid, doc, message):
    b = rt.bundle(busybox_rootfs, ["true"])
    if rt.rootless and "namespaces" in doc.get("linux", {}):
        doc = json.loads(json.dumps(doc))
        doc["linux"]["namespaces"].append({"type": "user"})
        doc["linux"]["uidMappings"] = b.config["linux"]["uidMappings"]
        doc["linux"]["gidMappings"] = b.config["linux"]["gidMappings"]
    with open(os.path.join(b.path, "config.json"), "w") as f:
        json.dump(doc, f)
    assert message in create(rt, b, cid)
    assert leftovers(rt, cid, b) == []


def test_rootless_without_a_user_namespace_says_why(busybox_rootfs, cid):
    """A refusal for plain users only: root may run without a user namespace."""
    from tests.conftest import Runtime, is_root, unprivileged_user
    if not is_root() or unprivileged_user() is None:
        pytest.skip("needs root and the test user: run scripts/setup-host as root")
    rt = Runtime("rootless")
    try:
        b = rt.bundle(busybox_rootfs, ["true"])
        b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"]
                                           if n["type"] != "user"]
        del b.config["linux"]["uidMappings"], b.config["linux"]["gidMappings"]
        b.write()
        assert "needs a user namespace" in create(rt, b, cid)
        assert leftovers(rt, cid, b) == []
    finally:
        rt.cleanup()


def test_unknown_container(rt):
    for verb in (["state"], ["start"], ["kill"], ["delete"]):
        r = rt.oci(*verb, "no-such-container")
        assert r.returncode != 0 and "does not exist" in r.stderr, verb
    r = rt.oci("state", "../etc")
    assert r.returncode != 0 and "invalid container id" in r.stderr
