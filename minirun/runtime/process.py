"""Turning the init (or exec) process into the config's ``process``.

Runs in the container, after its filesystem is in place, just before
``execve``.  The order matters and each step says why it sits where it does.

Why (``--explain`` prints the item under the step):

- seccomp cached: the profile was compiled before, by an earlier container:
  its program is read from the runtime's cache, checked against the whole
  profile text (seccomp(2))
- seccomp compile: libseccomp turns the profile's rules into a BPF program,
  here in the parent, once, so that the children only install it (seccomp_export_bpf(3))
"""
import os
import stat

from minirun import explain
from minirun.errors import LaunchError
from minirun.runtime.spec import Process

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dict(proc: Process) -> dict[str, str]:
    env = {}
    for item in proc.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def find_executable(proc: Process) -> str:
    """args[0] resolved with the container's PATH, as execvp would.

    Checked before the container is reported ready, so that `create` fails
    (127 not found, 126 not executable) instead of a start that never runs.
    """
    name = proc.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(proc.cwd, name)]
    else:
        path = env_dict(proc).get("PATH", DEFAULT_PATH)
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    denied = None
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            return candidate
        denied = candidate
    if denied:
        raise LaunchError("exec", 13, f"`{denied}`: permission denied: it is not an executable "
                          "file")
    where = "" if "/" in name else " in $PATH"
    raise LaunchError("exec", 2, f"`{name}`: executable file not found{where}: "
                      "no such file or directory")


def set_rlimits(k, proc: Process) -> None:
    """Before the user switch: lowering is always allowed, raising not after.
    The parent has already clamped what this host cannot grant (launch.py)."""
    for rl in proc.rlimits:
        k.rlimits.setrlimit(rl.type, rl.soft, rl.hard)


def set_oom_score_adj(proc: Process) -> None:
    """Raising it is anyone's right; lowering it needs CAP_SYS_RESOURCE."""
    if proc.oom_score_adj is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc.oom_score_adj))
        except PermissionError:
            raise OSError(13, f"cannot set oomScoreAdj {proc.oom_score_adj}: lowering it "
                          "needs CAP_SYS_RESOURCE, which this runtime does not have",
                          "/proc/self/oom_score_adj") from None


def make_cwd(proc: Process) -> None:
    """Create the working directory as root, before the user switch (runc does)."""
    if not os.path.isdir(proc.cwd):
        os.makedirs(proc.cwd, 0o755, exist_ok=True)


def switch_user(k, proc: Process, setgroups_allowed: bool) -> None:
    """Groups, gid, uid, then the capability sets.

    The bounding set is trimmed first (that needs CAP_SETPCAP, lost with the
    uid); KEEPCAPS keeps the permitted set across the uid change, and capset
    then sets exactly what the config lists.
    """
    caps, user = proc.capabilities, proc.user
    c = k.capabilities
    if caps is not None:
        c.bounding_drop_except(c.to_mask(list(caps.bounding)))
        c.set_keepcaps(True)
    if setgroups_allowed:
        k.credentials.setgroups(list(user.additional_gids))
    elif user.additional_gids:
        raise OSError(1, "additionalGids need setgroups, which this user namespace denies "
                      "(map gids with newgidmap)", "setgroups")
    k.credentials.setresgid(user.gid, user.gid, user.gid)
    k.credentials.setresuid(user.uid, user.uid, user.uid)
    if caps is not None:
        c.set_keepcaps(False)
        c.capset(c.to_mask(list(caps.effective)), c.to_mask(list(caps.permitted)),
                 c.to_mask(list(caps.inheritable)))
        c.ambient_set(c.to_mask(list(caps.ambient)))
    if user.umask is not None:
        k.process.umask(user.umask)


def enter_cwd(k, proc: Process) -> None:
    """chdir after the user switch (permissions apply) and after every host
    fd is closed: a cwd of /proc/self/fd/N then cannot name a host directory,
    and getcwd() proves the result lies inside the new root (CVE-2024-21626)."""
    k.process.chdir(proc.cwd)
    try:
        here = os.getcwd()
    except OSError:
        here = "(unreachable)"
    if not here.startswith("/"):
        raise OSError(2, "the working directory is outside the container", proc.cwd)


def close_host_fds(k, keep: set[int]) -> None:
    """Close every descriptor but ``keep``: the gaps between them with
    close_range(2), which needs no /proc (a container that shares the
    runtime's mount namespace may not have one mounted)."""
    low = 0
    for fd in sorted(keep) + [2 ** 20]:     # past any fd a process can have here
        if fd > low:
            k.process.close_range(low, fd - 1)
        low = max(low, fd + 1)


def seccomp_program(k, spec_seccomp, cache_dir: str) -> bytes | None:
    """The compiled filter of the config's linux.seccomp, from the cache in
    the runtime's state directory when this profile was compiled before.

    Runs in the runtime's own process before it forks, so that the children
    only install the program.  A cache file holds the profile it was compiled
    from (and the libseccomp version) before the program, and is used only
    when that text matches in full; it is written whole or not at all."""
    if spec_seccomp is None:
        return None
    import zlib  # a file name only: the full text is compared, so no need for sha256
    s = k.seccomp
    source = f"libseccomp {s.version()} {spec_seccomp!r}\n".encode()
    path = os.path.join(cache_dir, "seccomp", f"{zlib.crc32(source):08x}-{len(source)}.bpf")
    try:
        with open(path, "rb") as f:
            cached = f.read()
        program = cached[len(source):]
        if cached.startswith(source) and program and len(program) % 8 == 0:
            explain.say(f"seccomp: the compiled profile from {path}", why="seccomp cached")
            return program
    except OSError:
        pass
    default = s.action(spec_seccomp.default_action, spec_seccomp.default_errno_ret)
    rules = [s.Rule(names=r.names, action=s.action(r.action, r.errno_ret),
                    args=tuple((a[0], s.OPERATORS[a[1]], a[2], a[3]) for a in r.args))
             for r in spec_seccomp.syscalls]
    explain.say(f"seccomp: compiling {len(rules)} rules with libseccomp",
                why="seccomp compile")
    program = s.compile_program(default, list(spec_seccomp.architectures), rules)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(source + program)
        os.rename(tmp, path)
    except OSError:
        pass          # a read-only state directory: compile again next time
    return program
