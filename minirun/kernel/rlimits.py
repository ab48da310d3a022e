"""Resource limits: per-process ceilings (open files, processes, core size).

Each limit has a soft value (enforced) and a hard value (the ceiling for the
soft one).  Anyone may lower them; raising the hard value needs
CAP_SYS_RESOURCE in the *initial* user namespace, which a container in its
own user namespace never has (nor does root on hosts that withhold it).
minirun then keeps the host's hard limit and says so, rather than failing.

Why (``--explain`` prints the item under the call):

- setrlimit: a ceiling the config sets for the container's processes (open
  files, processes, core size), inherited by all they start (setrlimit(2))

See: setrlimit(2), prlimit(1)
"""
import resource

from minirun import explain

BY_NAME = {name: getattr(resource, name) for name in dir(resource)
           if name.startswith("RLIMIT_")}


def clamp(name: str, soft: int, hard: int, can_raise: bool) -> tuple[int, int, str | None]:
    """The (soft, hard) that can be set, and a warning when it was lowered."""
    _, cur_hard = resource.getrlimit(BY_NAME[name])
    if can_raise or cur_hard == resource.RLIM_INFINITY or hard <= cur_hard:
        return soft, hard, None
    new_soft = min(soft, cur_hard)
    return new_soft, cur_hard, (f"{name} hard limit {hard} is above this host's {cur_hard}, "
                                f"which cannot be raised here: using {new_soft}:{cur_hard}")


def setrlimit(name: str, soft: int, hard: int) -> None:
    explain.say(f"setrlimit({name}, {soft}, {hard})", why="setrlimit")
    resource.setrlimit(BY_NAME[name], (soft, hard))
