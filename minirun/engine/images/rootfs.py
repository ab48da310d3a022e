"""An image's root filesystem read without mounting it: its layer
directories looked at from the top one down, as overlayfs would.

A path is the top-most layer's entry for it, unless a layer above hides
it: a whiteout of it or of a parent (a 0:0 character device), an opaque
parent (everything below that directory is hidden), or a parent that is
not a directory there.  Symlinks are followed inside the image (an
absolute target is the image's root, ``..`` stops at it), so a path never
leads out to the host.

A build reads an image this way to copy from another stage
(``COPY --from``), to find where a destination really is (``/bin`` may be a
link to ``usr/bin``) and to read ``/etc/passwd`` for ``--chown=NAME``.  A
plain user's layer files belong to the store's user namespace: read them
as its root (engine/userns.as_root).

See: overlayfs documentation ("whiteouts and opaque directories")
"""
import os
import stat

from minirun.engine.images.layerdiff import is_opaque, is_whiteout

MAX_LINKS = 40          # as the kernel's path walk gives up (ELOOP)


class Rootfs:
    """The merged view of ``layers`` (directories, lowest first)."""

    def __init__(self, layers: list[str]):
        self.layers = list(reversed(layers))        # top first

    def entry(self, path: str) -> tuple[str, os.stat_result] | None:
        """(host path, lstat) of ``path`` as it is (a last symlink not
        followed), or None where the image has nothing there."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for layer in self.layers:
            found, hides = self._in_layer(layer, parts)
            if found is not None or hides:
                return found
        return None

    def _in_layer(self, layer: str, parts: list[str]):
        """(the layer's entry for ``parts`` or None, whether the layers
        below add nothing to it): a whiteout, a non-directory or an opaque
        directory on the way hides them; a directory found lets the lower
        ones add entries to it unless it, or a parent, is opaque."""
        here = layer
        for n, part in enumerate(parts):
            here = os.path.join(here, part)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                return None, False
            if is_whiteout(st):
                return None, True
            if n == len(parts) - 1:
                return (here, st), not stat.S_ISDIR(st.st_mode) or is_opaque(here)
            if not stat.S_ISDIR(st.st_mode):
                return None, True
            if is_opaque(here):
                return self._below(here, parts[n + 1:]), True
        return (layer, os.lstat(layer)), False

    @staticmethod
    def _below(directory: str, rest: list[str]):
        full = os.path.join(directory, *rest)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return None
        return None if is_whiteout(st) else (full, st)

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """``path`` with every symlink on it followed inside the image: an
        absolute path in the image (which may not exist)."""
        todo = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                done = done[:-1]
                continue
            found = self.entry("/".join(done + [part]))
            if found and stat.S_ISLNK(found[1].st_mode) and (todo or follow_last):
                links += 1
                if links > MAX_LINKS:
                    raise OSError(40, "Too many levels of symbolic links", path)
                target = os.readlink(found[0])
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            done.append(part)
        return "/" + "/".join(done)

    def listdir(self, path: str) -> list[str]:
        """The names in directory ``path`` (already resolved), sorted."""
        names: set[str] = set()
        hidden: set[str] = set()
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for layer in self.layers:
            found, hides = self._in_layer(layer, parts)
            if found is not None:
                if not stat.S_ISDIR(found[1].st_mode):
                    break
                for name in os.listdir(found[0]):
                    if name not in names and name not in hidden:
                        whiteout = is_whiteout(os.lstat(os.path.join(found[0], name)))
                        (hidden if whiteout else names).add(name)
            if hides:
                break
        return sorted(names)

    def walk(self, path: str):
        """(path in the image, host path, lstat) of ``path`` and, for a
        directory, everything under it; parents first, names sorted."""
        found = self.entry(path)
        if found is None:
            return
        yield path, found[0], found[1]
        if stat.S_ISDIR(found[1].st_mode):
            for name in self.listdir(path):
                yield from self.walk(path.rstrip("/") + "/" + name)

    def read(self, path: str) -> bytes | None:
        """A small file's bytes (``/etc/passwd``), symlinks followed; None if absent."""
        found = self.entry(self.resolve(path))
        if found is None or not stat.S_ISREG(found[1].st_mode):
            return None
        with open(found[0], "rb") as f:
            return f.read()
