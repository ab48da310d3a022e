"""``--explain``: narrate each step of a launch, as it happens, on stderr.

The kernel wrappers call :func:`say` with the syscall they are about to make
(``unshare(CLONE_NEWPID|CLONE_NEWNS)``); the launch steps call it with what
the step is for.  It is off unless ``MINIRUN_EXPLAIN`` is set in the
environment, which ``--explain`` does so that every process of a launch,
parent and child alike, narrates the same way.
"""
import os
import sys
import time

# The value is the monotonic time the narration started at, so that every
# process of a launch stamps its lines on one clock (milliseconds since).
_base = os.environ.get("MINIRUN_EXPLAIN")
_on = bool(_base)
_who = "minirun"


_out = os.environ.get("MINIRUN_EXPLAIN_TO")


def enable(to: str | None = None) -> None:
    """Narrate from now on, to stderr or (``--debug --log FILE``) to a file."""
    global _on, _base, _out
    _on = True
    _base = os.environ["MINIRUN_EXPLAIN"] = repr(time.monotonic())
    if to:
        _out = os.environ["MINIRUN_EXPLAIN_TO"] = to


def enabled() -> bool:
    return _on


def set_actor(name: str) -> None:
    """Name the process that narrates next (``parent``, ``init``, ...)."""
    global _who
    _who = name


def say(message: str) -> None:
    if _on:
        try:
            try:
                ms = (time.monotonic() - float(_base)) * 1000
            except ValueError:
                ms = 0.0
            line = f"[{ms:7.1f}ms {_who} {os.getpid()}] {message}\n"
            if _out:
                with open(_out, "a") as f:
                    f.write(line)
            else:
                sys.stderr.write(line)
                sys.stderr.flush()
        except OSError:
            pass
