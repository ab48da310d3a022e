"""OCI hooks: programs the runtime runs at fixed points of the lifecycle,
each given the container's state as JSON on its stdin.

prestart, createRuntime and createContainer run from the runtime once the
namespaces exist and before pivot_root; startContainer runs inside the
container just before the process; poststart after `start`, poststop after
`delete`.  A failing hook before the start aborts it; a failing poststart or
poststop hook is reported as a warning and the lifecycle goes on (the spec
says so).

See: runtime-spec config.md#posix-platform-hooks
"""
import subprocess

from minirun.errors import LaunchError
from minirun.runtime import checks
from minirun.runtime.spec import Hook


def run_one(hook: Hook, state_json: str, phase: str) -> None:
    env = dict(item.partition("=")[::2] for item in hook.env)
    argv = list(hook.args) or [hook.path]
    try:
        result = subprocess.run(argv, executable=hook.path, input=state_json.encode(), env=env,
                                timeout=hook.timeout, capture_output=True)
    except subprocess.TimeoutExpired:
        raise LaunchError(f"{phase} hook", 62, f"`{hook.path}` did not finish within "
                          f"{hook.timeout} s and was killed") from None
    except OSError as e:
        raise LaunchError(f"{phase} hook", e.errno or 0, f"`{hook.path}`: {e.strerror}") from None
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()
        raise LaunchError(f"{phase} hook", 0, f"`{hook.path}` exited with status "
                          f"{result.returncode}" + (f": {err}" if err else ""))


def run_all(hooks: tuple[Hook, ...], state_json: str, phase: str, fatal: bool = True) -> None:
    for hook in hooks:
        try:
            run_one(hook, state_json, phase)
        except LaunchError as e:
            if fatal:
                raise
            checks.warn(str(e))
