#!/usr/bin/env python3
"""Level 7: a root with fewer powers: capabilities, no_new_privs, seccomp.

    python3 container.py run [--show] [--hostname NAME] [--rootfs DIR]
                             [--layer DIR]... [--keep-upper DIR]
                             [--rootless] [--idmap single|full]
                             [--memory SIZE] [--cpus N] [--pids-limit N]
                             [--cap-add CAP_NAME]... [--no-seccomp]
                             PROGRAM [ARGS...]

    runtime (this program, on the host)   makes the cgroup and writes its limits;
      |                                  writes the child's uid/gid maps, moves it in
      '- child                           unshare(CLONE_NEWUSER), wait for the maps,
           |                             unshare(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS), fork
           '- init (pid 1 inside)        as in level 4; drop capabilities,
                                         no_new_privs, seccomp; exec PROGRAM

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
"""
import argparse
import ctypes
import errno
import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

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
    try:                                    # before any fork: a limit we cannot set stops us
        opts.cgroup = new_cgroup(opts)
    except OSError as e:
        print(f"container: make_cgroup: {e}", file=sys.stderr)
        return 125
    opts.scratch = make_scratch(opts.keep_upper) if opts.layer else None
    try:
        return start(opts)
    finally:
        if opts.scratch and not opts.keep_upper:    # the overlay died with the mount namespace
            remove(opts.scratch, opts.userns)
        if opts.cgroup:
            remove_cgroup(opts.cgroup)


def start(opts) -> int:
    go_r, go_w = os.pipe()                  # parent -> child: go on (looked at, mapped)
    ready_r, ready_w = os.pipe()            # child -> parent: my user namespace is made
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
    try:
        if opts.rootless and os.read(ready_r, 1):   # b"": it failed, and says why
            opts.userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            write_maps(pid, opts.idmap)
    except OSError as e:
        print(f"container: write_maps: {e}", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)        # it must not go on without its maps
        wait(pid)
        return 125
    except BaseException:                   # a bug, say NotImplementedError: the same
        os.kill(pid, signal.SIGKILL)
        wait(pid)
        raise
    if opts.cgroup:
        try:                                # before it forks init: init is born in the group
            join_cgroup(opts.cgroup, pid)
        except OSError as e:
            print(f"container: join_cgroup: {e}", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            wait(pid)
            return 125
    os.close(ready_r)
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
    """The runtime's child: a user namespace first (rootless), then the
    other namespaces, then pid 1 in them."""
    if opts.rootless:
        enter_user_namespace(ready)
    os.close(ready)
    os.read(go, 1)                          # until the parent has written our maps
    os.close(go)
    linux.unshare(linux.CLONE_NEWUTS | linux.CLONE_NEWPID | linux.CLONE_NEWNS)
    pid = os.fork()                         # the first child since the unshare: pid 1
    if pid == 0:
        leave(init, opts)
    print(f"container: pid 1 of the new namespace is host pid {pid}", file=sys.stderr,
          flush=True)
    return wait(pid)                        # only a parent can wait: init is ours


def enter_user_namespace(ready: int) -> None:
    """unshare(CLONE_NEWUSER), then tell the parent, which writes our maps.
    First of all: the namespaces made after it belong to it, and its
    capabilities are what allow us to make them."""
    linux.unshare(linux.CLONE_NEWUSER)
    os.write(ready, b"u")


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


def has_subordinate_ids() -> bool:
    try:
        subordinate_range("/etc/subuid", pwd.getpwuid(os.getuid()).pw_name, os.getuid())
    except (OSError, KeyError):
        return False
    return shutil.which("newuidmap") is not None


def main(args: list[str]) -> int:
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
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS...]")
    if not args or args[0] != "run":
        parser.print_usage(sys.stderr)
        return 2
    opts = parser.parse_args(args[1:])
    if not opts.argv:
        parser.error("no PROGRAM to run")
    if opts.rootfs and opts.layer:
        parser.error("--rootfs or --layer, not both")
    opts.rootless = opts.rootless or os.geteuid() != 0
    if opts.idmap is None:
        opts.idmap = "full" if has_subordinate_ids() else "single"
    return run(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
