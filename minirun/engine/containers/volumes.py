"""Named volumes: directories the store keeps apart from any container,
mounted with ``-v NAME:/path``.  An empty volume mounted for the first time
is filled with what the image has at that path (podman's copy-up), merged
from the image's layers as overlay would show it.

    <store>/volumes/<name>/_data
"""
import json
import os
import stat
import time

from minirun.engine.store import check_name
from minirun.engine.store import Store
from minirun.errors import MiniRunError

# -v options minirun knows: read-only or not, and SELinux relabelling (z, Z),
# which has nothing to do on a host without SELinux, as podman there
OPTIONS = ("ro", "rw", "z", "Z")


class VolumeError(MiniRunError):
    """A volume is unknown, in use, or badly named."""


class NoSuchVolume(VolumeError):
    """No volume by that name: `minirun volume ls` lists them."""


def volume_dir(store: Store) -> str:
    """Where the store keeps volumes: NAME/_data is what a container sees."""
    return os.path.join(store.root, "volumes")


def _dir(store: Store, name: str) -> str:
    return os.path.join(volume_dir(store), name)


def _ensure_table(store: Store) -> bool:
    """Whether the volumes table is there, made if the store can be written
    (one opened read-only on a full disk cannot)."""
    if store.read_only:
        return store.db.execute("SELECT 1 FROM sqlite_master WHERE name='volumes'"
                                ).fetchone() is not None
    store.db.execute("CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, "
                     "created TEXT, populated INTEGER DEFAULT 0, labels TEXT)")
    return True


def create(store: Store, name: str | None = None, labels: dict | None = None,
           exist_ok: bool = False) -> str:
    _ensure_table(store)
    name = name or os.urandom(16).hex()
    check_name(name, "volume")
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone():
            if exist_ok:
                return name
            raise VolumeError(f"volume `{name}` exists already")
        os.makedirs(os.path.join(_dir(store, name), "_data"), mode=0o755)
        db.execute("INSERT INTO volumes (name, created, labels) VALUES (?, ?, ?)",
                   (name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    json.dumps(labels or {})))
    from minirun.engine import events
    events.emit(store.root, "volume", "create", name=name)
    return name


def listing(store: Store) -> list[dict]:
    if not _ensure_table(store):
        return []
    return [{"Name": n, "Driver": "local", "Mountpoint": os.path.join(_dir(store, n), "_data"),
             "CreatedAt": c, "Labels": json.loads(lab or "{}"), "Scope": "local",
             "Options": {}, "MountCount": 0, "NeedsCopyUp": True, "NeedsChown": True}
            for n, c, lab in store.db.execute(
                "SELECT name, created, labels FROM volumes ORDER BY name")]


def exists(store: Store, name: str) -> bool:
    return _ensure_table(store) and store.db.execute(
        "SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone() is not None


def inspect(store: Store, name: str) -> dict:
    for v in listing(store):
        if v["Name"] == name:
            return v
    raise NoSuchVolume(f"no volume `{name}` (minirun volume ls lists them)")


def users(store: Store, name: str) -> list[str]:
    out = []
    for cname, options in store.db.execute("SELECT name, options FROM containers"):
        opts = json.loads(options or "{}")
        names = [v.split(":", 1)[0] for v in opts.get("volumes") or []]
        names += list((opts.get("anonymous_volumes") or {}).values())
        names += [f.partition("source=")[2].split(",")[0] for f in opts.get("mounts") or []
                  if "type=volume" in f]
        if name in names:
            out.append(cname)
    return out


def remove(store: Store, name: str, force: bool = False, remove_container=None) -> None:
    """Remove a volume; one in use only with ``force``, and then its
    containers go first, through ``remove_container(store, name)`` (as
    podman's volume rm -f)."""
    inspect(store, name)
    used = users(store, name)
    if used and not force:
        raise VolumeError(f"volume `{name}` is used by container(s) {', '.join(used)}: "
                          "remove them first or use -f", exit_code=2)     # podman's 2
    for container in used if remove_container else ():
        remove_container(store, container)
    with store.transaction() as db:
        db.execute("DELETE FROM volumes WHERE name=?", (name,))
    from minirun.engine import events, userns
    userns.remove_tree(_dir(store, name))
    events.emit(store.root, "volume", "remove", name=name)


def remove_anonymous(store: Store, rec: dict) -> None:
    """The anonymous volumes of a container removed (``rm -v``, ``--rm``):
    made for it alone (``-v /DEST``, an image's VOLUME), they go with it,
    as podman's do; a named volume stays."""
    for name in (rec["options"].get("anonymous_volumes") or {}).values():
        try:
            remove(store, name, force=True)
        except MiniRunError:
            pass


def prune(store: Store) -> list[str]:
    gone = []
    for v in listing(store):
        if not users(store, v["Name"]):
            remove(store, v["Name"])
            gone.append(v["Name"])
    return gone


def parse_spec(spec: str) -> tuple[str, str, bool]:
    """``-v SOURCE:DEST[:OPTIONS]`` -> (source, dest, read-only), refused
    with podman's words where any part is wrong; a source that is not a path
    is a volume's name, checked as one.  ``-v /DEST`` alone is an anonymous
    volume (source ""), as podman makes one."""
    if spec.startswith("/") and ":" not in spec:
        return "", spec, False
    parts = spec.split(":")
    src, dest = parts[0], parts[1] if len(parts) > 1 else ""
    options = parts[2].split(",") if len(parts) > 2 else []
    if len(parts) > 3:
        raise VolumeError(f"-v {spec}: incorrect volume format, should be "
                          "SOURCE:CONTAINER-DIR[:OPTIONS]")
    if not src:
        raise VolumeError(f"-v {spec}: host directory cannot be empty")
    if not dest:
        raise VolumeError(f"-v {spec}: container directory cannot be empty")
    if not dest.startswith("/"):
        raise VolumeError(f"-v {spec}: give SOURCE:CONTAINER-DIR[:ro], the container path "
                          "absolute")
    for option in options:
        if option not in OPTIONS:
            raise VolumeError(f"-v {spec}: invalid option type {option!r} (minirun knows "
                              f"{', '.join(OPTIONS)})")
    if "ro" in options and "rw" in options or len(options) != len(set(options)):
        raise VolumeError(f"-v {spec}: invalid options {', '.join(options)!r}, can only "
                          "specify 1 'rw' or 'ro' option")
    if not src.startswith("/"):
        check_name(src, "volume")
    return src, dest, "ro" in options


def mount_source(store: Store, name: str, layers: list[str], dest: str) -> str:
    """The host directory for `-v NAME:DEST`, made (and filled) on first use."""
    create(store, name, exist_ok=True)
    data = os.path.join(_dir(store, name), "_data")
    row = store.db.execute("SELECT populated FROM volumes WHERE name=?", (name,)).fetchone()
    if not row[0]:
        if not os.listdir(data):
            from minirun.engine import userns
            if userns.needed():   # the image's files belong to subordinate ids
                userns.as_root(copy_up, layers, dest, data)
            else:
                copy_up(layers, dest, data)
        with store.transaction() as db:
            db.execute("UPDATE volumes SET populated=1 WHERE name=?", (name,))
    return data


def copy_up(layers: list[str], dest: str, target: str) -> None:
    """What the image shows at ``dest`` (layers top first), into ``target``:
    lower layers first, whiteouts delete, an opaque directory starts over."""
    rel = dest.strip("/")
    for layer in reversed(layers):
        src = os.path.join(layer, rel)
        if not os.path.isdir(src) or os.path.islink(src):
            continue
        if _opaque(src):
            for name in os.listdir(target):
                _remove(os.path.join(target, name))
        _merge(src, target)


def _opaque(path: str) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def _remove(path: str) -> None:
    import shutil
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _merge(src: str, dst: str) -> None:
    import shutil
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        est = entry.stat(follow_symlinks=False)
        if stat.S_ISCHR(est.st_mode) and est.st_rdev == 0:   # a whiteout
            _remove(d)
        elif entry.is_dir(follow_symlinks=False):
            if _opaque(s):
                _remove(d)
            if not os.path.isdir(d) or os.path.islink(d):
                _remove(d)
                os.mkdir(d)
            _merge(s, d)
        else:
            _remove(d)
            if entry.is_symlink():
                os.symlink(os.readlink(s), d)
            else:
                shutil.copy2(s, d, follow_symlinks=False)
            os.chown(d, est.st_uid, est.st_gid, follow_symlinks=False)
