"""Where registries and credentials are configured: the same files podman
and skopeo read, so that one file serves all three tools.

- registries.conf (v2, TOML): ``unqualified-search-registries`` for short
  names, and ``[[registry]]`` tables with ``location``/``prefix``,
  ``insecure`` (plain HTTP or an unverified certificate) and ``blocked``.
- auth.json: ``{"auths": {"registry[/path]": {"auth": base64("user:pass")}}}``
  in ``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
  ``~/.config/containers/auth.json`` or ``~/.docker/config.json``.

See: containers-registries.conf(5), containers-auth.json(5)
"""
import base64
import glob
import json
import os
import tomllib

from minirun.errors import MiniRunError
from minirun.records import record


class RegistryConfigError(MiniRunError):
    """registries.conf or auth.json cannot be read: fix the file named."""


@record
class Registry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False


@record
class Config:
    search: tuple[str, ...]
    registries: tuple[Registry, ...]
    files: tuple[str, ...]

    def find(self, name: str) -> Registry | None:
        """The [[registry]] table whose prefix matches ``name`` longest."""
        best = None
        for r in self.registries:
            p = r.prefix
            if name == p or name.startswith(p + "/") or (p.startswith("*.") and
                                                          name.split("/")[0].endswith(p[1:])):
                if best is None or len(p) > len(best.prefix):
                    best = r
        return best

    def insecure(self, name: str) -> bool:
        r = self.find(name)
        return bool(r and r.insecure)


def _user() -> tuple[int, str]:
    """(uid, home) of the user who ran minirun: inside the store's user
    namespace we are uid 0, but the files to read are still the user's."""
    from minirun.engine.userns import host_user
    return host_user()


def conf_files() -> list[str]:
    if os.environ.get("CONTAINERS_REGISTRIES_CONF"):
        return [os.environ["CONTAINERS_REGISTRIES_CONF"]]
    uid, home_dir = _user()
    home = os.path.join(home_dir, ".config/containers/registries.conf")
    if uid != 0 and os.path.exists(home):
        base = [home]
        dropins = sorted(glob.glob(os.path.join(home_dir,
                                                ".config/containers/registries.conf.d/*.conf")))
    else:
        base = ["/etc/containers/registries.conf"]
        dropins = sorted(glob.glob("/etc/containers/registries.conf.d/*.conf"))
    return [f for f in base if os.path.exists(f)] + dropins


def load(files: list[str] | None = None) -> Config:
    search: list[str] = []
    regs: dict[str, Registry] = {}
    files = conf_files() if files is None else files
    for path in files:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise RegistryConfigError(f"cannot read `{path}`: {e}") from None
        if "unqualified-search-registries" in doc:
            search = list(doc["unqualified-search-registries"])
        for i, r in enumerate(doc.get("registry", [])):
            location = r.get("location", "")
            prefix = r.get("prefix", location)
            if not prefix:
                raise RegistryConfigError(f"`{path}`: registry[{i}] has no location or prefix")
            regs[prefix] = Registry(prefix=prefix, location=location or prefix,
                                    insecure=bool(r.get("insecure", False)),
                                    blocked=bool(r.get("blocked", False)))
    return Config(search=tuple(search), registries=tuple(regs.values()), files=tuple(files))


# --- credentials ----------------------------------------------------------

def auth_files() -> list[str]:
    """Where credentials are looked for, first to last, as podman looks:
    the first is where login writes.  Decided for the real user, also
    inside the store's user namespace (where we are uid 0)."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [os.environ["REGISTRY_AUTH_FILE"]]
    uid, home = _user()
    files = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    elif uid == 0:
        files.append("/run/containers/0/auth.json")
    elif os.path.isdir(f"/run/user/{uid}"):     # (XDG_RUNTIME_DIR unset, as after su)
        files.append(f"/run/user/{uid}/containers/auth.json")
    files += [os.path.join(home, ".config/containers/auth.json"),
              os.path.join(home, ".docker/config.json")]
    return files


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise RegistryConfigError(f"cannot read credentials from `{path}`: {e}") from None
    return doc if isinstance(doc, dict) else {}


def credentials(name: str) -> tuple[str, str] | None:
    """(user, password) for the longest key matching ``registry/path``."""
    for path in auth_files():
        auths = _read(path).get("auths", {})
        keys = sorted((k for k in auths if name == k or name.startswith(k.rstrip("/") + "/")
                       or k.split("//")[-1].split("/")[0] == name.split("/")[0]),
                      key=len, reverse=True)
        for key in keys:
            entry = auths[key]
            if "auth" in entry:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, password
    return None


def store_credentials(registry: str, user: str, password: str) -> str:
    path = auth_files()[0]
    doc = _read(path)
    doc.setdefault("auths", {})[registry] = {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, doc)
    return path


def remove_credentials(registry: str | None) -> list[str]:
    """Forget one registry (or all with None); return the files changed."""
    changed = []
    for path in auth_files():
        doc = _read(path)
        auths = doc.get("auths", {})
        keys = list(auths) if registry is None else [k for k in auths if k == registry]
        if keys:
            for k in keys:
                del auths[k]
            _write(path, doc)
            changed.append(path)
    return changed


def _write(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)
