"""NVIDIA's CDI hooks, done by the runtime itself.

A CDI spec for NVIDIA GPUs (``nvidia-ctk cdi generate``, ``minirun cdi
generate``) asks for three createContainer hooks of NVIDIA's hook binary::

    nvidia-cdi-hook create-symlinks --link libcuda.so.550.54.15::/usr/lib/.../libcuda.so.1
    nvidia-cdi-hook update-ldcache --folder /usr/lib/x86_64-linux-gnu
    nvidia-cdi-hook chmod --mode 755 --path /dev/dri

(``nvidia-ctk hook ACTION ...`` in older specs).  Run as hooks, from the
host, they fail where users meet them most: rootless, with --userns
keep-id, where /dev is bound in, where the binary is not installed.  The
runtime does the same work from INIT instead, inside the container's
mount namespace, on its root before pivot_root, as the container's root:

create-symlinks  each LINK made (with its directories) to point at TARGET,
                 inside the root (openat2 RESOLVE_IN_ROOT); one there stays
chmod            each PATH inside the root given MODE
update-ldcache   the image's own ldconfig run over the folders, chrooted
                 into the root, with no capability and no_new_privs (it is
                 the image's program, run before the container starts); an
                 image without ldconfig (musl, busybox) has no cache to update

Any other hook, and these with arguments not known here, run as given.
See: the runtime-spec's config.md#posix-platform-hooks; CDI's SPEC.md
"""
import os

BINARIES = ("nvidia-cdi-hook", "nvidia-ctk")
ACTIONS = ("create-symlinks", "update-ldcache", "chmod")
LDCONFIG = ("/sbin/ldconfig", "/usr/sbin/ldconfig", "/sbin/ldconfig.real")
# flags each action takes a value for; a flag not here means "run the hook as given"
_FLAGS = {"create-symlinks": {"--link", "--host-root", "--container-spec"},
          "update-ldcache": {"--folder", "--ldconfig-path", "--container-spec"},
          "chmod": {"--mode", "--path", "--container-spec"}}


def native(hook) -> tuple[str, dict] | None:
    """(action, {flag: [values]}) where the runtime does ``hook`` itself;
    None to run it as given."""
    if os.path.basename(hook.path) not in BINARIES:
        return None
    args = list(hook.args[1:])
    if args[:1] == ["hook"]:                # nvidia-ctk hook ACTION
        args = args[1:]
    if not args or args[0] not in ACTIONS:
        return None
    action, flags = args[0], {}
    rest = args[1:]
    while rest:
        flag, _, value = rest.pop(0).partition("=")
        if flag not in _FLAGS[action]:
            return None
        if not value:
            if not rest:
                return None
            value = rest.pop(0)
        flags.setdefault(flag, []).append(value)
    return action, flags


def split(hooks) -> tuple[list, list]:
    """(the hooks the runtime does itself, with what each asks; the others)."""
    done, others = [], []
    for hook in hooks:
        asked = native(hook)
        if asked:
            done.append(asked)
        else:
            others.append(hook)
    return done, others


def perform(k, root_fd: int, asked: list) -> None:
    """Do each (action, flags), in order, on the root ``root_fd``."""
    for action, flags in asked:
        if action == "create-symlinks":
            for link in flags.get("--link", []):
                target, sep, path = link.partition("::")
                if not sep or not path.startswith("/"):
                    raise ValueError(f"create-symlinks --link {link}: use TARGET::/PATH")
                k.devices.symlink_in_root(root_fd, target, path)
        elif action == "chmod":
            mode = int(flags.get("--mode", ["0"])[-1], 8)
            for path in flags.get("--path", []):
                _chmod(k, root_fd, path, mode)
        else:
            _ldconfig(k, root_fd, flags.get("--folder", []))


def _chmod(k, root_fd: int, path: str, mode: int) -> None:
    """chmod a path inside the root (an O_PATH descriptor: a device node is
    not opened, and a link cannot lead out)."""
    fd = k.mounts.open_in_root(root_fd, path, os.O_PATH)
    try:
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def _ldconfig(k, root_fd: int, folders: list[str]) -> None:
    """The image's ldconfig over ``folders``, in a child chrooted into the
    root, without capabilities; nothing where the image has none."""
    found = next((p for p in LDCONFIG if _is_file_in_root(k, root_fd, p)), None)
    if found is None:
        return
    from minirun.kernel.fork import fork
    child = fork(_run_ldconfig, k, root_fd, found, folders, keep_fds={root_fd}, narrate=False)
    try:
        child.chan.recv("exec")           # a failure before the exec arrives here
    finally:
        child.chan.close()
    status = child.wait()
    if status:
        raise OSError(0, f"{found} {' '.join(folders)} exited with status "
                         f"{os.waitstatus_to_exitcode(status)}")


def _run_ldconfig(chan, step, k, root_fd: int, ldconfig: str, folders: list[str]) -> None:
    step("chroot for ldconfig")
    k.mounts.chroot_fd(root_fd)
    step("drop capabilities for ldconfig")
    k.capabilities.bounding_drop_except(0)
    k.capabilities.capset(0, 0, 0)
    k.process.set_no_new_privs()
    step("exec ldconfig")
    k.process.execve(ldconfig, [ldconfig] + list(folders),
                     {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def _is_file_in_root(k, root_fd: int, path: str) -> bool:
    try:
        fd = k.mounts.open_in_root(root_fd, path, os.O_PATH)
    except OSError:
        return False
    try:
        import stat
        return stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
