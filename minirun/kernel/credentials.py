"""Credentials: the user and group ids a process acts as.

A process has a real, an effective and a saved user id (and group id), and
a list of supplementary groups.  ``setresuid(2)`` sets all three uids at
once, so no saved id is left to switch back to; ``setresgid(2)`` does the
same for gids.  Dropping root has an order: the supplementary groups and
the gid first, because changing them needs CAP_SETGID, which leaving uid 0
takes away; the uid last.  Leaving uid 0 also clears the capability sets
unless PR_SET_KEEPCAPS is set (capabilities.py): the runtime trims the
bounding set before, and sets the others exactly after (runtime/process.py).

See: credentials(7), setresuid(2), setresgid(2), setgroups(2), user_namespaces(7)
"""
import os

from minirun import explain


def setgroups(groups: list[int]) -> None:
    explain.say(f"setgroups({list(groups)})")
    os.setgroups(list(groups))


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    explain.say(f"setresgid({rgid}, {egid}, {sgid})")
    os.setresgid(rgid, egid, sgid)


def setresuid(ruid: int, euid: int, suid: int) -> None:
    explain.say(f"setresuid({ruid}, {euid}, {suid})")
    os.setresuid(ruid, euid, suid)
