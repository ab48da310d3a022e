"""The launch's words on kernel/fork's channel, and its errors.

The runtime forks CHILD with ``kernel.fork.fork`` and talks to it (and to
INIT, which shares CHILD's channel) over two close-on-exec pipes, one line
per message, in this order::

    CHILD -> parent   userns               a new user namespace: write its maps
    parent -> CHILD   go [setgroups-denied]
    CHILD -> parent   pid N                INIT's pid; CHILD exits
    parent -> INIT    placed               INIT is in its cgroup
    INIT -> parent    hooks                run the create hooks now
    parent -> INIT    hooks-done STATE     the OCI state, for startContainer
    INIT -> parent    ready                waiting on exec.fifo (create)
    parent -> INIT    job {args,env,cwd}   a primed exec's job (the pool's)
                      end-of-file          execve succeeded (exec)

A failure is always ``error STEP:ERRNO:DETAIL``; the parent raises it as one
exception naming the step (:func:`launch_error`), after killing what it
forked and removing what it made.
"""
from minirun.errors import CommandNotExecutable, CommandNotFound, LaunchError

WHO = "the container process"       # the other side, in "exited before `pid`"


def launch_error(step: str, errno: int, detail: str) -> LaunchError:
    """The exception for a step's failure: exec's own for a missing (127)
    or unexecutable (126) program, as a shell would exit."""
    if step == "exec":
        if errno == 2:
            return CommandNotFound(step, errno, detail)
        if errno in (13, 8, 21):  # EACCES, ENOEXEC, EISDIR
            return CommandNotExecutable(step, errno, detail)
    return LaunchError(step, errno, detail)
