"""seccomp: a BPF filter that the kernel runs on every system call.

The OCI config lists a default action and rules (syscall names, an action,
optional argument comparisons); libseccomp compiles them into a BPF program
for each architecture named (:func:`compile_program`), and ``seccomp(2)`` installs
the program (:func:`install`).  Compiling podman's default profile takes
about 15 ms, so the runtime keeps compiled programs and compiles a profile
once.

Why (``--explain`` prints the item under the call):

- install: from now on the kernel runs the filter on every system call of
  the process and of all it starts, and refuses those the profile does not
  allow; without no_new_privs this needs CAP_SYS_ADMIN, so the launch
  installs it before dropping capabilities or after setting no_new_privs (seccomp(2))

See: seccomp(2), seccomp_rule_add(3), seccomp_export_bpf(3)
"""

from minirun import explain
from minirun.kernel._native import check, cstr, ffi, lib
from minirun.records import record

ACT_KILL_THREAD = 0x00000000
ACT_KILL_PROCESS = 0x80000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
ACT_NOTIFY = 0x7FC00000

ACTIONS = {"SCMP_ACT_KILL": ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
           "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS, "SCMP_ACT_TRAP": ACT_TRAP,
           "SCMP_ACT_ERRNO": ACT_ERRNO, "SCMP_ACT_TRACE": ACT_TRACE, "SCMP_ACT_LOG": ACT_LOG,
           "SCMP_ACT_ALLOW": ACT_ALLOW}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ATTR_CTL_NNP = 3  # SCMP_FLTATR_CTL_NNP: let us set no_new_privs ourselves
ATTR_ACT_BADARCH = 2
EPERM = 1


@record
class Rule:
    names: tuple[str, ...]
    action: int
    args: tuple[tuple[int, int, int, int], ...] = ()  # (index, op, value, valueTwo)


def action(name: str, errno_ret: int | None = None) -> int:
    base = ACTIONS[name]
    if base in (ACT_ERRNO, ACT_TRACE):
        return base | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return base


def arch_name(oci: str) -> str:
    """``SCMP_ARCH_X86_64`` -> ``x86_64``, as libseccomp names them."""
    return oci.removeprefix("SCMP_ARCH_").lower()


def version() -> int:
    """libseccomp's version as one number (2.5.4 -> 20504): a compiled
    program is only reused by the libseccomp that compiled it."""
    return lib.mr_seccomp_version()


def compile_program(default_action: int, arches: list[str], rules: list[Rule]) -> bytes:
    """The BPF program for a profile; unknown syscall names are skipped, as
    runc does, since profiles name syscalls of newer kernels."""
    import os
    ctx = lib.mr_seccomp_init(default_action)
    if ctx == ffi.NULL:
        raise OSError(22, "seccomp_init failed", "seccomp")
    try:
        check(lib.mr_seccomp_attr_set(ctx, ATTR_CTL_NNP, 0), "seccomp_attr_set")
        for arch in arches:
            r = lib.mr_seccomp_arch_add(ctx, cstr(arch_name(arch)))
            if r == -1 and ffi.errno != 17:  # EEXIST: the native arch is there already
                check(r, "seccomp_arch_add", arch)
        for rule in rules:
            if rule.action == default_action:
                continue
            args = ffi.new("mr_arg_cmp[]", [{"arg": a[0], "op": a[1], "datum_a": a[2],
                                            "datum_b": a[3]} for a in rule.args] or 1)
            for name in rule.names:
                nr = lib.mr_seccomp_syscall_resolve_name(cstr(name))
                if nr == -1:  # __NR_SCMP_ERROR: not a syscall of this architecture
                    continue
                r = lib.mr_seccomp_rule_add(ctx, rule.action, nr, len(rule.args), args)
                if r == -1 and ffi.errno != 17:  # EEXIST: an earlier rule covers it
                    check(r, "seccomp_rule_add", name)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            check(lib.mr_seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.mr_seccomp_release(ctx)


def install(program: bytes) -> None:
    """Install a compiled program on the calling thread (and what it execs)."""
    explain.say(f"seccomp(SECCOMP_SET_MODE_FILTER, {len(program) // 8} BPF instructions)",
                why="install")
    check(lib.mr_seccomp_set_filter(program, len(program)), "seccomp")
