"""Credentials: the user and group ids a process acts as.

A process has a real, an effective and a saved user id (and group id), and
a list of supplementary groups.  Dropping root has an order.

Why each call is made (``--explain`` prints the item under the call):

- setgroups: the supplementary groups first, the config's (none: the
  caller's groups must not follow it in), while CAP_SETGID is still
  ours (setgroups(2))
- setresgid: all three gids at once, so that no saved id is left to switch
  back to; before the uid, since leaving uid 0 takes CAP_SETGID away (setresgid(2))
- setresuid: all three uids at once, last; leaving uid 0 also clears the
  capability sets, so the runtime trims the bounding set before and sets
  the others exactly after (runtime/process.py) (setresuid(2), credentials(7))

See: credentials(7), setresuid(2), setresgid(2), setgroups(2), user_namespaces(7)
"""
import os

from minirun import explain


def setgroups(groups: list[int]) -> None:
    explain.say(f"setgroups({list(groups)})", why="setgroups")
    os.setgroups(list(groups))


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    explain.say(f"setresgid({rgid}, {egid}, {sgid})", why="setresgid")
    os.setresgid(rgid, egid, sgid)


def setresuid(ruid: int, euid: int, suid: int) -> None:
    explain.say(f"setresuid({ruid}, {euid}, {suid})", why="setresuid")
    os.setresuid(ruid, euid, suid)
