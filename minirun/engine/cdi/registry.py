"""The CDI registry: every device the host's specs name, and the edits a
container asking for some of them gets.

Spec directories are read in priority order, lowest first: /etc/cdi, then
/var/run/cdi, then, for a plain user, $XDG_CONFIG_HOME/cdi (default
~/.config/cdi).  An argument, or MINIRUN_CDI_DIRS (colon-separated, for
tests), replaces the list.  In each directory the ``.json`` and ``.yaml``
files are read in name order (subdirectories are not entered).  Specs made
in memory (one generated for this host where no file exists) come below
every directory.

- A device named by specs in two directories is the higher one's: an
  administrator overrides a vendor's file by writing one in a later
  directory.  Named twice at the same priority it is a conflict, and asking
  for it is an error naming both files.
- A file that cannot be read or breaks the specification does not stop a
  container that uses none of its devices: its error is kept (``errors``)
  and a container asking for a device it names, or one no readable spec
  names while a broken file of that kind exists, gets that file's error.  A
  broken file at a higher priority is not bypassed for a lower readable one:
  the administrator meant it to win.
- ``resolve(names)`` merges, as the reference library's InjectDevices does,
  each spec's top-level edits (once, the first time one of its devices is
  asked for) and each device's own.  A device asked for twice counts once.
  It checks what must be on this host: a device none of whose own nodes
  exists (the GPU that is not there) is an error, as are a mount source or a
  hook binary that does not exist (runc would fail the container later, less
  clearly).  ``=all`` is the spec's to define; nothing here invents it.

See: pkg/cdi/cache.go and spec-dirs.go in the reference library.
"""
import os

from minirun.engine.cdi import names, spec as spec_mod
from minirun.engine.cdi.edits import filled, merge
from minirun.engine.cdi.names import CDIError
from minirun.records import record

SYSTEM_DIRS = ("/etc/cdi", "/var/run/cdi")


def default_dirs() -> list[str]:
    """The spec directories, lowest priority first (see the docstring)."""
    listed = os.environ.get("MINIRUN_CDI_DIRS")
    if listed is not None:
        return [d for d in listed.split(":") if d]
    dirs = list(SYSTEM_DIRS)
    if os.geteuid() != 0:
        config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        dirs.append(os.path.join(config, "cdi"))
    return dirs


@record
class Broken:
    """A spec file that failed to load, with what could be read of it."""
    path: str
    priority: int
    error: str
    kind: str = ""
    devices: tuple = ()


def spec_files(directory: str) -> list[str]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise CDIError(f"CDI spec directory `{directory}`: {e.strerror}") from None
    return [e.path for e in entries if e.name.endswith((".json", ".yaml"))
            and not e.is_dir()]


def _salvage(path: str) -> tuple[str, tuple]:
    """The kind and device names of a broken file, where they can be read."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = spec_mod.decode(f.read(), path)
        kind = raw.get("kind") if isinstance(raw.get("kind"), str) else ""
        devices = tuple(d.get("name") for d in raw.get("devices") or ()
                        if isinstance(d, dict) and isinstance(d.get("name"), str))
        return kind, devices
    except (OSError, UnicodeDecodeError, CDIError, AttributeError, TypeError):
        return "", ()


class Registry:
    """The devices of the specs in ``dirs`` (default_dirs() when None) and
    of ``specs`` (Spec records made in memory, lowest priority)."""

    def __init__(self, dirs=None, specs=()):
        self.dirs = default_dirs() if dirs is None else list(dirs)
        self.broken: list[Broken] = []
        self._named: dict[str, tuple[int, list]] = {}   # name -> (priority, [(spec, device)])
        for spec in specs:
            self._add(spec, -1)
        for priority, directory in enumerate(self.dirs):
            for path in spec_files(directory):
                try:
                    self._add(spec_mod.load(path), priority)
                except CDIError as e:
                    self.broken.append(Broken(path, priority, str(e), *_salvage(path)))

    def _add(self, spec, priority: int) -> None:
        for device in spec.devices:
            name = names.qualified(spec.vendor, spec.cls, device.name)
            best, found = self._named.get(name, (priority, []))
            if priority > best:
                found = []
            if priority >= best:
                self._named[name] = (priority, found + [(spec, device)])

    @property
    def errors(self) -> dict[str, str]:
        """Each spec file that failed to load -> its error."""
        return {b.path: b.error for b in self.broken}

    def names(self) -> list[str]:
        """Every qualified device name the readable specs define, sorted."""
        return sorted(self._named)

    def lookup(self, name: str):
        """(spec, device) for a qualified name; CDIError saying why not."""
        vendor, cls, device = names.parse_qualified(name)
        priority, found = self._named.get(name, (-2, []))
        for b in self.broken:
            if b.kind == f"{vendor}/{cls}" and device in b.devices and b.priority >= priority:
                raise CDIError(f"CDI device {name}: {b.error}")
        if len(found) > 1:
            files = " and ".join(f"`{s.source}`" for s, _ in found)
            raise CDIError(f"CDI device {name} is defined in both {files}, at the "
                           "same priority: remove one of them")
        if not found:
            raise CDIError(self._unresolved(name, f"{vendor}/{cls}"))
        return found[0]

    def _unresolved(self, name: str, kind: str) -> str:
        why = [b for b in self.broken if b.kind in (kind, "")]
        if why:
            return f"unresolvable CDI device {name}: {why[0].error}"
        known = [n for n in self._named if n.startswith(kind + "=")]
        if known:
            return (f"unresolvable CDI device {name}: the {kind} devices are "
                    f"{', '.join(sorted(known))}")
        return (f"unresolvable CDI device {name}: no CDI spec in "
                f"{', '.join(self.dirs) or '(no directory)'} defines the kind {kind}")

    def resolve(self, requested, native_hooks=()) -> spec_mod.Edits:
        """The merged edits that give a container the ``requested`` devices.
        ``native_hooks``: hook binaries (base names) the runtime does itself,
        so they need not exist on the host."""
        parts, specs = [], set()
        for name in dict.fromkeys(requested):
            spec, device = self.lookup(name)
            if spec.source not in specs:
                specs.add(spec.source)
                check_host(spec.edits, f"CDI spec `{spec.source}`", native_hooks)
                parts.append(spec.edits)
            check_host(device.edits, f"CDI device {name} (`{spec.source}`)", native_hooks)
            check_present(device.edits, f"CDI device {name} (`{spec.source}`)")
            parts.append(device.edits)
        return merge(parts)


def check_present(edits, what: str) -> None:
    """CDIError when a device has nodes and none of them is on this host."""
    nodes = edits.device_nodes
    if nodes and all(filled(n) is None for n in nodes):
        paths = ", ".join(n.host_path or n.path for n in nodes)
        raise CDIError(f"{what}: its device node {paths} does not exist on this "
                       "host: is the device there and its driver loaded?")


def check_host(edits, what: str, native_hooks=()) -> None:
    """CDIError when a mount source or a hook binary is missing."""
    for m in edits.mounts:
        if m.host_path.startswith("/") and not os.path.lexists(m.host_path):
            raise CDIError(f"{what}: the mount source {m.host_path} (for "
                           f"{m.container_path}) does not exist on this host")
    for h in edits.hooks:
        if os.path.basename(h.path) in native_hooks:
            continue
        if not h.path.startswith("/"):
            raise CDIError(f"{what}: the {h.hook_name} hook {h.path!r} is not an absolute path")
        if not os.path.exists(h.path):
            raise CDIError(f"{what}: the {h.hook_name} hook {h.path} does not exist on this host")
