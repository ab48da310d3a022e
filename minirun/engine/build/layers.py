"""COPY and ADD as a build step: what to copy (``plan``: decided and
digested before anything is written, so the cache can answer first),
then the layer tar (``write``: copying.py's rules), written as root of the
store's user namespace for a plain user, where another stage's files
and the image's /etc/passwd can be read whatever their owners.
"""
import fnmatch
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

from minirun.engine.build import BuildError, copying
from minirun.engine.build import containerfile as cf
from minirun.engine.images.rootfs import Rootfs


@dataclass(frozen=True)
class Plan:
    word: str                   # COPY or ADD
    words: tuple                # the source words, expanded
    dest: str                   # absolute, in the image
    origin: str | None          # None: the context; else an image id (--from)
    chown: str | None
    chmod: str | None
    digest: str                 # what the sources hold (the context's files, or the image)
    where: str
    inline: tuple = ()          # heredocs: (file name, text)

    def describe(self) -> list:
        return [self.word, list(self.words), self.dest, self.origin, self.chown, self.chmod,
                self.digest]

    def summary(self) -> str:
        kind = "file" if self.origin is None else "from"
        return f"{kind}:{self.digest.split(':')[-1]} in {self.dest} "


def plan(stage, ins, where: str) -> Plan:
    env = stage.env()
    words = json.loads(ins.text) if ins.is_json() else cf.words(ins.text, env, where)
    if len(words) < 2:
        raise BuildError(f"{where}: {ins.word} needs a source and a destination")
    *sources, dest = words
    if any(s.startswith(("http://", "https://")) for s in sources):
        raise BuildError(f"{where}: minirun does not download in ADD; fetch the file in a "
                         "RUN (wget) or put it in the context")
    if not dest.startswith("/"):
        dest = os.path.join(stage.config.get("WorkingDir") or "/", dest) + \
            ("/" if dest.endswith("/") or dest in (".", "./") else "")
    origin = _origin(stage, ins.flag("from"), where)
    copying.mode(ins.flag("chmod"), where)          # checked now, used when writing
    if ins.heredocs:            # COPY <<EOF /etc/motd: each heredoc a file of its name
        inline = tuple(ins.heredocs)
        digest = "sha256:" + hashlib.sha256(json.dumps(inline).encode()).hexdigest()
        return Plan(ins.word, (), dest, None, ins.flag("chown"), ins.flag("chmod"), digest,
                    where, inline)
    if origin is None:
        rels = stage.context.sources(sources, where)
        digest = stage.context.digest(rels)
        words = tuple(rels)
    else:
        digest, words = origin, tuple(sources)
    return Plan(ins.word, words, dest, origin, ins.flag("chown"), ins.flag("chmod"), digest,
                where)


def _origin(stage, ref: str | None, where: str) -> str | None:
    """--from: a stage's image (by name or number), else an image's, pulled."""
    if ref is None:
        return None
    if ref.lower() in stage.built:
        return stage.built[ref.lower()]
    if ref.isdigit():
        raise BuildError(f"{where}: --from={ref}: no stage {ref} before this one")
    from minirun.engine.containers.create import ensure_image
    ensure_image(stage.root, ref, stage.options.pull, store=stage.store)
    return stage.store.lookup(ref)


def write(stage, tar: str, p: Plan, dirs: list[str]) -> None:
    """The layer of ``p`` (and the WORKDIR directories ``dirs``) at ``tar``."""
    from minirun.engine import userns
    store = stage.store
    lowers = [store.layer_dir(d) for d, _ in store.image_layers(stage.image)] \
        if stage.image else []
    origin = [store.layer_dir(d) for d, _ in store.image_layers(p.origin)] if p.origin else []
    args = (tar, p, dirs, lowers, origin, stage.context)
    if userns.needed():
        userns.as_root(_write, *args)
    else:
        _write(*args)


def _write(tar: str, p: Plan, dirs: list[str], lowers: list[str], origin: list[str],
           context) -> None:
    rootfs = Rootfs(lowers)
    if p.inline:
        with tempfile.TemporaryDirectory(prefix="minirun-heredoc-") as tmp:
            sources = []
            for name, text in p.inline:
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write(text)
                os.chmod(path, 0o644)
                sources.append(copying.Source(name, lambda path=path: [
                    ("", path, os.lstat(path))]))
            copying.write_layer(tar, sources, p.dest, rootfs, unpack=False, where=p.where,
                                ids=copying.owner(p.chown, rootfs, p.where), dirs=dirs,
                                perms=copying.mode(p.chmod, p.where))
        return
    if p.origin is None:
        sources = [copying.Source(os.path.basename(rel) if rel != "." else "",
                                  _context_walk(context, rel)) for rel in p.words]
    else:
        sources = _image_sources(Rootfs(origin), p.words, p.where)
    copying.write_layer(tar, sources, p.dest, rootfs, ids=copying.owner(p.chown, rootfs, p.where),
                        perms=copying.mode(p.chmod, p.where), unpack=p.word == "ADD",
                        where=p.where, dirs=dirs)


def _context_walk(context, rel: str):
    def entries():
        for path, full, st in context.walk(rel):
            inner = "" if path == rel else os.path.relpath(path, rel)
            yield inner, full, st
    return entries


def _image_sources(image: Rootfs, words, where: str) -> list:
    out = []
    for word in words:
        matches = [word]
        if any(c in word for c in "*?["):
            parent = image.resolve(os.path.dirname(word) or "/")
            matches = [os.path.join(parent, n) for n in image.listdir(parent)
                       if fnmatch.fnmatchcase(n, os.path.basename(word))]
        for path in matches:        # (a link is followed, and named as the link)
            target = image.resolve(path, follow_last=True)
            if image.entry(target) is None:
                raise BuildError(f"{where}: --from: {word} is not in that image")
            out.append(copying.Source(os.path.basename(path.rstrip("/")),
                                      _image_walk(image, target)))
    if not out:
        raise BuildError(f"{where}: --from: nothing matches {' '.join(words)}")
    return out


def _image_walk(image: Rootfs, top: str):
    def entries():
        for path, full, st in image.walk(top):
            yield ("" if path == top else os.path.relpath(path, top)), full, st
    return entries
