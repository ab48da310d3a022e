"""The owner: the process a container is tied to, whose death ends it.

A container made through the Python API (minirun/api.py) belongs to the
process that made it: create records ``options["owner"] = "PID:STARTTIME"``
(the start time tells that pid from a later process given the same number).
Nothing the API makes may outlive its caller, even one killed by SIGKILL,
which runs no handler of its own.  So two others do the work:

    the monitor       holds a pidfd of the owner among the fds it selects on;
                      when it becomes readable (the owner has exited) the
                      monitor kills the container, finishes as for any exit,
                      then removes it as `rm -f -v` would (monitor.py)
    the next command  whatever a dead owner left where no monitor could act
                      (a created container never started, a monitor killed
                      too, a machine rebooted) is removed by ``sweep``, which
                      ps, rm, container prune and create call

A pidfd, not ``PR_SET_PDEATHSIG``: the monitor is not the owner's child (it
lives in a session of its own, so that a terminal's signals do not reach
it), and a parent-death signal follows the thread that forked, not the
process.

See: pidfd_open(2), proc(5) (/proc/PID/stat field 22, starttime)
"""
import os
import select

from minirun.engine.containers import records as ct
from minirun.engine.containers.records import alive
from minirun.engine.store import Store
from minirun.errors import MiniRunError


class Owner:
    """The owner of one container, watched through a pidfd (close-on-exec,
    as pidfd_open makes it: the container never inherits it)."""

    def __init__(self, owner: str, container: str = ""):
        self.name, self.container = owner, container
        self.fd = -1
        self.dead = False
        pid = int(owner.partition(":")[0])
        try:
            self.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.dead = True
            return
        # Read after the pidfd is open: if the start time still matches, the
        # process the pidfd holds is the owner (a reused pid starts later).
        if not alive(owner):
            self.dead = True
            self.close()

    def died(self) -> bool:
        """Has the owner exited?  (A pidfd is readable once its process has.)"""
        if not self.dead and self.fd >= 0:
            self.dead = bool(select.select([self.fd], [], [], 0)[0])
        return self.dead

    def fds(self) -> list[int]:
        """What to select on: the pidfd while the owner lives."""
        return [self.fd] if self.fd >= 0 and not self.dead else []

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def gone_error(self) -> MiniRunError:
        """What the starter hears when the owner died before the start."""
        return ct.ContainerError(f"the owner of container {self.container} (pid "
                                 f"{self.name.partition(':')[0]}) has exited: the container "
                                 "is removed with it")


def watch(store: Store, cid: str) -> Owner | None:
    """The owner of container ``cid``, watched; None if it has none (made by
    the command line) or its record is gone."""
    try:
        rec = ct.record(store, cid)
    except ct.ContainerError:
        return None
    owner = rec["options"].get("owner")
    return Owner(owner, rec["name"]) if owner else None


def discard(store: Store, cid: str) -> None:
    """Remove a container whose owner is dead, as `rm -f -v` would: its
    processes, runtime state, network, record, directory and anonymous
    volumes.  Gone already (its --rm, another command's sweep): nothing."""
    from minirun.engine.containers import lifecycle
    try:
        lifecycle.remove(store, cid, force=True, volumes=True)
    except ct.ContainerError:
        pass


def sweep(store: Store) -> list[str]:
    """Remove every container whose owner has died and whose monitor is not
    alive to do it (never started, killed, or the machine rebooted); their
    ids.  One query with a cheap filter: commands that read containers
    call it, the start path of `run` does not."""
    from minirun.engine.containers.lifecycle import monitor_alive
    removed = []
    rows = store.db.execute("SELECT id FROM containers WHERE options LIKE '%\"owner\": %'")
    for (cid,) in rows.fetchall():
        try:
            rec = ct.record(store, cid)
        except ct.ContainerError:
            continue                       # removed meanwhile
        owner = rec["options"].get("owner")    # (a label named owner matches LIKE too)
        if not owner or alive(owner) or monitor_alive(rec):
            continue                       # alive; or its monitor is ending it
        try:
            discard(store, cid)
        except MiniRunError:
            continue                       # for the next command to try again
        removed.append(cid)
    return removed
