"""ID mapping: which host uids and gids a user namespace's ids stand for.

A new user namespace starts with no mapping: every id reads as the overflow
id (65534).

Why each step is taken (``--explain`` prints the item under it):

- setgroups: an unprivileged process must write ``deny`` to
  /proc/PID/setgroups before it maps a gid, so that nobody inside can drop
  a group the host uses to deny them access (user_namespaces(7))
- map: the parent writes /proc/PID/uid_map and gid_map once, one line per
  range (inside outside count): which host ids the ids inside stand for;
  a plain user may map only its own id (user_namespaces(7))
- helper: newuidmap/newgidmap, set-uid helpers, map more ranges than our
  own id, as /etc/subuid and /etc/subgid allow this user (newuidmap(1), subuid(5))

See: user_namespaces(7), newuidmap(1), subuid(5)
"""
import os

from minirun import explain
from minirun.records import record


@record
class IDMap:
    container_id: int
    host_id: int
    size: int


def format_map(maps: list[IDMap]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def in_user_namespace() -> bool:
    """Whether the caller itself runs in a user namespace other than the
    initial one (rootless podman runs its runtime so: uid 0, but no power
    over the host's cgroups or device nodes)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def setgroups_allowed(pid: int | str) -> bool:
    """Whether the user namespace of process ``pid`` ("self" for ours) lets
    its processes call setgroups(2): /proc/PID/setgroups says "allow" or
    "deny" (a plain user must deny it to write a gid map alone)."""
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def is_rootless() -> bool:
    return os.geteuid() != 0 or in_user_namespace()


def subordinate_ranges(kind: str, uid: int) -> list[tuple[int, int]]:
    """The caller's ranges in ``/etc/subuid`` (kind ``uid``) or ``/etc/subgid``."""
    import pwd
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    ranges = []
    try:
        with open(f"/etc/sub{kind}") as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (name, str(uid)):
                    ranges.append((int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return ranges


def only_own_id(maps: list[IDMap], own: int) -> bool:
    return all(m.host_id == own and m.size == 1 for m in maps)


def covered(maps: list[IDMap], own: int, ranges: list[tuple[int, int]]) -> bool:
    """Whether every mapped host id is the caller's own or in its ranges."""
    for m in maps:
        if m.host_id == own and m.size == 1:
            continue
        if not any(start <= m.host_id and m.host_id + m.size <= start + count
                   for start, count in ranges):
            return False
    return True


def write_direct(pid: int, kind: str, maps: list[IDMap], deny_setgroups: bool) -> None:
    """Write a map file as root, or a single own-id map as a plain user."""
    if kind == "gid" and deny_setgroups:
        explain.say(f'write /proc/{pid}/setgroups "deny"', why="setgroups")
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    text = format_map(maps)
    explain.say(f'write /proc/{pid}/{kind}_map "{text.strip()}"', why="map")
    with open(f"/proc/{pid}/{kind}_map", "w") as f:
        f.write(text)


def write_with_helper(pid: int, kind: str, maps: list[IDMap]) -> None:
    """Map ranges beyond the caller's own id with newuidmap/newgidmap."""
    import shutil
    import subprocess
    helper = shutil.which(f"new{kind}map", path=os.environ.get("PATH", "") + ":/usr/bin:/usr/sbin")
    if helper is None:
        raise FileNotFoundError(
            2, f"new{kind}map not found: install the uidmap package", f"new{kind}map")
    args = [helper, str(pid)]
    for m in maps:
        args += [str(m.container_id), str(m.host_id), str(m.size)]
    explain.say(" ".join(args), why="helper")
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise PermissionError(1, f"{os.path.basename(helper)} failed: {result.stderr.strip()}",
                              f"/proc/{pid}/{kind}_map")
