#!/usr/bin/env python3
"""Level 9: an OCI runtime: a bundle's config.json, and the verbs podman calls.

    python3 container.py [--root DIR] create [--bundle DIR] [--pid-file FILE] ID
    python3 container.py [--root DIR] start ID
    python3 container.py [--root DIR] state ID
    python3 container.py [--root DIR] kill ID [SIGNAL]
    python3 container.py [--root DIR] delete [--force] ID
    python3 container.py run [levels 1 to 8's options] PROGRAM [ARGS...]

    runtime (create)                     reads config.json; writes the uid/gid maps;
      |                                  the state (DIR/ID/state.json), the pid file
      '- child                           setns(2) into the namespaces config.json gives
           |                             by path, unshare(2) the new ones; lo up; fork
           '- init (pid 1 inside)        the rootfs and config.json's mounts, hostname,
                                         privileges; "ok": create returns; waits on
                                         DIR/ID/exec.fifo until `start`; exec the program

    runtime (run)                        levels 1 to 8, as they were:
      '- child                           the namespaces of the flags, the bridge, ...
           '- init (pid 1 inside)

Rootless (--rootless, or whenever we are not root), the child first makes
a user namespace: in it, it holds every capability, over the namespaces
it makes next and the files whose owners its map names.  The maps come
from the runtime, over a pipe: "single" maps our own uid and gid to 0
(written straight to /proc/PID/uid_map, after "deny" in setgroups);
"full" adds our range from /etc/subuid and /etc/subgid as ids 1..N,
through the set-uid helpers newuidmap and newgidmap.

Level 6: the runtime makes a cgroup (v2) beside its own, writes the limits
asked for (memory.max, cpu.max, pids.max), and moves the child into it
before the child forks init: everything the container runs is born in the
group.  When the container ends, the runtime reports what the group saw
(OOM kills, refused forks, CPU time) and removes it.

Level 7: just before exec, init gives up what the program does not need:
every capability but podman's default list leaves the bounding set (at
exec, root's permitted and effective sets become that), no_new_privs
stops any later exec from gaining privileges, and a seccomp filter, a few
classic BPF instructions, answers unshare, mount and keyctl with EPERM.

Level 8: the child makes a network namespace: in it, only a loopback
device, down.  --network none: the child brings lo up, and that is all.
--network bridge (root's default): the runtime leases an address of
10.77.0.0/24, makes the bridge course0 (10.77.0.1) if it is missing, and a
veth pair: one end on the bridge, the other moved into the child's
namespace as eth0; the child gives eth0 the address and a default route
through the bridge.  --network host: no namespace, the host's network.
When the container ends, the runtime deletes its veth, gives the address
back, and removes the bridge with its last container.  Every change is
one `ip` command (iproute2), the one you would type.

This is level 8's solution, plus the OCI runtime around it: `run` is
levels 1 to 8's; create, start, state, kill and delete read a bundle's
config.json (load_spec()), keep a state directory per container, and
create's child and init report to it over a pipe (launch()).  The
namespaces joined by path, the mounts, exec.fifo's two sides, the status,
kill and delete are yours.

Fill in the TODOs; `sudo make check LEVEL=9` tells you how far you are.
"""
import argparse
import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import json
import os
import pwd
import re
import select  # noqa: F401  (oci_start() waits with select.select())
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import typing

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import linux  # noqa: E402  (course/lib/linux.py: the syscalls os lacks)


def show(pid: int) -> None:
    """What the kernel says about process ``pid``, from /proc/PID."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().rstrip(b"\0").split(b"\0")
    print(f"child {pid}: Name={fields['Name'].strip()} PPid={fields['PPid'].strip()} "
          f"cmdline={' '.join(a.decode() for a in argv)}", file=sys.stderr, flush=True)


def run(opts) -> int:
    opts.userns = None                      # rootless: an fd of the child's user namespace
    opts.link = None                        # on the bridge: its veth and address
    try:                                    # before any fork: a limit we cannot set stops us
        opts.cgroup = new_cgroup(opts)
    except OSError as e:
        print(f"container: make_cgroup: {e}", file=sys.stderr)
        return 125
    opts.scratch = make_scratch(opts.keep_upper) if opts.layer else None
    try:
        return start(opts)
    finally:
        if opts.link:
            disconnect(opts.link)
        if opts.scratch and not opts.keep_upper:    # the overlay died with the mount namespace
            remove(opts.scratch, opts.userns)
        if opts.cgroup:
            remove_cgroup(opts.cgroup)


def start(opts) -> int:
    go_r, go_w = os.pipe()                  # parent -> child: go on (mapped, plugged in)
    ready_r, ready_w = os.pipe()            # child -> parent: my namespaces are made
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        leave(child, opts, go_r, ready_w)
    os.close(go_r)
    os.close(ready_w)
    print(f"container: parent {os.getpid()} started child {pid}", file=sys.stderr, flush=True)
    if opts.show:
        show(pid)
    step = "start"
    try:
        if not os.read(ready_r, 1):         # b"": it failed, and said why
            return wait(pid)
        if opts.rootless:                   # it must not go on without its maps
            step = "write_maps"
            opts.userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            write_maps(pid, opts.idmap)
        if opts.cgroup:                     # before it forks init: init is born in the group
            step = "join_cgroup"
            join_cgroup(opts.cgroup, pid)
        if opts.network == "bridge":        # its network namespace exists: plug it in
            step = "connect"
            opts.link = connect(pid)
    except OSError as e:
        print(f"container: {step}: {e}", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        return 125
    except BaseException:                   # a bug, say NotImplementedError: the same
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        raise
    finally:
        os.close(ready_r)
    if opts.link:                           # the child sets its address itself, inside
        os.write(go_w, opts.link.address.encode())
    os.close(go_w)                          # the child reads end-of-file: go on
    return wait(pid)


def write_maps(pid: int, idmap: str) -> None:
    """Write the uid and gid maps of process ``pid`` (in a new user
    namespace), from here: only a process outside it may, and once each.
    A map's lines read ``INSIDE OUTSIDE COUNT``."""
    uid, gid = os.getuid(), os.getgid()
    if idmap == "single":
        write_file(f"/proc/{pid}/uid_map", f"0 {uid} 1\n")
        # A plain user may map its gid only once setgroups(2) is off in
        # there: dropping a group could grant what a group entry denies.
        write_file(f"/proc/{pid}/setgroups", "deny")
        write_file(f"/proc/{pid}/gid_map", f"0 {gid} 1\n")
    else:
        name = pwd.getpwuid(uid).pw_name
        newmap("newuidmap", pid, uid, subordinate_range("/etc/subuid", name, uid))
        newmap("newgidmap", pid, gid, subordinate_range("/etc/subgid", name, uid))


def write_file(path: str, text: str) -> None:
    with open(path, "w") as f:              # one write(2): the kernel takes a map whole
        f.write(text)


def subordinate_range(path: str, name: str, uid: int) -> tuple[int, int]:
    """(first id, count) of the first range ``path`` gives the user: lines
    ``NAME:FIRST:COUNT`` (or ``UID:FIRST:COUNT``), as subuid(5) says."""
    with open(path) as f:
        for line in f:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in (name, str(uid)):
                return int(parts[1]), int(parts[2])
    raise OSError(errno.ENOENT, f"no range for {name} (try --idmap single)", path)


def newmap(helper: str, pid: int, own: int, sub: tuple[int, int]) -> None:
    """Our own id as 0, the subordinate range as 1..N, written by the
    set-uid helper (newuidmap/newgidmap), which checks that they are ours."""
    argv = [helper, str(pid), "0", str(own), "1", "1", str(sub[0]), str(sub[1])]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(errno.EPERM, f"{helper} failed: {r.stderr.strip()}", f"/proc/{pid}")


def make_scratch(keep: str | None) -> str:
    """The overlay's own directories, in ``keep`` or in a new temporary
    directory: upper/ (the changes), work/ (overlayfs's scratch space, empty,
    on the same filesystem as upper/) and merged/ (where the union appears)."""
    top = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="container-")
    for name in ("upper", "work", "merged"):
        os.makedirs(os.path.join(top, name), exist_ok=True)
    return top


def remove(path: str, userns: int | None) -> None:
    """``shutil.rmtree(path)``; rootless, from inside the container's user
    namespace (our fd keeps it), where we hold every capability over the
    files of mapped ids: those of subordinate ids are not ours out here."""
    if userns is None:
        shutil.rmtree(path)
        return
    pid = os.fork()
    if pid == 0:
        leave(remove_inside, path, userns)
    wait(pid)
    os.close(userns)


def remove_inside(path: str, userns: int) -> int:
    linux.setns(userns, linux.CLONE_NEWUSER)
    shutil.rmtree(path)
    return 0


def child(opts, go: int, ready: int) -> int:
    """The runtime's child: a user namespace first (rootless), then its
    network namespace, set up once the parent has done its part; then the
    other namespaces, then pid 1 in them."""
    if opts.rootless:
        enter_user_namespace()
    if opts.network != "host":
        enter_network_namespace()
    os.write(ready, b"n")                   # the parent may map us and plug us in
    os.close(ready)
    address = read_all(go).decode()         # until it has: our address, if on the bridge
    os.close(go)
    if opts.network != "host":
        set_up_inside(address)
    linux.unshare(linux.CLONE_NEWUTS | linux.CLONE_NEWPID | linux.CLONE_NEWNS)
    pid = os.fork()                         # the first child since the unshare: pid 1
    if pid == 0:
        leave(init, opts)
    print(f"container: pid 1 of the new namespace is host pid {pid}", file=sys.stderr,
          flush=True)
    return wait(pid)                        # only a parent can wait: init is ours


def enter_user_namespace() -> None:
    """unshare(CLONE_NEWUSER); the parent writes our maps.  First of all:
    the namespaces made after it belong to it, and its capabilities are
    what allow us to make them."""
    linux.unshare(linux.CLONE_NEWUSER)


def read_all(fd: int) -> bytes:
    """What the other end writes, up to its end-of-file."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def init(opts) -> int:
    """pid 1 of the new PID namespace: name the machine, become PROGRAM."""
    if opts.rootfs or opts.layer:
        enter_rootfs(opts)
    if opts.hostname:
        linux.sethostname(opts.hostname)    # in our UTS namespace only
    drop_privileges(opts)                   # last: the steps above needed them
    return execute(opts.argv)


def enter_rootfs(opts) -> None:
    """Make the rootfs (--rootfs, or the overlay of the --layer's) our "/",
    with a /proc of our own.  In init, because a /proc shows the PID
    namespace of the process that mounts it."""
    make_mounts_private()                   # first: the overlay must not reach the host
    rootfs = mount_overlay(opts.layer, opts.scratch, opts.rootless) if opts.layer \
        else opts.rootfs
    bind_onto_itself(rootfs)
    mount_proc(rootfs)                      # while the host's /proc is in view
    pivot_into(rootfs)


def make_mounts_private() -> None:
    """Cut our copies of the host's mounts off from the host's.  A shared
    mount passes new mounts below it to its peers: without this, the bind
    below would appear on the host and outlive us (and pivot_root refuses
    a shared mount: EINVAL)."""
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)


def mount_overlay(layers: list[str], scratch: str, in_userns: bool) -> str:
    """The union of ``layers`` (lowest first) and scratch/upper on
    scratch/merged; returns scratch/merged.  overlayfs lists lowerdir from
    the top down, so the order turns around."""
    lower = ":".join(os.path.abspath(d) for d in reversed(layers))
    merged = os.path.join(scratch, "merged")
    data = f"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work"
    if in_userns:
        # overlayfs writes notes (a directory is opaque, ...) as trusted.*
        # xattrs, which only the host's root may write: user.* ones instead.
        data += ",userxattr"
    linux.mount("overlay", merged, "overlay", 0, data)
    return merged


def bind_onto_itself(rootfs: str) -> None:
    """pivot_root needs the new root to be a mount point; a bind of the
    directory onto itself makes one (MS_REC: with what is mounted below)."""
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)


def mount_proc(rootfs: str) -> None:
    """A proc of our own at rootfs/proc: ps reads it, and it lists only the
    processes of our PID namespace.  Before the pivot: in a user namespace
    (level 5) the kernel allows a new proc only while a whole one is in view."""
    linux.mount("proc", os.path.join(rootfs, "proc"), "proc",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


def pivot_into(rootfs: str) -> None:
    """Make the rootfs "/" and drop the host's tree.  pivot_root(".", ".")
    puts the new root in place and stacks the old one on top of it, at the
    same spot; unmounting "." then takes the old one off.  MNT_DETACH: the
    host's tree is busy (our own open files), so detach it now, free it later."""
    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")


def execute(argv: list[str]) -> int:
    """Become ``argv``; return 127 (and say why) only if exec failed."""
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):     # level 1: Python ignores them
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        print(f"container: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
    return 127


def wait(pid: int) -> int:
    """Wait for ``pid``: its exit code, or 128 + the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
        else 128 + os.WTERMSIG(status)


def leave(body, *args) -> None:
    """In a forked process: run ``body(*args)``, then exit with what it
    returns.  Never return into the caller's code: this copy would go on
    running the parent's.  A failed system call is one line and 125."""
    try:
        code = body(*args)
    except OSError as e:
        print(f"container: {body.__name__}: {e}", file=sys.stderr)
        code = 125
    except Exception:                   # noqa: BLE001  (a bug, say NotImplementedError)
        traceback.print_exc()
        code = 125
    sys.stderr.flush()
    os._exit(code)


# --- level 6: cgroups --------------------------------------------------------------

def cgroup_limits(opts) -> dict[str, str]:
    """The cgroup v2 files for the limits asked for, and their contents:
    ``--memory 32m`` -> memory.max in bytes (and no swap to dodge it with),
    ``--cpus 0.5`` -> cpu.max, ``--pids-limit 20`` -> pids.max."""
    limits = {}
    if opts.memory:
        limits["memory.max"] = str(parse_size(opts.memory))
        limits["memory.swap.max"] = "0"
    if opts.cpus:
        period = 100000                     # µs: the quota is per period, as here
        limits["cpu.max"] = f"{round(float(opts.cpus) * period)} {period}"
    if opts.pids_limit:
        limits["pids.max"] = str(int(opts.pids_limit))
    return limits


def parse_size(text: str) -> int:
    """``"32m"`` -> 33554432: a number with an optional k, m or g (powers of 1024)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def cgroup2_mount() -> str:
    """Where the cgroup v2 tree is mounted: /sys/fs/cgroup on current
    distributions, /sys/fs/cgroup/unified on hybrid hosts.  A line of
    mountinfo names the filesystem type after its " - "."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            if rest.split()[0] == "cgroup2":
                return fields.split()[4]
    raise OSError(errno.ENOENT, "no cgroup2 filesystem is mounted", "/proc/self/mountinfo")


def own_cgroup() -> str:
    """Our own cgroup v2 group, from the ``0::PATH`` line of /proc/self/cgroup."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise OSError(errno.ENOENT, "no cgroup v2 line", "/proc/self/cgroup")


def new_cgroup(opts) -> str | None:
    """The container's group, or None where we may make none and no limit
    was asked for (a plain user without a delegated subtree)."""
    limits = cgroup_limits(opts)
    try:
        return make_cgroup(f"container-{os.getpid()}", limits)
    except PermissionError as e:
        if limits:
            raise
        print(f"container: no cgroup of our own: `{e.filename}` is not ours "
              "(nothing was delegated to us: see level 6's README)", file=sys.stderr)
        return None


def make_cgroup(name: str, limits: dict[str, str]) -> str:
    """Make the group ``name`` beside our own, with ``limits``; return its directory.

    Beside, not below: our group holds a process (us), and cgroup v2 lets
    only groups without processes hand controllers down.  Its parent is
    the delegated subtree of a plain user (systemd's user@UID.service)."""
    parent = os.path.join(cgroup2_mount(), os.path.dirname(own_cgroup()).lstrip("/"))
    wanted = sorted({name.split(".")[0] for name in limits})
    available = read_file(os.path.join(parent, "cgroup.controllers")).split()
    missing = [c for c in wanted if c not in available]
    if missing:
        raise OSError(errno.EOPNOTSUPP, f"no {' or '.join(missing)} controller in this "
                      "cgroup v2 tree (a hybrid host's v1 holds it, or it is not delegated)",
                      os.path.join(parent, "cgroup.controllers"))
    if wanted:                              # hand them down to the groups below the parent
        write_file(os.path.join(parent, "cgroup.subtree_control"),
                   " ".join(f"+{c}" for c in wanted))
    path = os.path.join(parent, name)
    os.mkdir(path)
    try:
        for filename, value in limits.items():
            if filename == "memory.swap.max" and not os.path.exists(os.path.join(path, filename)):
                continue                    # a kernel without swap accounting
            write_file(os.path.join(path, filename), value)
    except OSError:
        os.rmdir(path)
        raise
    return path


def join_cgroup(path: str, pid: int) -> None:
    """Move process ``pid`` into the group: its children will be born there."""
    write_file(os.path.join(path, "cgroup.procs"), str(pid))
    print(f"container: cgroup {path}", file=sys.stderr, flush=True)


def remove_cgroup(path: str) -> None:
    """Say what the group saw, then remove it: kill what is left in it
    (cgroup.kill, Linux 5.14), and rmdir once the kernel has let the last
    process go (EBUSY until then)."""
    report_cgroup(path)
    if os.path.exists(os.path.join(path, "cgroup.kill")):
        write_file(os.path.join(path, "cgroup.kill"), "1")
    deadline = time.monotonic() + 5
    while True:
        try:
            os.rmdir(path)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def report_cgroup(path: str) -> None:
    """What the group's counters say, on stderr: OOM kills (memory.events),
    forks refused (pids.events), CPU time used (cpu.stat)."""
    def counters(name: str) -> dict[str, int]:
        try:
            text = read_file(os.path.join(path, name))
        except FileNotFoundError:           # no such controller here
            return {}
        return {key: int(value) for key, value in (line.split() for line in text.splitlines())}
    oom = counters("memory.events").get("oom_kill", 0)
    if oom:
        print(f"container: out of memory: the kernel killed {oom} process(es) "
              f"(memory.events oom_kill {oom})", file=sys.stderr)
    refused = counters("pids.events").get("max", 0)
    if refused:
        print(f"container: pids.max refused {refused} fork(s) (pids.events max {refused})",
              file=sys.stderr)
    used = counters("cpu.stat").get("usage_usec")
    if used is not None:
        print(f"container: used {used / 1e6:.2f} s of CPU (cpu.stat usage_usec {used})",
              file=sys.stderr)


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read()


# --- level 7: capabilities, no_new_privs, seccomp ---------------------------------------

# capabilities(7), by number: the bit of each in /proc/PID/status's masks
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
# what podman keeps (containers.conf's default_capabilities)
DEFAULT_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
                        "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID",
                        "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]

# classic BPF (linux/filter.h, linux/bpf_common.h) and seccomp's return values
BPF_LD_W_ABS = 0x20                         # A = the 32-bit word at offset k
BPF_JEQ_K = 0x15                            # if A == k: skip jt, else skip jf
BPF_JGE_K = 0x35                            # if A >= k: skip jt, else skip jf
BPF_RET_K = 0x06                            # return k
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000              # | the errno, in the low 16 bits
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000
# struct seccomp_data: int nr; __u32 arch; ...
OFFSET_NR, OFFSET_ARCH = 0, 4
# per machine: AUDIT_ARCH_* (linux/audit.h) and the numbers of the refused calls
ARCHITECTURES = {
    "x86_64": (0xC000003E, {"unshare": 272, "mount": 165, "keyctl": 250}),
    "aarch64": (0xC00000B7, {"unshare": 97, "mount": 40, "keyctl": 219}),
}
REFUSED = ["unshare", "mount", "keyctl"]


def drop_privileges(opts) -> None:
    """The order matters: capabilities first (PR_CAPBSET_DROP needs
    CAP_SETPCAP, which the drop may take away only at exec), then
    no_new_privs (so that a process without CAP_SYS_ADMIN may install a
    filter), then the filter, last of all: every system call after it is
    filtered, ours too."""
    drop_capabilities(DEFAULT_CAPABILITIES + opts.cap_add)
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    if not opts.no_seccomp:
        install_seccomp(seccomp_program(REFUSED))


def drop_capabilities(keep: list[str]) -> None:
    """Drop from the bounding set every capability not in ``keep``, up to
    the last one this kernel knows.  At execve, root's new permitted and
    effective sets are its bounding set (capabilities(7)), so the program
    starts with ``keep`` alone, and can never gain the rest back."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if cap >= len(CAPABILITIES) or CAPABILITIES[cap] not in keep:
            linux.prctl(linux.PR_CAPBSET_DROP, cap)


def bpf(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    """One classic BPF instruction: struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}."""
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(refused: list[str]) -> bytes:
    """Kill a call of another architecture, refuse ``refused`` with EPERM,
    allow the rest.  The architecture first: the same number is another
    call in another ABI (and on x86_64 the x32 ABI reuses the 64-bit
    table with bit 30 set: a filter must refuse those too, or be walked
    around)."""
    arch, numbers = ARCHITECTURES[os.uname().machine]
    program = [bpf(BPF_LD_W_ABS, OFFSET_ARCH),
               bpf(BPF_JEQ_K, arch, jt=1),                  # ours: skip the kill
               bpf(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
               bpf(BPF_LD_W_ABS, OFFSET_NR)]
    if os.uname().machine == "x86_64":
        program += [bpf(BPF_JGE_K, X32_SYSCALL_BIT, jf=1),  # below: skip the kill
                    bpf(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)]
    for name in refused:
        program += [bpf(BPF_JEQ_K, numbers[name], jf=1),   # another call: skip the return
                    bpf(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM)]
    program.append(bpf(BPF_RET_K, SECCOMP_RET_ALLOW))
    return b"".join(program)


class SockFprog(ctypes.Structure):
    """struct sock_fprog: how many instructions, and where they are."""
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def install_seccomp(program: bytes) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog): from now on, for
    this process and all it starts, for good."""
    prog = SockFprog(len(program) // 8, program)
    linux.prctl(linux.PR_SET_SECCOMP, linux.SECCOMP_MODE_FILTER, ctypes.addressof(prog))


# --- level 8: a network namespace, a veth pair, a bridge ----------------------------

BRIDGE = "course0"                          # the containers' switch, on the host
SUBNET, PREFIX = "10.77.0", 24              # 10.77.0.0/24: not minirun's 10.89, podman's 10.88
GATEWAY = f"{SUBNET}.1"                     # the bridge's own address
LEASES = "/run/course-network"              # a file per address in use, holding its runtime's pid


class Link(typing.NamedTuple):
    """A container on the bridge: the host's end of its veth, its address."""
    host_end: str
    address: str


def ip(*args: str) -> str:
    """``ip ARGS`` (iproute2): one change, as you would type it; its output."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(f"`ip {' '.join(args)}`: {r.stderr.strip()}")
    return r.stdout


def enter_network_namespace() -> None:
    """unshare(CLONE_NEWNET): from now on we see a network stack of our own,
    with one device, lo, down; no route, no address, nothing of the
    host's.  Rootless, after the user namespace: it owns this one, so its
    root (us) may set it up."""
    linux.unshare(linux.CLONE_NEWNET)


def set_up_inside(address: str) -> None:
    """In the child, in its new network namespace, before init: lo up
    (programs expect 127.0.0.1); on the bridge, the address the parent
    leased on eth0, eth0 up, and a default route through the bridge.  Here,
    not in init: `ip` is the host's, and init leaves the host's files."""
    ip("link", "set", "lo", "up")
    if address:
        ip("address", "add", f"{address}/{PREFIX}", "dev", "eth0")
        ip("link", "set", "eth0", "up")
        ip("route", "add", "default", "via", GATEWAY)


def connect(pid: int) -> Link:
    """Plug process ``pid`` (the child, in its new network namespace) into
    the bridge: an address, the bridge if it is missing, a veth pair.
    Under the lock: two runtimes must not lease one address, nor both make
    the bridge, nor remove it under each other."""
    with network_lock():
        link = Link(host_end=f"course-{pid}", address=lease_address())
        try:
            make_bridge()
            make_veth(link.host_end, pid)
        except BaseException:
            unplug(link)
            raise
    print(f"container: eth0 {link.address}/{PREFIX} on {BRIDGE} (host end {link.host_end})",
          file=sys.stderr, flush=True)
    return link


def make_veth(host_end: str, pid: int) -> None:
    """A veth pair, a virtual cable (what goes in one end comes out of the
    other): one end moved into the network namespace of process ``pid``
    and named eth0 there, the other plugged into the bridge, up.  The
    names are at most 15 bytes (IFNAMSIZ), and eth0 only in there: the
    host may have one."""
    peer = f"{host_end}c"
    ip("link", "add", host_end, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", str(pid), "name", "eth0")
    ip("link", "set", host_end, "master", BRIDGE, "up")


def make_bridge() -> None:
    """The bridge, with the gateway's address: made by the first container."""
    if link_exists(BRIDGE):
        return
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("address", "add", f"{GATEWAY}/{PREFIX}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def disconnect(link: Link) -> None:
    """After the container: its veth and address gone, and the bridge with
    the last container on it."""
    with network_lock():
        unplug(link)


def unplug(link: Link) -> None:
    """Delete the host's end (the pair goes together: the kernel would
    delete it with the namespace too, but from a worker, a moment after the
    last process has gone), give the address back, and remove the bridge
    if no running container holds an address.  Under the lock."""
    delete_link(link.host_end)
    os.unlink(os.path.join(LEASES, link.address))
    if not any(holder(name) for name in os.listdir(LEASES)):
        delete_link(BRIDGE)


@contextlib.contextmanager
def network_lock():
    """flock(2) on LEASES for the with block: one runtime at a time."""
    os.makedirs(LEASES, mode=0o755, exist_ok=True)
    fd = os.open(LEASES, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                        # and the lock with it


def lease_address() -> str:
    """The lowest address that no running container holds, recorded as
    ours (a file named after it, holding our pid): what Docker calls IPAM.
    Under the lock."""
    for n in range(2, 255):
        address = f"{SUBNET}.{n}"
        if not holder(address):
            write_file(os.path.join(LEASES, address), str(os.getpid()))
            return address
    raise OSError(errno.EADDRNOTAVAIL, f"no address left in {SUBNET}.0/{PREFIX}", LEASES)


def holder(address: str) -> int | None:
    """The pid of the runtime that holds ``address``, if it still runs; a
    lease left by one that was killed is removed."""
    path = os.path.join(LEASES, address)
    try:
        pid = int(read_file(path))
        os.kill(pid, 0)                     # signal 0: is it there?
        return pid
    except FileNotFoundError:
        return None
    except (ValueError, ProcessLookupError):
        os.unlink(path)
        return None


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def delete_link(name: str) -> None:
    """``ip link delete NAME``, unless it is gone already (a veth goes by
    itself once its namespace has gone)."""
    try:
        if link_exists(name):
            ip("link", "delete", name)
    except OSError:
        if link_exists(name):
            raise


# --- level 9: an OCI runtime: a bundle's config.json, and the verbs podman calls ----

OCI_VERSION = "1.0.2"
# linux.namespaces[].type -> the flag of unshare(2) and setns(2)
NAMESPACES = {"user": linux.CLONE_NEWUSER, "network": linux.CLONE_NEWNET,
              "ipc": linux.CLONE_NEWIPC, "uts": linux.CLONE_NEWUTS,
              "pid": linux.CLONE_NEWPID, "mount": linux.CLONE_NEWNS,
              "cgroup": linux.CLONE_NEWCGROUP}
# the words of a mount's options that are flags of mount(2); the rest is its data
MOUNT_FLAGS = {"ro": linux.MS_RDONLY, "rw": 0, "nosuid": linux.MS_NOSUID,
               "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
               "bind": linux.MS_BIND, "rbind": linux.MS_BIND | linux.MS_REC,
               "sync": 16, "dirsync": 128, "noatime": 1 << 10, "nodiratime": 1 << 11,
               "relatime": 1 << 21, "strictatime": 1 << 24}
# propagation: every mount in here is private already (make_mounts_private)
PROPAGATION = {"private", "rprivate", "slave", "rslave", "shared", "rshared"}
# the devices the runtime-spec says every container has, and its links in /dev
DEVICES = ["null", "zero", "full", "random", "urandom", "tty"]
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
# a container id names a directory: no "/", no ".."
CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


class SpecError(Exception):
    """config.json is malformed, or asks for what this runtime does not do;
    the message names the field.  Fix the bundle (or the flags of podman)."""


class ContainerError(Exception):
    """A verb cannot be done now: no such container, or not in the status
    the verb needs; the message says which, and what to do."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mount:
    destination: str
    type: str
    source: str
    options: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Spec:
    """What config.json asks for, read once, before any fork."""
    bundle: str
    args: tuple[str, ...]                   # process.args
    env: tuple[str, ...]                    # process.env: "NAME=VALUE"
    cwd: str                                # process.cwd
    uid: int                                # process.user
    gid: int
    groups: tuple[int, ...]
    capabilities: tuple[str, ...] | None    # process.capabilities.bounding
    no_new_privileges: bool
    root: str                               # root.path, absolute
    readonly_root: bool
    hostname: str
    namespaces: dict[str, str]              # type -> path ("": a new one)
    uid_mappings: tuple[tuple[int, int, int], ...]   # (inside, outside, count)
    gid_mappings: tuple[tuple[int, int, int], ...]
    mounts: tuple[Mount, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    seccomp: bool                           # linux.seccomp was given


def load_spec(bundle: str) -> Spec:
    """Read BUNDLE/config.json into a Spec.  A field this level does not
    do, or a malformed one, is a SpecError naming its path in the JSON;
    fields it does not read (rlimits, resources, sysctl, ...) are ignored,
    and the README lists them."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise SpecError(f"{path}: not JSON: {e}") from None
    refuse_unsupported(config)
    process, root, lx = config["process"], config["root"], config.get("linux") or {}
    user = process.get("user") or {}
    caps = (process.get("capabilities") or {}).get("bounding")
    return Spec(
        bundle=bundle, args=tuple(process["args"]), env=tuple(process.get("env") or ()),
        cwd=process.get("cwd") or "/", uid=user.get("uid", 0), gid=user.get("gid", 0),
        groups=tuple(user.get("additionalGids") or ()),
        capabilities=None if caps is None else tuple(caps),
        no_new_privileges=bool(process.get("noNewPrivileges")),
        root=os.path.realpath(os.path.join(bundle, root["path"])),
        readonly_root=bool(root.get("readonly")), hostname=config.get("hostname") or "",
        namespaces=read_namespaces(lx),
        uid_mappings=read_mappings(lx, "uidMappings"),
        gid_mappings=read_mappings(lx, "gidMappings"),
        mounts=read_mounts(config), masked_paths=tuple(lx.get("maskedPaths") or ()),
        readonly_paths=tuple(lx.get("readonlyPaths") or ()), seccomp="seccomp" in lx)


def refuse_unsupported(config: dict) -> None:
    """What is missing, or asked for and not done here, is refused up
    front: a container that is not what its config said is worse."""
    process = config.get("process") or {}
    if not process.get("args"):
        raise SpecError("process.args: missing: there is nothing to run")
    if process.get("terminal"):
        raise SpecError("process.terminal: a terminal is not done by this level (podman run "
                        "-t): run without -t")
    if not (config.get("root") or {}).get("path"):
        raise SpecError("root.path: missing: there is no root filesystem")


def read_namespaces(lx: dict) -> dict[str, str]:
    namespaces = {}
    for n, ns in enumerate(lx.get("namespaces") or ()):
        if ns.get("type") not in NAMESPACES:
            raise SpecError(f"linux.namespaces[{n}].type: {ns.get('type')!r} is not supported")
        namespaces[ns["type"]] = ns.get("path", "")
    if namespaces.get("mount") != "":
        raise SpecError("linux.namespaces: a new mount namespace is needed (without a path): "
                        "the container's mounts must not be the host's")
    return namespaces


def read_mappings(lx: dict, key: str) -> tuple[tuple[int, int, int], ...]:
    try:
        return tuple((m["containerID"], m["hostID"], m["size"]) for m in lx.get(key) or ())
    except KeyError as e:
        raise SpecError(f"linux.{key}: an entry without {e}") from None


def read_mounts(config: dict) -> tuple[Mount, ...]:
    mounts = []
    for n, m in enumerate(config.get("mounts") or ()):
        if not str(m.get("destination", "")).startswith("/"):
            raise SpecError(f"mounts[{n}].destination: give an absolute path")
        mounts.append(Mount(destination=m["destination"], type=m.get("type") or "bind",
                            source=m.get("source") or "none",
                            options=tuple(m.get("options") or ())))
    return tuple(mounts)


# The state of a container: ROOT/ID/state.json, written by create; and
# ROOT/ID/exec.fifo, while its init waits for start.

def default_root() -> str:
    """Where the states live unless --root says: beside runc's (/run/runc)
    as root, in the user's runtime directory otherwise."""
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/run", "course-oci")


def state_dir(root: str, cid: str) -> str:
    if not CONTAINER_ID.match(cid):
        raise ContainerError(f"`{cid}` is not a container id (letters, digits, _ . + -)")
    return os.path.join(root, cid)


def read_state(root: str, cid: str) -> dict:
    """What create wrote, and ``dir``: where it is."""
    directory = state_dir(root, cid)
    try:
        with open(os.path.join(directory, "state.json")) as f:
            return dict(json.load(f), dir=directory)
    except FileNotFoundError:
        raise ContainerError(f"container `{cid}` does not exist") from None


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (field 22 of /proc/PID/stat, in clock
    ticks after boot); None if it is gone, or a zombie (it has exited,
    and nobody has reaped it yet)."""
    try:
        stat = read_file(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(")")[2].split()    # after the name, which may hold ") "
    return None if fields[0] == "Z" else int(fields[19])


def status(state: dict) -> str:
    """created, running or stopped.  A pid alone does not name a process:
    the kernel reuses pids, so the start time must be the one create saw.
    Created until start has opened exec.fifo (and removed it).

    "stopped" if ``start_time(state["pid"])`` is not
    ``state["start_time"]``; else "created" while
    ``os.path.join(state["dir"], "exec.fifo")`` exists, "running" after.
    """
    # TODO(level 9): start_time(), os.path.exists().
    raise NotImplementedError("status")


# The verbs: create, start, state, kill, delete.

def oci_create(root: str, cid: str, bundle: str, pid_file: str | None) -> None:
    """Make the container, up to the exec of its program: its state
    directory, its namespaces, its init waiting on exec.fifo.  We return
    once init waits; our parent (conmon: a subreaper) inherits it."""
    spec = load_spec(os.path.abspath(bundle))
    directory = state_dir(root, cid)
    os.makedirs(root, mode=0o700, exist_ok=True)
    try:
        os.mkdir(directory, 0o711)          # init may have given up root when it opens
    except FileExistsError:
        raise ContainerError(f"container `{cid}` exists already") from None
    try:
        fifo = os.path.join(directory, "exec.fifo")
        os.mkfifo(fifo)
        os.chmod(fifo, 0o622)               # exec.fifo (mkfifo applies the umask)
        pid = launch(spec, fifo)
        state = {"ociVersion": OCI_VERSION, "id": cid, "pid": pid, "bundle": spec.bundle,
                 "start_time": start_time(pid)}
        write_file(os.path.join(directory, "state.json"), json.dumps(state))
        if pid_file:                        # conmon reads it, and waits for that process
            write_file(pid_file + ".tmp", str(pid))
            os.rename(pid_file + ".tmp", pid_file)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def oci_start(root: str, cid: str) -> None:
    """Let init exec the program: open exec.fifo for reading, which ends
    init's open for writing; read the byte it writes; remove the fifo.

    ``state = read_state(root, cid)``; a ContainerError unless
    ``status(state)`` is "created".  Then ``fd = os.open(fifo, os.O_RDONLY |
    os.O_NONBLOCK | os.O_CLOEXEC)`` and loop: ``select.select([fd], [], [],
    0.1)``; once it is readable and ``os.read(fd, 1)`` gives a byte, stop;
    if init has gone meanwhile (its start time), a ContainerError (or you
    would wait for ever).  Close fd; ``os.unlink(fifo)``.
    """
    # TODO(level 9): read_state(), status(), os.open(), select.select(), os.read(), os.unlink().
    raise NotImplementedError("oci_start")


def oci_state(root: str, cid: str) -> dict:
    """The runtime-spec's state of a container."""
    state = read_state(root, cid)
    now = status(state)
    return {"ociVersion": OCI_VERSION, "id": cid, "status": now,
            "pid": state["pid"] if now != "stopped" else 0, "bundle": state["bundle"]}


def oci_kill(root: str, cid: str, name: str) -> None:
    """Send a signal (15, TERM or SIGTERM) to the container's init.  pid 1 of
    a PID namespace gets only the signals it has a handler for (SIGKILL
    aside): `sleep` ignores TERM there, and podman stop falls back to KILL.

    ``parse_signal(name)``, ``read_state(root, cid)``; a ContainerError
    if ``status(state)`` is "stopped"; else ``os.kill(state["pid"], signum)``.
    """
    # TODO(level 9): parse_signal(), read_state(), status(), os.kill().
    raise NotImplementedError("oci_kill")


def parse_signal(name: str) -> int:
    try:
        return int(name) if name.isdigit() else \
            signal.Signals[name if name.startswith("SIG") else "SIG" + name]
    except KeyError:
        raise ContainerError(f"`{name}` is not a signal (15, TERM, SIGTERM)") from None


def oci_delete(root: str, cid: str, force: bool) -> None:
    """Remove the container's state (its namespaces and mounts went with
    its last process).  One still running only with --force: SIGKILL, and
    wait until it is gone.  --force on one that does not exist: nothing
    to do (podman deletes after its own clean-up too).

    ``read_state(root, cid)`` (its ContainerError is no error with
    ``force``); if ``status(state)`` is not "stopped": a ContainerError
    without ``force``, else ``os.kill(pid, signal.SIGKILL)`` and wait
    (up to 5 s) until ``start_time(pid)`` is no longer the saved one.  Then
    ``shutil.rmtree(state["dir"])``.
    """
    # TODO(level 9): read_state(), status(), os.kill(), start_time(), time.sleep(), shutil.rmtree().
    raise NotImplementedError("oci_delete")


# create, step by step.  Three processes, as in `run`:
#
#     runtime (create)   reads config.json; writes the maps; the state, the pid file
#       '- child         joins and makes the namespaces, forks init, exits
#            '- init     the rootfs and its mounts, hostname, privileges,
#                        "ok"; waits on exec.fifo for start; execs the program
#
# They report to the runtime over one pipe, a line each: "userns" (write
# my maps), "pid N" (init's), "ok" (init waits for start), or
# "error STEP: WHAT"; close-on-exec, so the program never holds it.

def launch(spec: Spec, fifo: str) -> int:
    """Fork the child; answer its reports until init says ok; init's pid."""
    report_r, report_w = os.pipe()          # child and init -> us: a line each
    go_r, go_w = os.pipe()                  # us -> child: its maps are written
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(go_w)
        report_from(report_w, oci_child, spec, fifo, go_r, report_w)
    os.close(report_w)
    os.close(go_r)
    if spec.namespaces.get("user") != "":   # no user namespace to map: go on at once
        os.close(go_w)
    init = 0
    try:
        with os.fdopen(report_r) as reports:
            for line in reports:
                word, _, rest = line.rstrip("\n").partition(" ")
                if word == "userns":        # it has made its user namespace
                    write_id_maps(pid, spec)
                    os.close(go_w)
                elif word == "pid":
                    init = int(rest)
                elif word == "ok":
                    return init
                else:
                    raise ContainerError(rest if word == "error" else line)
        raise ContainerError("the container's init ended before it was ready")
    except BaseException:
        for process in (init, pid) if init else (pid,):    # the child may wait for its maps
            os.kill(process, signal.SIGKILL)
        raise
    finally:
        wait(pid)


def report_from(report: int, body, *args) -> None:
    """In a forked process: run ``body(*args)`` and exit; a failure is one
    line on the report pipe, naming the step: the runtime says it."""
    try:
        code = body(*args)
    except Exception as e:                  # noqa: BLE001  (OSError, or a bug: the same)
        what = str(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
        try:
            say(report, f"error {body.__name__}: {what}")
        except OSError:                     # after "ok": create has returned, and stderr
            print(f"container: {body.__name__}: {what}", file=sys.stderr)  # is the container's
        code = 1
    os._exit(code)


def say(report: int, line: str) -> None:
    os.write(report, f"{line}\n".encode())


def write_id_maps(pid: int, spec: Spec) -> None:
    """linux.uidMappings and gidMappings, for the child's user namespace.
    Root writes them; a plain user may write a map of its own ids alone
    (after "deny" to setgroups), and needs newuidmap/newgidmap for more."""
    for kind, mappings, own in (("uid", spec.uid_mappings, os.getuid()),
                                ("gid", spec.gid_mappings, os.getgid())):
        lines = "".join(f"{inside} {outside} {count}\n" for inside, outside, count in mappings)
        if os.geteuid() == 0:
            write_file(f"/proc/{pid}/{kind}_map", lines)
        elif len(mappings) == 1 and mappings[0][1:] == (own, 1):
            if kind == "gid":
                write_file(f"/proc/{pid}/setgroups", "deny")
            write_file(f"/proc/{pid}/{kind}_map", lines)
        else:
            argv = [f"new{kind}map", str(pid)] + [str(n) for m in mappings for n in m]
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                raise OSError(errno.EPERM, f"{argv[0]} failed: {r.stderr.strip()}")


def oci_child(spec: Spec, fifo: str, go: int, report: int) -> int:
    """The namespaces: join those with a path (first: once in a new user
    namespace we hold no capability over the host's), make a user namespace
    and wait for its maps, make the others; lo up in a new network
    namespace; fork init, say its pid, and exit: init's parent becomes
    whoever reaps our orphans (conmon, a subreaper)."""
    join_namespaces(spec.namespaces)
    if spec.namespaces.get("user") == "":
        linux.unshare(linux.CLONE_NEWUSER)
        say(report, "userns")
        read_all(go)                        # until the runtime has written our maps
    os.close(go)
    flags = 0
    for kind, path in spec.namespaces.items():
        if kind not in ("user", "pid") and not path:
            flags |= NAMESPACES[kind]
    linux.unshare(flags)
    if spec.namespaces.get("network") == "":
        set_up_inside("")                   # level 8: lo up, and nothing else
    if spec.namespaces.get("pid") == "":    # last: `ip` above would have been its pid 1
        linux.unshare(linux.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        report_from(report, oci_init, spec, fifo, report)
    say(report, f"pid {pid}")
    return 0


def join_namespaces(namespaces: dict[str, str]) -> None:
    """setns(2) into each namespace given by a path (podman's network
    namespace, made and set up before create: /run/netns/...); a user
    namespace first, so that we hold capabilities over the others.

    For each ``kind, path`` in ``namespaces`` with a path (the user
    namespace first: ``sorted(namespaces, key=lambda kind: kind != "user")``):
    ``fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)``,
    ``linux.setns(fd, NAMESPACES[kind])``, ``os.close(fd)``.
    """
    # TODO(level 9): sorted(), os.open(), linux.setns(), os.close().
    raise NotImplementedError("join_namespaces")


def oci_init(spec: Spec, fifo: str, report: int) -> int:
    """pid 1 (with a PID namespace): the container's world, then wait for
    start, then become the program."""
    state_fd = os.open(os.path.dirname(fifo), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    enter_bundle_rootfs(spec)
    if spec.hostname and spec.namespaces.get("uts") == "":
        linux.sethostname(spec.hostname)
    os.chdir(spec.cwd)
    drop_spec_privileges(spec)
    say(report, "ok")                       # create returns: the container is created
    wait_for_start(state_fd)
    env = dict(entry.split("=", 1) for entry in spec.env if "=" in entry)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):   # Python ignores them; a program must not
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvpe(spec.args[0], list(spec.args), env)   # PATH: the container's env's
    except OSError as e:
        print(f"container: cannot run {spec.args[0]}: {e.strerror}", file=sys.stderr)
        return 126 if isinstance(e, PermissionError) else 127    # as a shell says it


def wait_for_start(state_fd: int) -> None:
    """Open exec.fifo for writing: open(2) of a fifo blocks until another
    process opens it for reading, and that process is `start`.  Write one
    byte, for start to read.  The state directory's path is the host's,
    out of reach since the pivot: it is opened relative to a descriptor
    of the directory (O_PATH: for paths only) taken before.

    ``os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=state_fd)``
    (it blocks until start), ``os.write(fd, b"0")``, ``os.close(fd)``.
    """
    # TODO(level 9): os.open() with dir_fd, os.write(), os.close().
    raise NotImplementedError("wait_for_start")


def enter_bundle_rootfs(spec: Spec) -> None:
    """Level 3's steps, with the mounts of config.json: make our mounts
    private, make root.path a mount point, mount each of the config's in
    order (sources from the host: before the pivot), the default devices,
    pivot_root; then, inside, the masked and read-only paths."""
    make_mounts_private()
    bind_onto_itself(spec.root)
    for mount in spec.mounts:
        mount_one(spec.root, mount)
    if any(m.destination == "/dev" and m.type == "tmpfs" for m in spec.mounts):
        make_devices(spec.root)
    pivot_into(spec.root)
    for path in spec.masked_paths:
        mask(path)
    for path in spec.readonly_paths:
        if os.path.exists(path):
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            remount(path, linux.MS_RDONLY)
    if spec.readonly_root:
        remount("/", linux.MS_RDONLY)


def mount_one(root: str, mount: Mount) -> None:
    """One entry of ``mounts``: its options split into mount(2)'s flags
    and its data; a bind takes its flags only from a second call, a
    remount.  A cgroup filesystem is left out: this level gives the
    container no cgroup of its own (level 6's limits are for `run`).

    1. ``mount.type == "cgroup"``: return (left out, as above);
    2. each option: in MOUNT_FLAGS, or'd into ``flags``; in PROPAGATION,
       skipped; else a word of ``data`` (joined with ",");
    3. ``target = inside(root, mount.destination)``;
    4. a bind (``mount.type == "bind"`` or MS_BIND in the flags):
       ``make_mount_point(target, is_file=...)`` (a file if the source
       is not a directory), ``linux.mount(source, target, None, MS_BIND
       | (flags & MS_REC))``, then ``remount(target, rest)`` if flags are
       left (mount(2) ignores them with MS_BIND);
    5. anything else: ``make_mount_point(target, False)``,
       ``linux.mount(source, target, mount.type, flags, data)``.
    """
    # TODO(level 9): a loop over the options; inside(), make_mount_point(),
    # linux.mount(), remount().
    raise NotImplementedError("mount_one")


def inside(root: str, destination: str) -> str:
    """root + destination, its symlinks resolved; refused if that leads
    out of the rootfs: an image could hold /etc/hosts -> /etc/shadow, and
    the mount would land on the host's file."""
    path = os.path.realpath(os.path.join(root, destination.lstrip("/")))
    if path != root and not path.startswith(root + "/"):
        raise OSError(errno.EXDEV, "leads out of the rootfs", destination)
    return path


def make_mount_point(target: str, is_file: bool) -> None:
    """A mount needs something to be mounted on: a directory, or for a
    file bound in, a file."""
    if is_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    else:
        os.makedirs(target, exist_ok=True)


def remount(path: str, flags: int) -> None:
    """Change a mount's flags (MS_REMOUNT | MS_BIND).  In a user namespace,
    the flags the host's side set on the mount (nosuid, ...) are locked:
    keep them, as statvfs(3) shows them, or the kernel says EPERM."""
    kept = os.statvfs(path).f_flag & (linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV
                                      | linux.MS_NOEXEC)
    linux.mount("none", path, None, linux.MS_REMOUNT | linux.MS_BIND | flags | kept)


def make_devices(root: str) -> None:
    """/dev is an empty tmpfs: the devices every container has, each bound
    from the host's (a user namespace may not mknod), and the usual links."""
    for name in DEVICES:
        target = os.path.join(root, "dev", name)
        make_mount_point(target, is_file=True)
        linux.mount(f"/dev/{name}", target, None, linux.MS_BIND)
    for name, to in DEV_LINKS.items():
        if not os.path.lexists(os.path.join(root, "dev", name)):
            os.symlink(to, os.path.join(root, "dev", name))


def mask(path: str) -> None:
    """Hide a path of /proc or /sys (kcore, keys, ...): /dev/null over a
    file, an empty read-only tmpfs over a directory."""
    if os.path.isdir(path) and not os.path.islink(path):
        linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)
    elif os.path.exists(path):
        linux.mount("/dev/null", path, None, linux.MS_BIND)


def drop_spec_privileges(spec: Spec) -> None:
    """Level 7's steps, as config.json asks: the bounding set its list, a
    seccomp filter if it gives one (level 7's own, in place of its
    profile), no_new_privs, then the user and groups it names."""
    if spec.capabilities is not None:
        drop_capabilities(list(spec.capabilities))
    if spec.seccomp:                        # while CAP_SYS_ADMIN is ours, without no_new_privs
        install_seccomp(seccomp_program(REFUSED))
    if spec.no_new_privileges:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.setgroups(list(spec.groups))     # none of the runtime's own groups
    except PermissionError:                 # a user namespace where setgroups is denied
        if spec.groups:
            raise
    os.setgid(spec.gid)
    os.setuid(spec.uid)                     # not 0: the effective capabilities go


class OneLineParser(argparse.ArgumentParser):
    """argparse, whose errors are one line, as the runtime's others."""

    def error(self, message: str):
        print(f"container: {message} (container.py --help)", file=sys.stderr)
        sys.exit(2)


def main_oci(args: list[str]) -> int:
    """The verbs as runc has them, and the flags podman and conmon pass:
    those this level does not do are accepted and ignored (the README
    lists them).  An error is one line on stderr, and exit status 1."""
    parser = OneLineParser(prog="container.py")
    parser.add_argument("--root", default=default_root(), help="where the states live")
    for ignored in ("--log", "--log-format", "--criu", "--rootless"):
        parser.add_argument(ignored, help="accepted, ignored")
    for ignored in ("--systemd-cgroup", "--debug"):
        parser.add_argument(ignored, action="store_true", help="accepted, ignored")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verb = verbs.add_parser("create", help="make a container; its program waits for start")
    verb.add_argument("--bundle", "-b", default=".", help="the directory of config.json")
    verb.add_argument("--pid-file", help="write the program's pid here")
    for ignored in ("--console-socket", "--preserve-fds"):
        verb.add_argument(ignored, help="accepted, ignored")
    for ignored in ("--no-pivot", "--no-new-keyring"):
        verb.add_argument(ignored, action="store_true", help="accepted, ignored")
    verbs.add_parser("run", help="levels 1 to 8's: container.py run --help")
    verbs.add_parser("start", help="let a created container's program run")
    verbs.add_parser("state", help="print a container's state as JSON")
    verb = verbs.add_parser("kill", help="signal a container's program")
    verb.add_argument("--all", "-a", action="store_true", help="accepted, ignored")
    verbs.add_parser("delete", help="remove a stopped container").add_argument(
        "--force", "-f", action="store_true", help="kill it first if it runs")
    for name, verb in verbs.choices.items():
        if name != "run":                   # (main() has sent `run` to main_run())
            verb.add_argument("id", help="the container's id")
        if name == "kill":
            verb.add_argument("signal", nargs="?", default="SIGTERM")
    opts = parser.parse_args(args)
    try:
        if opts.verb == "create":
            oci_create(opts.root, opts.id, opts.bundle, opts.pid_file)
        elif opts.verb == "start":
            oci_start(opts.root, opts.id)
        elif opts.verb == "state":
            print(json.dumps(oci_state(opts.root, opts.id), indent=2))
        elif opts.verb == "kill":
            oci_kill(opts.root, opts.id, opts.signal)
        else:
            oci_delete(opts.root, opts.id, opts.force)
    except (SpecError, ContainerError, OSError) as e:
        print(f"container: {opts.verb} {opts.id}: {e}", file=sys.stderr)
        return 1
    return 0


def has_subordinate_ids() -> bool:
    try:
        subordinate_range("/etc/subuid", pwd.getpwuid(os.getuid()).pw_name, os.getuid())
    except (OSError, KeyError):
        return False
    return shutil.which("newuidmap") is not None


def main(args: list[str]) -> int:
    """``run`` is levels 1 to 8's; every other verb is the OCI runtime's."""
    if args[:1] == ["run"]:
        return main_run(args[1:])
    return main_oci(args)


def main_run(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="container.py run")
    parser.add_argument("--show", action="store_true", help="print /proc's view of the child")
    parser.add_argument("--hostname", help="the hostname inside")
    parser.add_argument("--rootfs", help="the directory to use as /")
    parser.add_argument("--layer", action="append", default=[],
                        help="a read-only layer of the rootfs (repeat it, lowest first)")
    parser.add_argument("--keep-upper", metavar="DIR",
                        help="make upper/ and work/ in DIR and keep them")
    parser.add_argument("--rootless", action="store_true",
                        help="in a user namespace (always, when not root)")
    parser.add_argument("--idmap", choices=["single", "full"],
                        help="our ids only, or with /etc/subuid's (default: full if it has some)")
    parser.add_argument("--memory", metavar="SIZE", help="memory limit (32m, 1g, bytes)")
    parser.add_argument("--cpus", metavar="N", help="CPU limit, in CPUs (0.5: half of one)")
    parser.add_argument("--pids-limit", metavar="N", help="most processes and threads at once")
    parser.add_argument("--cap-add", metavar="CAP_NAME", action="append", default=[],
                        choices=CAPABILITIES, help="keep this capability too (repeat it)")
    parser.add_argument("--no-seccomp", action="store_true", help="install no seccomp filter")
    parser.add_argument("--network", choices=["bridge", "none", "host"],
                        help="on the bridge course0, lo only, or the host's "
                             "(default: bridge as root, none as a plain user)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS...]")
    opts = parser.parse_args(args)
    if not opts.argv:
        parser.error("no PROGRAM to run")
    if opts.rootfs and opts.layer:
        parser.error("--rootfs or --layer, not both")
    opts.rootless = opts.rootless or os.geteuid() != 0
    if opts.network is None:
        opts.network = "bridge" if os.geteuid() == 0 else "none"
    if opts.network == "bridge" and os.geteuid() != 0:
        print("container: --network bridge: a veth on the host's bridge needs root on the "
              "host (CAP_NET_ADMIN in its network namespace); a plain user gets --network "
              "none (lo only), or a user-mode network (slirp4netns or pasta, as minirun "
              "and podman give)", file=sys.stderr)
        return 125
    if opts.idmap is None:
        opts.idmap = "full" if has_subordinate_ids() else "single"
    return run(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
