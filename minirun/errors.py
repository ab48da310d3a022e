"""minirun's exceptions: one small hierarchy, each class saying when it is
raised and what the user should do.  The CLIs map them to exit codes the way
podman does (125 minirun's own error, 126 cannot execute, 127 not found)."""


class MiniRunError(Exception):
    """Anything minirun refuses or fails to do; the message says what to do."""
    exit_code = 125


class ConfigError(MiniRunError):
    """config.json is malformed or asks for something minirun does not do;
    the message names the JSON path.  Fix the config."""


class ContainerNotFound(MiniRunError):
    """No container with that id under --root.  Check the id with `list`."""


class ContainerExists(MiniRunError):
    """A container with that id exists already.  Pick another id or delete it."""


class StateError(MiniRunError):
    """The container is in the wrong state for the verb (start a running one,
    delete a running one without --force)."""


class LaunchError(MiniRunError):
    """A step of the launch failed; ``step`` names it and ``errno`` says why.
    Nothing the launch made is left behind."""

    def __init__(self, step: str, errno: int, detail: str):
        import os
        self.step, self.errno, self.detail = step, errno, detail
        reason = os.strerror(errno) if errno else ""
        extra = f": {reason}" if reason and reason.lower() not in detail.lower() else ""
        super().__init__(f"{step}: {detail}{extra}")


class CommandNotFound(LaunchError):
    """The process's args[0] does not exist in the container (exit 127)."""
    exit_code = 127


class CommandNotExecutable(LaunchError):
    """The process's args[0] exists but cannot be executed (exit 126)."""
    exit_code = 126
