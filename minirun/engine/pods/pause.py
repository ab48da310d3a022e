"""The pause image: what a pod's infra container runs.  podman builds
``localhost/podman-pause`` from the host's catatonit the first time a pod
needs it; so does this, as ``localhost/minirun-pause:VERSION``: one layer
holding catatonit (a static binary) and the directories the runtime
mounts on.  ``catatonit -P`` only waits, reaping, and holds the pod's
namespaces while it lives."""
import io
import os
import tarfile
import tempfile

from minirun import __version__
from minirun.engine.pods.records import PodError
from minirun.engine.store import ImageNotFound, Store

IMAGE = f"localhost/minirun-pause:{__version__}"
COMMAND = ("/catatonit", "-P")


def ensure(store: Store) -> str:
    """The pause image's name, imported into the store if it is not there."""
    try:
        store.lookup(IMAGE)
        return IMAGE
    except ImageNotFound:
        pass
    import shutil
    catatonit = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
    if not os.path.isfile(catatonit):
        raise PodError("a pod's infra container runs catatonit, which is not installed "
                       "(apt-get install catatonit), or make the pod with --no-infra")
    from minirun.engine.images import service
    with tempfile.TemporaryDirectory(prefix="minirun-pause-") as d:
        os.chmod(d, 0o755)        # (rootless, the store's user namespace reads it as root)
        path = os.path.join(d, "rootfs.tar")
        _write_layer(path, catatonit)
        os.chmod(path, 0o644)
        service.import_rootfs(store.root, path, IMAGE)
    return IMAGE


def _write_layer(path: str, catatonit: str) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("dev", "etc", "proc", "sys", "run", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        with open(catatonit, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("catatonit")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
