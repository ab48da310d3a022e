#!/usr/bin/env python3
"""Build the cgroup v2 test VM: Debian's cloud kernel, and an initramfs with
busybox, this machine's Python, minirun and the busybox image.

    .venv/bin/python tests/vm/build.py [OUT]      (default .build/vm)

-> OUT/vmlinuz and OUT/initrd.gz, for
    qemu-system-x86_64 -m 1536 -nographic -kernel vmlinuz -initrd initrd.gz

The kernel is downloaded once (apt-get download, dpkg -x); the initramfs is
made fresh each time, since it carries the minirun under test.  Its /init
copies itself into a tmpfs and switches to it (a container's pivot_root
cannot leave the initial rootfs), mounts cgroup2 on /sys/fs/cgroup, loads
overlay and loop, and runs tests/vm/inside.py, whose lines the host reads from the
serial console.
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KERNEL_META = "linux-image-cloud-amd64"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
# what the VM's minirun imports, and pytest for the course's checks (inside.py's
# course()); nothing else
SITE_PACKAGES = ("click", "cffi", "urllib3", "zstandard", "tqdm",
                 "pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
               "pydoc_data", "distutils", "unittest", "config-3.11-x86_64-linux-gnu"}

INIT = """#!/bin/sh
# The VM's init: first out of the initial rootfs into a tmpfs, then the tests.
export PATH=/bin:/sbin:/usr/bin:/usr/local/bin
if [ ! -e /in-tmpfs ]; then
    mount -t proc proc /proc
    mkdir -p /newroot
    mount -t tmpfs -o size=1400m tmpfs /newroot
    for d in bin sbin lib lib64 usr opt etc home init; do cp -a /$d /newroot/; done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run /newroot/var
    touch /newroot/in-tmpfs
    umount /proc
    exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var
mount -t cgroup2 cgroup2 /sys/fs/cgroup
chmod 1777 /tmp
insmod /lib/overlay.ko 2>/dev/null
insmod /lib/loop.ko 2>/dev/null
hostname minirun-vm
echo "VM: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
PYTHONPATH=/opt/minirun:/opt/site MINIRUN_ROOT=/var/lib/minirun HOME=/root \\
    /usr/bin/@PY@ /opt/inside.py /opt/image
echo "VM: done"
poweroff -f
"""

# util-linux's runuser, which the course's checks call, needs PAM; in the VM
# `runuser -u NAME -- COMMAND...` is this
RUNUSER = """#!/bin/sh
exec /usr/bin/@PY@ -c 'import os, pwd, sys
user = pwd.getpwnam(sys.argv[2])
os.setgroups([]); os.setgid(user.pw_gid); os.setuid(user.pw_uid)
os.execvp(sys.argv[4], sys.argv[4:])' "$@"
"""

MINIRUN = """#!/bin/sh
exec /usr/bin/@PY@ -c 'import sys; sys.argv[0] = "minirun"
from minirun.cli import main; main()' "$@"
"""


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kw)


def kernel(out: str) -> tuple[str, str]:
    """vmlinuz and overlay.ko of Debian's cloud kernel, downloaded once."""
    unpacked = os.path.join(out, "kernel")
    if not glob.glob(os.path.join(unpacked, "boot", "vmlinuz-*")):
        deps = run("apt-cache", "depends", KERNEL_META, capture_output=True, text=True).stdout
        package = next(line.split()[-1] for line in deps.splitlines()
                       if line.strip().startswith("Depends:") and "linux-image-" in line)
        debs = os.path.join(out, "debs")
        os.makedirs(debs, exist_ok=True)
        run("apt-get", "download", "-q", package, cwd=debs, capture_output=True)
        shutil.rmtree(unpacked, ignore_errors=True)
        run("dpkg", "-x", glob.glob(os.path.join(debs, package + "_*.deb"))[0], unpacked)
    vmlinuz = glob.glob(os.path.join(unpacked, "boot", "vmlinuz-*"))[0]
    modules = []
    for parts in (("fs", "overlayfs", "overlay.ko"), ("drivers", "block", "loop.ko")):
        found = glob.glob(os.path.join(unpacked, "lib", "modules", "*", "kernel", *parts))
        if not found:
            sys.exit(f"vm: the kernel package has no plain {parts[-1]} (compressed modules?)")
        modules.append(found[0])
    return vmlinuz, modules


def _libraries(paths: list[str]) -> set[str]:
    libs = set()
    for path in paths:
        r = subprocess.run(["ldd", path], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > parts.index("=>") + 1 and \
                    parts[parts.index("=>") + 1].startswith("/"):
                libs.add(parts[parts.index("=>") + 1])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])
    return libs


def initramfs(out: str, modules: list[str], image: str) -> str:
    root = os.path.join(out, "root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "sbin", "lib", "lib64", "usr/bin", "usr/local/bin", "etc", "opt/site",
              "proc", "sys", "dev", "usr/share/containers", "home/tester"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chown(os.path.join(root, "home", "tester"), 1000, 1000)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    for applet in run(busybox, "--list", capture_output=True, text=True).stdout.split():
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    python = os.path.realpath(f"/usr/bin/{PY}")
    shutil.copy2(python, os.path.join(root, "usr", "bin", PY))
    helpers = []       # setuid, for the rootless tests: copy2 keeps the mode bits
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool):
            helpers.append(os.path.join(root, "usr", "bin", tool))
            shutil.copy2(shutil.which(tool), helpers[-1])
    stdlib = os.path.join("/usr/lib", PY)
    shutil.copytree(stdlib, os.path.join(root, "usr", "lib", PY), symlinks=True,
                    ignore=lambda d, names: [n for n in names if d == stdlib and
                                             (n in STDLIB_SKIP or n.startswith("site-"))])
    site = next(p for p in sys.path if p.endswith("site-packages") and
                os.path.isdir(os.path.join(p, "click")))
    for name in os.listdir(site):
        if name.split(".")[0] in SITE_PACKAGES or name.startswith("_cffi_backend"):
            src = os.path.join(site, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(
                src, os.path.join(root, "opt", "site", name))
    shutil.copytree(os.path.join(REPO, "minirun"), os.path.join(root, "opt", "minirun", "minirun"))
    shared = [python] + helpers + glob.glob(os.path.join(root, "**", "*.so*"), recursive=True)
    for lib in _libraries(shared):
        dest = os.path.join(root, lib.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)
    for module in modules:          # overlay.ko, loop.ko
        shutil.copy2(module, os.path.join(root, "lib", os.path.basename(module)))
    if os.path.exists("/usr/share/containers/seccomp.json"):
        shutil.copy2("/usr/share/containers/seccomp.json",
                     os.path.join(root, "usr", "share", "containers"))
    shutil.copytree(image, os.path.join(root, "opt", "image"))
    shutil.copytree(os.path.join(REPO, "course"), os.path.join(root, "opt", "course"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(os.path.join(HERE, "inside.py"), os.path.join(root, "opt", "inside.py"))
    files = {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                           "tester:x:1000:1000:rootless tests:/home/tester:/bin/sh\n",
             "etc/group": "root:x:0:\ntester:x:1000:\n",
             "etc/subuid": "tester:100000:65536\n", "etc/subgid": "tester:100000:65536\n",
             "etc/hosts": "127.0.0.1\tlocalhost\n", "init": INIT.replace("@PY@", PY),
             "usr/local/bin/minirun": MINIRUN.replace("@PY@", PY),
             "usr/local/bin/runuser": RUNUSER.replace("@PY@", PY)}
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    os.chmod(os.path.join(root, "init"), 0o755)
    for tool in ("minirun", "runuser"):
        os.chmod(os.path.join(root, "usr", "local", "bin", tool), 0o755)
    initrd = os.path.join(out, "initrd.gz")
    with open(initrd, "wb") as f:
        find = subprocess.Popen(["find", "."], cwd=root, stdout=subprocess.PIPE)
        cpio = subprocess.Popen([busybox, "cpio", "-o", "-H", "newc"], cwd=root,
                                stdin=find.stdout, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=f)
        find.stdout.close()
        cpio.stdout.close()
        if gz.wait() or cpio.wait() or find.wait():
            sys.exit("vm: making the initramfs failed")
    shutil.rmtree(root)
    return initrd


def build(out: str, image: str) -> tuple[str, str]:
    os.makedirs(out, exist_ok=True)
    vmlinuz, modules = kernel(out)
    return vmlinuz, initramfs(out, modules, image)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "vm")
    print(*build(out, os.path.join(REPO, ".build", "demo-image")))
