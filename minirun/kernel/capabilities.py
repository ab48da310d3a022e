"""Capabilities: root's powers, split into ~40 separately grantable bits.

A process has five sets.  A change of uid from 0 clears them unless
``PR_SET_KEEPCAPS`` is set first.

Why each call is made (``--explain`` prints the item under the call):

- bounding: the *bounding* set is the most the process and its programs can
  ever gain, even through set-uid root; it only shrinks: everything the
  config does not grant is dropped from it (prctl(2), capabilities(7))
- capset: *permitted* (what the process may use), *effective* (what the
  kernel checks now) and *inheritable* are set to exactly the config's
  lists, after the switch of user (capset(2))
- ambient: *ambient* capabilities survive execve into a program without file
  capabilities; raised one at a time (prctl(2), capabilities(7))

See: capabilities(7), capset(2), prctl(2)
"""
from minirun import explain
from minirun.kernel._native import check, ffi, lib

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
BY_NAME = {name: i for i, name in enumerate(NAMES)}

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def last_cap() -> int:
    """The highest capability this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def to_mask(names: list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << BY_NAME[name]
    return mask


def _mask_names(mask: int) -> str:
    return ",".join(n for i, n in enumerate(NAMES) if mask >> i & 1) or "none"


def bounding_drop_except(keep: int) -> None:
    """Drop from the bounding set every capability not in ``keep``."""
    dropped = []
    for cap in range(last_cap() + 1):
        if not keep >> cap & 1 and lib.mr_prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
            check(lib.mr_prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)",
                  NAMES[cap] if cap < len(NAMES) else str(cap))
            dropped.append(cap)
    explain.say(f"prctl(PR_CAPBSET_DROP) x{len(dropped)}: bounding set is now "
                f"{_mask_names(keep)}", why="bounding")


def set_keepcaps(on: bool) -> None:
    check(lib.mr_prctl(PR_SET_KEEPCAPS, int(on), 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    explain.say(f"capset(effective={_mask_names(effective)}, permitted=..., "
                f"inheritable={_mask_names(inheritable)})", why="capset")
    data = ffi.new("uint32_t[6]", [effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF,
                                   inheritable & 0xFFFFFFFF, effective >> 32,
                                   permitted >> 32, inheritable >> 32])
    check(lib.mr_capset(data), "capset")


def capget() -> tuple[int, int, int]:
    data = ffi.new("uint32_t[6]")
    check(lib.mr_capget(data), "capget")
    return (data[0] | data[3] << 32, data[1] | data[4] << 32, data[2] | data[5] << 32)


def ambient_set(mask: int) -> None:
    check(lib.mr_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
          "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    for cap in range(len(NAMES)):
        if mask >> cap & 1:
            explain.say(f"prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, {NAMES[cap]})",
                        why="ambient")
            check(lib.mr_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0),
                  "prctl(PR_CAP_AMBIENT_RAISE)", NAMES[cap])
