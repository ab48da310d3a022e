"""RUN: a command in a container of the stage's image so far.

The container is an ordinary one of the containers room (its record,
its bundle, its overlay), made with the stage's environment, working
directory and user as the config stands *now* (the config-only steps
since the last image are not in that image yet), no entrypoint, and our
stdio as its stdio, so the command's output is the build's.  It is run in
this process, tied to it (if the build dies, so does the command: the
next minirun command removes what is left, as for the Python API), and
removed after, whatever happened.

What a RUN leaves is the container's upper directory, less what the
runtime made there only to mount on (``/etc/hosts`` and its kind, an
empty ``/proc``): those are not the command's work, so they are not in
the layer (``scrub``).

``--mount=type=cache,target=DIR``: a directory kept in the store between
builds (by its ``id``, else its target), mounted at DIR for the command,
never in the layer (a package manager's downloads).
"""
import contextlib
import hashlib
import os

from minirun.engine.build import BuildError, StepFailed
from minirun.engine.build import containerfile as cf
from minirun.engine.images import layerdiff



def argv(ins, shell: list[str], where: str) -> list[str]:
    """The command: a heredoc's script, the exec form, or the shell form."""
    if ins.heredocs and ins.text.strip().startswith("<<"):
        return [*shell, ins.heredocs[0][1]]
    return cf.command(ins, shell)


@contextlib.contextmanager
def container(stage, ins, command: list[str], where: str):
    """Run ``command`` as the RUN ``ins`` of ``stage``; yield its upper
    directory (scrubbed) while the container still exists, then remove it."""
    from minirun.engine.containers import create, lifecycle, monitor
    from minirun.engine.containers import spec as specs
    config = stage.config
    env = [f"{k}={v}" for k, v in stage.args.items()] + list(config.get("Env") or [])
    spec = specs.make(stage.image, command, entrypoint="", env=env,
                      workdir=config.get("WorkingDir") or None, user=config.get("User") or None,
                      network=_network(ins, stage.options, where),
                      volume=_cache_mounts(stage.store, ins, where))
    lowers = _lowers(stage.store, stage.image)
    cid = create.create(stage.store, spec, owner=os.getpid())
    try:
        with _stdout_away(stage.options.quiet):
            code = monitor.run_container(stage.root, cid, foreground=True, tied=True,
                                         store=stage.store)
        if code:
            raise StepFailed(f"{where}: the command exited with {code}; the build stops "
                             "here (fix the command, or end it with `|| true`)", code)
        from minirun.engine.containers.records import container_dir
        upper = os.path.join(container_dir(stage.store, cid), "upper")
        _scrub(upper, lowers, stage.dirs, config.get("User") or "",
               list(config.get("Volumes") or {}))
        yield upper
    finally:
        lifecycle.remove(stage.store, cid, force=True, volumes=True)


@contextlib.contextmanager
def _stdout_away(quiet: bool):
    """With -q the command's output is not the build's (its stdout is the
    image id alone, for ``ID=$(minirun build -q .)``): the container's
    stdout, which is ours in the foreground, goes to /dev/null meanwhile;
    its stderr stays, to say why a step failed."""
    if not quiet:
        yield
        return
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _network(ins, options, where: str) -> str:
    mode = ins.flag("network") or options.network
    if mode in (None, "default"):
        return "private"        # the default network, as `run` and podman build have it
    if mode not in ("none", "host", "private", "bridge", "slirp4netns", "pasta"):
        raise BuildError(f"{where}: --network={mode}: use none, host or private")
    return mode


def _cache_mounts(store, ins, where: str) -> list[str]:
    out = []
    for text in ins.flags.get("mount", []):
        fields = dict(f.partition("=")[::2] for f in text.split(","))
        if fields.get("type") != "cache" or not fields.get("target", fields.get("dst")):
            raise BuildError(f"{where}: --mount={text}: minirun mounts "
                             "type=cache,target=DIR[,id=NAME] in a RUN")
        target = fields.get("target") or fields.get("dst")
        name = hashlib.sha256((fields.get("id") or target).encode()).hexdigest()[:32]
        directory = os.path.join(store.root, "build-cache-mounts", name)
        os.makedirs(directory, exist_ok=True)
        out.append(f"{directory}:{target}")
    return out


def _own_workdirs(upper: str, lowers: list[str], dirs: list[str], user: str) -> None:
    """The WORKDIR directories (and parents) the runtime made: the user's."""
    from minirun.engine.build import copying
    from minirun.engine.images.rootfs import Rootfs
    rootfs = Rootfs(lowers)
    uid, gid = copying.user_ids(user, rootfs)
    for directory in dirs:
        parts = [p for p in directory.split("/") if p]
        for n in range(1, len(parts) + 1):
            rel = "/".join(parts[:n])
            if rootfs.entry(rel) is None and os.path.isdir(os.path.join(upper, rel)):
                os.lchown(os.path.join(upper, rel), uid, gid)


def _lowers(store, image: str) -> list[str]:
    return [store.layer_dir(d) for d, _ in store.image_layers(image)]


def _scrub(upper: str, lowers: list[str], dirs: list[str], user: str,
           volumes: list[str]) -> None:
    """Make ``upper`` the RUN's layer: without the mount points the image
    lacks (if empty), without what it wrote under a VOLUME (Docker's rule:
    a volume's contents are the image's as they were when it was
    declared), and with the WORKDIR directories the runtime made for it
    (``dirs``) owned by the RUN's ``user``, as buildah makes them."""
    from minirun.engine import userns
    args = (upper, lowers, dirs, user, volumes)
    if userns.needed():
        userns.as_root(_scrub_here, *args)
    else:
        _scrub_here(*args)


def _scrub_here(upper: str, lowers: list[str], dirs: list[str], user: str,
                volumes: list[str]) -> None:
    from minirun.engine.store import remove_tree
    for volume in volumes:
        path = os.path.join(upper, volume.strip("/"))
        if volume.strip("/") and os.path.lexists(path):
            remove_tree(path) if os.path.isdir(path) and not os.path.islink(path) \
                else os.unlink(path)
    _own_workdirs(upper, lowers, dirs, user)
    for rel in layerdiff.MOUNT_POINTS:
        path = os.path.join(upper, rel)
        if not os.path.lexists(path) or any(os.path.lexists(os.path.join(layer, rel))
                                            for layer in lowers):
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)          # (only an empty one: a command's files stay)
            elif os.path.getsize(path) == 0:
                os.unlink(path)
        except OSError:
            pass
        parent = os.path.dirname(path)
        while parent != upper and not any(os.path.lexists(os.path.join(
                layer, os.path.relpath(parent, upper))) for layer in lowers):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
