"""NVIDIA's CDI hooks done by the runtime itself (runtime/cdihooks.py), as
root and rootless, with no hook binary on the host: the links made inside
the root, the mode changed, the image's own ldconfig run chrooted and
without a capability; any other form of the hook run as given."""
import os

HOOK = "/usr/bin/nvidia-cdi-hook"          # not installed here: it must not be run
# the image's ldconfig, here a script: its stdio is /dev/null, so it leaves
# what it saw in the root for the container's process to show
LDCONFIG = """#!/bin/sh
{ echo "args $*"; id -u; grep CapEff /proc/self/status
  mknod /made c 1 3 2>/dev/null && echo made; } > /ldconfig.out
exit EXIT
"""


def _bundle(rt, rootfs, hooks, args, ldconfig_exit=0):
    b = rt.bundle(rootfs, args)
    os.makedirs(os.path.join(b.rootfs, "srv"), exist_ok=True)
    script = os.path.join(b.rootfs, "sbin", "ldconfig")
    with open(script, "w") as f:
        f.write(LDCONFIG.replace("EXIT", str(ldconfig_exit)))
    os.chmod(script, 0o755)
    rt.chown(b.rootfs)
    b.config["hooks"] = {"createContainer": hooks}
    b.write()
    return b


def test_links_and_modes_made_inside_the_root(rt, busybox_rootfs, cid):
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "create-symlinks",
                                     "--link", "busybox::/usr/lib/x86_64-linux-gnu/libfoo.so.1",
                                     "--link=libfoo.so.1::/usr/lib/x86_64-linux-gnu/libfoo.so"]},
             {"path": "/usr/bin/nvidia-ctk", "args": ["nvidia-ctk", "hook", "chmod",
                                                      "--mode", "700", "--path", "/srv"]}]
    script = ("cd /usr/lib/x86_64-linux-gnu && readlink libfoo.so.1; readlink libfoo.so; "
              "stat -c %a /srv")
    b = _bundle(rt, busybox_rootfs, hooks, ["sh", "-c", script])
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["busybox", "libfoo.so.1", "700"], r.stdout


def test_update_ldcache_runs_the_images_ldconfig_with_no_capability(rt, busybox_rootfs, cid):
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "update-ldcache",
                                     "--folder", "/usr/lib/x86_64-linux-gnu",
                                     "--folder", "/usr/lib64"]}]
    b = _bundle(rt, busybox_rootfs, hooks, ["cat", "/ldconfig.out"])
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "args /usr/lib/x86_64-linux-gnu /usr/lib64", r.stdout
    assert lines[1] == "0"                                # the container's root...
    assert lines[2].split() == ["CapEff:", "0000000000000000"]   # ...with no capability
    assert "made" not in lines, r.stdout                  # so it may make no device


def test_a_failing_ldconfig_fails_the_create_and_leaves_nothing(rt, busybox_rootfs, cid):
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", "/lib"]}]
    b = _bundle(rt, busybox_rootfs, hooks, ["true"], ldconfig_exit=3)
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode != 0, r.stdout
    assert "NVIDIA's CDI hooks" in r.stderr and "exited with status 3" in r.stderr, r.stderr
    assert cid not in rt.ids()


def test_an_image_without_ldconfig_needs_none(rt, busybox_rootfs, cid):
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", "/lib"]}]
    b = _bundle(rt, busybox_rootfs, hooks, ["true"])
    os.unlink(os.path.join(b.rootfs, "sbin", "ldconfig"))
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr


def test_another_form_of_the_hook_is_run_as_given(rt, busybox_rootfs, cid):
    hooks = [{"path": HOOK, "args": ["nvidia-cdi-hook", "create-symlinks", "--frobnicate"]}]
    b = _bundle(rt, busybox_rootfs, hooks, ["true"])
    r = rt.oci("create", "--bundle", b.path, cid)
    assert r.returncode != 0 and f"createContainer hook: `{HOOK}`" in r.stderr, r.stderr
    assert cid not in rt.ids()
