"""Secrets (podman's `secret` and `run --secret`): bytes kept in the store
(``secrets/ID``, mode 0600, never in a layer, a log or `inspect`), given
to a container at run time as a file under /run/secrets (``type=mount``,
the default: a read-only bind of the secret's own copy, owner and mode as
asked) or as an environment variable (``type=env``).
"""
import json
import os
import stat

from minirun.engine.containers.records import ContainerError
from minirun.engine.store import Store, check_name, now

MAX = 512 * 1024            # podman's limit on a secret's size


class SecretError(ContainerError):
    """A secret is unknown, taken, too big, or asked for wrongly."""


def _ensure_table(store: Store) -> None:
    store.db.execute("CREATE TABLE IF NOT EXISTS secrets (id TEXT PRIMARY KEY, "
                     "name TEXT UNIQUE, created TEXT, labels TEXT)")


def _dir(store: Store) -> str:
    return os.path.join(store.root, "secrets")


def create(store: Store, name: str, data: bytes, labels: dict | None = None,
           replace: bool = False) -> str:
    """Keep ``data`` as secret ``name``; its id."""
    check_name(name, "secret")
    if not data:
        raise SecretError(f"secret {name}: no data (an empty file or input)")
    if len(data) > MAX:
        raise SecretError(f"secret {name}: {len(data)} bytes is more than {MAX}")
    _ensure_table(store)
    if replace:
        try:
            remove(store, name)
        except SecretError:
            pass
    sid = os.urandom(12).hex()
    os.makedirs(_dir(store), mode=0o700, exist_ok=True)
    path = os.path.join(_dir(store), sid)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        with store.transaction() as db:
            if db.execute("SELECT 1 FROM secrets WHERE name=?", (name,)).fetchone():
                raise SecretError(f"secret `{name}` exists already: remove it, or "
                                  "create it with --replace")
            db.execute("INSERT INTO secrets (id, name, created, labels) VALUES (?, ?, ?, ?)",
                       (sid, name, now(), json.dumps(labels or {})))
    except BaseException:
        os.unlink(path)
        raise
    return sid


def listing(store: Store) -> list[dict]:
    _ensure_table(store)
    return [{"ID": sid, "CreatedAt": created, "UpdatedAt": created,
             "Spec": {"Name": name, "Driver": {"Name": "file", "Options": {
                 "path": _dir(store)}}, "Labels": json.loads(labels or "{}")}}
            for sid, name, created, labels in store.db.execute(
                "SELECT id, name, created, labels FROM secrets ORDER BY created")]


def find(store: Store, text: str) -> dict:
    for s in listing(store):
        if text in (s["ID"], s["Spec"]["Name"]) or (len(text) >= 3 and s["ID"].startswith(text)):
            return s
    raise SecretError(f"no secret `{text}` (minirun secret ls lists them)")


def remove(store: Store, text: str) -> str:
    s = find(store, text)
    with store.transaction() as db:
        db.execute("DELETE FROM secrets WHERE id=?", (s["ID"],))
    try:
        os.unlink(os.path.join(_dir(store), s["ID"]))
    except FileNotFoundError:
        pass
    return s["ID"]


def parse(text: str) -> dict:
    """--secret NAME[,type=mount|env][,target=T][,uid=U][,gid=G][,mode=M]."""
    name, *rest = text.split(",")
    out = {"name": name, "type": "mount", "target": "", "uid": 0, "gid": 0, "mode": 0o444}
    for part in rest:
        key, sep, value = part.partition("=")
        if not sep or key not in out or key == "name":
            raise SecretError(f"--secret {text}: NAME[,type=mount|env][,target=T]"
                              "[,uid=U][,gid=G][,mode=M]")
        if key in ("uid", "gid", "mode"):
            try:
                value = int(value, 8 if key == "mode" else 10)
            except ValueError:
                raise SecretError(f"--secret {text}: {key} is a number") from None
        out[key] = value
    if out["type"] not in ("mount", "env"):
        raise SecretError(f"--secret {text}: type is mount or env")
    return out


def apply(store: Store, config: dict, asked: list[dict], directory: str) -> None:
    """The secrets into a container being made: a copy of each mounted one
    in its directory (its owner and mode as asked), bound read-only; each
    env one as a variable."""
    for n, a in enumerate(asked):
        s = find(store, a["name"])
        with open(os.path.join(_dir(store), s["ID"]), "rb") as f:
            data = f.read()
        if a["type"] == "env":
            key = a["target"] or a["name"]
            config["process"]["env"] = [e for e in config["process"]["env"]
                                        if e.partition("=")[0] != key] + \
                [f"{key}={data.decode(errors='replace')}"]
            continue
        target = a["target"] or a["name"]
        dest = target if target.startswith("/") else f"/run/secrets/{target}"
        copies = os.path.join(directory, "secrets")
        os.makedirs(copies, mode=0o700, exist_ok=True)
        copy = os.path.join(copies, f"{n}-{s['ID']}")      # one per mount: its own mode
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(copy, stat.S_IMODE(a["mode"]))
        if os.geteuid() == 0:
            os.chown(copy, a["uid"], a["gid"])
        elif a["uid"] or a["gid"]:
            raise SecretError(f"--secret {a['name']}: a plain user's secret files are root's "
                              "in the container (uid and gid 0); other owners need root")
        config["mounts"].append({"destination": dest, "type": "bind", "source": copy,
                                 "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
