"""The build context: the directory `minirun build CONTEXT` reads, and the
only place COPY and ADD take files from.

Three questions are asked of it, and this module answers each the way
buildah 1.28 (podman build) does, which is docker's way with a few quirks
noted below:

1. What is left out?  An ignore file lists patterns, one a line:

       # a comment (only where the line begins with #)
       *.log           excluded: what matches, and everything below it
       build/          the same as `build` (each pattern is cleaned)
       /secrets        the same as `secrets`: patterns start at the root
       **/cache        `**` spans any number of directories, none included
       !build/keep     re-included: a later line wins over an earlier one

   The file is the first that exists of ``<containerfile>.dockerignore``,
   ``<containerfile>.containerignore`` (next to the Containerfile: found so
   by trying buildah 1.28, which reads them in that order, the opposite of
   the next two), ``CONTEXT/.containerignore``, ``CONTEXT/.dockerignore``.
   Only one file is read.  An excluded directory is still read when a `!`
   line could match below it, and given (as the parent buildah makes)
   only if something below is.

2. Which paths does a COPY word name?  ``src/*.c`` is matched one path
   component at a time with Go's filepath.Match (``*``, ``?``, ``[a-z]``,
   ``[^a]``, ``\\*``); a leading ``/`` is the context's root.  A word
   that climbs out (``../x``) is refused.

3. What do those paths hold?  :meth:`Context.walk` lists a source and all
   that lies below it, and :meth:`Context.digest` hashes that list: the
   build cache's key for a COPY.

Symbolic links.  A link a COPY word names (or passes through: ``lnk/f``)
is followed, and followed inside the context, as buildah does: its target
is read as if the context were ``/``, so ``lnk -> /etc/x`` means
``CONTEXT/etc/x``.  ``COPY lnk /d/`` copies the target under the link's
name (a directory's contents, as for any directory).  A target that
climbs above the root is refused, and so is one that is not there.  Links
found below a copied directory are copied as links, unfollowed.  A link
a COPY word names is left out if the ignore file excludes the link or its
target; what lies below a linked directory is tested by its own names
(``dir/sub``, not ``lnk/sub``), as buildah does.

Where minirun differs from buildah 1.28, on purpose: buildah looks for a
relative -f's own ignore file under the context, not the working directory
(minirun reads the path it is given); it reads `../x` and a link to
`../x` as `x` (minirun refuses both); and `COPY lnk` of a link to an
excluded directory copies nothing without a word (minirun says so).  Like
buildah, and unlike docker, `! x` (a blank after `!`) re-includes ` x`.

See: buildah-build(1), containerignore(5), the Dockerfile reference
(docs.docker.com/reference/dockerfile/#dockerignore-file)
"""
import hashlib
import os
import posixpath
import re
import stat
from typing import Iterator

from minirun.engine.build import BuildError

MAX_LINKS = 40              # as the kernel's ELOOP: a cycle of links stops here
CHUNK = 1 << 20             # file contents are hashed a MiB at a time


def ignore_file(directory: str, containerfile: str | None) -> str | None:
    """The ignore file a build of ``directory`` reads, or None."""
    found = []
    if containerfile:
        base = os.path.abspath(containerfile)
        found += [base + ".dockerignore", base + ".containerignore"]
    found += [os.path.join(directory, ".containerignore"), os.path.join(directory, ".dockerignore")]
    return next((path for path in found if os.path.isfile(path)), None)


def clean(path: str) -> str:
    """Go's filepath.Clean: no doubled or trailing slashes, no `.`, `..`
    resolved in the text ("." for nothing)."""
    cleaned = posixpath.normpath(path) if path else "."
    return cleaned[1:] if cleaned.startswith("//") else cleaned    # POSIX keeps `//`, Go does not


def parse_ignore(text: str, name: str) -> list[str]:
    """The patterns of an ignore file's ``text``, cleaned; ``name`` begins
    error messages."""
    patterns = []
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        negate = line.startswith("!")
        body = line[1:] if negate else line
        if not body:
            raise BuildError(f"{name}:{number}: `!` alone re-includes nothing; "
                             f"write the pattern to re-include after it")
        # buildah strips no blanks after `!`: `! x` names ` x` (docker's ignores them).
        body = clean(body).lstrip("/") or "."
        try:
            _pattern_regex(body, doublestar=True)
        except ValueError as why:
            raise BuildError(f"{name}:{number}: `{line}`: {why}; fix the pattern") from None
        patterns.append("!" + body if negate else body)
    return patterns


# Why not fnmatch: Python's fnmatch lets `*` and `?` match `/`, negates a
# class with `[!a]` where Go writes `[^a]` (in Go `[!a]` means `!` or `a`),
# and has no `\` escape; buildah's patterns are Go's.  So they are turned
# into regular expressions here, one token at a time.
def _pattern_regex(pattern: str, doublestar: bool) -> re.Pattern:
    """A regular expression that matches what ``pattern`` matches: Go's
    filepath.Match, and with ``doublestar`` the ignore file's `**`, which
    spans directories (`a/**/b` matches `a/b` and `a/x/y/b`).  ValueError
    names what is malformed."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*" and doublestar and pattern.startswith("**", i):
            i += 2 + pattern.startswith("/", i + 2)
            out.append(".*" if i == len(pattern) else "(?:.*/)?")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            text, i = _class(pattern, i)
            out.append(text)
            continue
        elif char == "\\":
            if i + 1 == len(pattern):
                raise ValueError("a `\\` at the end escapes nothing")
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The regular expression for the class `[...]` at ``pattern[i]``, and
    the index after it (Go: `^` negates; `-`, `]` and `\\` need a `\\`)."""
    i += 1
    negate = pattern.startswith("^", i)
    i += negate
    ranges = []
    while True:
        if i >= len(pattern):
            raise ValueError("a `[` is never closed")
        if pattern[i] == "]" and ranges:
            break
        low, i = _class_char(pattern, i)
        high = low
        if pattern.startswith("-", i):
            high, i = _class_char(pattern, i + 1)
        ranges.append((low, high))
    text = "".join(re.escape(lo) + ("-" + re.escape(hi) if hi != lo else "")
                   for lo, hi in ranges if lo <= hi)     # Go: a range backwards matches nothing
    if not text:
        return ("[^/]" if negate else "(?!)"), i + 1
    return ("[^" if negate else "[") + text + "]", i + 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i < len(pattern) and pattern[i] == "\\":
        i += 1
    elif i < len(pattern) and pattern[i] in "-]":
        raise ValueError(f"a `{pattern[i]}` in a class needs a `\\`")
    if i >= len(pattern):
        raise ValueError("a `[` is never closed")
    return pattern[i], i + 1


def _literal_prefix(pattern: str) -> str:
    """The text every path a pattern matches begins with."""
    out, i = [], 0
    while i < len(pattern) and pattern[i] not in "*?[":
        if pattern[i] == "\\" and i + 1 < len(pattern):
            i += 1
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _self_and_parents(rel: str) -> Iterator[str]:
    """`a/b/c`, then `a`, `a/b` (made one at a time: most tests stop early)."""
    yield rel
    slash = rel.find("/")
    while slash != -1:
        yield rel[:slash]
        slash = rel.find("/", slash + 1)


def _join(rel: str, name: str) -> str:
    return name if rel == "." else f"{rel}/{name}"


class Context:
    """A build context: its ``directory`` (absolute, links resolved), its
    ignore file (``ignorefile``, or None) and that file's ``patterns``."""

    def __init__(self, directory: str, containerfile: str | None = None):
        self.directory = os.path.realpath(directory)
        if not os.path.isdir(self.directory):
            raise BuildError(f"{directory}: the build context is not a directory; "
                             f"give the directory the Containerfile's COPY lines read from")
        self.ignorefile = ignore_file(self.directory, containerfile)
        self.patterns = []
        if self.ignorefile:
            try:
                with open(self.ignorefile, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
            except OSError as e:
                raise BuildError(f"{self.ignorefile}: cannot read it ({e.strerror}); "
                                 f"make it readable or remove it") from None
            self.patterns = parse_ignore(text, self.ignorefile)
        # (re-includes, regex, literal prefix), in the file's order
        self._rules = []
        for pattern in self.patterns:
            body = pattern[1:] if pattern.startswith("!") else pattern
            self._rules.append((body != pattern, _pattern_regex(body, True), _literal_prefix(body)))

    def excluded(self, rel: str) -> bool:
        """Whether the ignore file leaves ``rel`` out: the last pattern that
        matches it, or one of its parent directories, decides."""
        rel = clean(rel).lstrip("/")
        if rel in (".", "") or not self._rules:
            return False            # the root is never left out
        out = False
        for reinclude, regex, _ in self._rules:
            if reinclude == out and any(regex.fullmatch(p) for p in _self_and_parents(rel)):
                out = not reinclude
        return out

    def _may_reinclude(self, rel: str) -> bool:
        """Whether a `!` pattern could match something below ``rel`` (so an
        excluded directory must still be read: docker's rule)."""
        below = rel + "/"
        return any(reinclude and (prefix.startswith(below) or below.startswith(prefix))
                   for reinclude, _, prefix in self._rules)

    def _host(self, real: str) -> str:
        return self.directory if real == "." else os.path.join(self.directory, real)

    def _resolve(self, real: str, name: str, word: str, where: str) -> str:
        """The real path (no links in it) of ``name`` in the real directory
        ``real``, following links inside the context.  BuildError if a link
        climbs out or points to nothing."""
        done = [] if real == "." else real.split("/")
        todo, link, hops = name.split("/"), None, 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not done:
                    how = f"follows the link `{link[0]}` -> `{link[1]}`, which points" if link \
                        else "climbs"
                    raise BuildError(f"{where}: `{word}` {how} out of the build context; a build "
                                     f"reads only `{self.directory}`: copy what it needs into it")
                done.pop()
                continue
            host = os.path.join(self.directory, *done, part)
            try:
                st = os.lstat(host)
            except OSError as e:
                if link is None:
                    raise
                raise BuildError(f"{where}: `{word}` follows the link `{link[0]}` -> "
                                 f"`{link[1]}`, and `{'/'.join(done + [part])}` is not in the "
                                 f"context ({e.strerror}; a link is read inside the context, as if "
                                 f"it were `/`); point the link inside the context") from None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_LINKS:
                    raise BuildError(f"{where}: `{word}`: more than {MAX_LINKS} links in a row "
                                     f"(a cycle?); fix the links")
                target = os.readlink(host)
                link = ("/".join(done + [part]), target)
                if target.startswith("/"):
                    done = []
                todo = target.split("/") + todo
            else:
                done.append(part)
        return "/".join(done) or "."

    def sources(self, patterns: list[str], where: str) -> list[str]:
        """The context paths COPY or ADD source words name (see the module
        docstring), sorted; ``where`` begins error messages."""
        found = set()
        for word in patterns:
            named = clean(word.lstrip("/") or ".")
            if named == ".." or named.startswith("../"):
                raise BuildError(f"{where}: `{word}` climbs out of the build context; a build "
                                 f"reads only `{self.directory}`: copy what it needs into it")
            matches = self._glob(named, word, where)
            if not matches:
                raise BuildError(f"{where}: nothing in the build context matches `{word}`; "
                                 f"paths are relative to the context `{self.directory}`")
            kept = [rel for rel, real in matches if self._survives(rel, real)]
            if not kept:
                raise BuildError(f"{where}: `{word}` names only what `{self.ignorefile}` "
                                 f"excludes; take it out of that file to copy it")
            found.update(kept)
        return sorted(found)

    def _glob(self, named: str, word: str, where: str) -> list[tuple[str, str]]:
        """(path as named, real path) for each match of the cleaned ``named``."""
        matches = [(".", ".")]
        for part in ([] if named == "." else named.split("/")):
            try:
                regex = _pattern_regex(part, doublestar=False)
            except ValueError as why:
                raise BuildError(f"{where}: `{word}`: {why}; fix the pattern") from None
            found = []
            for rel, real in matches:
                host = self._host(real)
                if not os.path.isdir(host):
                    continue
                for name in self._listdir(host, rel, where):
                    if regex.fullmatch(name):
                        found.append((_join(rel, name), self._resolve(real, name, word, where)))
            matches = found
        return matches

    def _listdir(self, host: str, rel: str, where: str) -> list[str]:
        try:
            return sorted(os.listdir(host))
        except OSError as e:
            raise BuildError(f"{where}: cannot read the directory `{rel}` ({e.strerror}); "
                             f"make it readable, or exclude it in .containerignore") from None

    def _survives(self, rel: str, real: str) -> bool:
        """Whether a COPY of ``rel`` copies anything: neither it (a link, by
        its name) nor its target is excluded, or it is a directory with a
        re-included path below it."""
        if rel != real and self.excluded(rel):
            return False
        if not self.excluded(real):
            return True
        return os.path.isdir(self._host(real)) and \
            any(True for _ in self._below(rel, real, where=rel))

    def walk(self, rel: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """(path, host path, lstat) of ``rel`` (followed if a link) and,
        for a directory, of all below it that is not excluded: parents first,
        each directory's entries sorted by name."""
        rel = clean(rel.lstrip("/") or ".")
        try:
            real = self._resolve(".", rel, rel, rel)
            host = self._host(real)
            st = os.lstat(host)
        except OSError as e:
            raise BuildError(f"{rel}: not in the build context ({e.strerror}); "
                             f"name a path under `{self.directory}`") from None
        yield rel, host, st
        if stat.S_ISDIR(st.st_mode):
            yield from self._below(rel, real, where=rel)

    def _below(self, rel: str, real: str, where: str) -> Iterator[tuple[str, str, os.stat_result]]:
        # A stack, not recursion: a deep tree must not raise RecursionError.
        # Each frame: [path as named, real path, names left, held entry]; an
        # excluded directory read for its re-included paths is held, and
        # given out only before the first of them (buildah makes the parent).
        frames = [[rel, real, self._listdir(self._host(real), rel, where)[::-1], None]]
        holding = 0                 # how many frames hold their directory's entry
        while frames:
            frame = frames[-1]
            if not frame[2]:
                holding -= frames.pop()[3] is not None
                continue
            name = frame[2].pop()
            crel, creal = _join(frame[0], name), _join(frame[1], name)
            host = self._host(creal)
            st = os.lstat(host)
            is_dir = stat.S_ISDIR(st.st_mode)
            if not self.excluded(creal):
                for held in frames if holding else ():
                    if held[3] is not None:
                        yield held[3]
                        held[3] = None
                holding = 0
                yield crel, host, st
                if is_dir:
                    frames.append([crel, creal, self._listdir(host, crel, where)[::-1], None])
            elif is_dir and self._may_reinclude(creal):
                frames.append([crel, creal, self._listdir(host, crel, where)[::-1],
                               (crel, host, st)])
                holding += 1

    def digest(self, rels: list[str]) -> str:
        """``sha256:<hex>`` of what :meth:`walk` gives for each of ``rels``:
        names, file types, permission bits, sizes, contents and link
        targets; not times or owners (a COPY sets its own)."""
        h = hashlib.sha256()
        for rel in rels:
            _field(h, b"source", os.fsencode(rel))
            for name, host, st in self.walk(rel):
                mode = st.st_mode
                _field(h, b"entry", os.fsencode(name),
                       b"%o %o" % (stat.S_IFMT(mode), stat.S_IMODE(mode)))
                if stat.S_ISREG(mode):
                    _field(h, b"size", b"%d" % st.st_size)
                    _content(h, host, name, st.st_size)
                elif stat.S_ISLNK(mode):
                    _field(h, b"link", os.fsencode(os.readlink(host)))
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    _field(h, b"device", b"%d %d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        return "sha256:" + h.hexdigest()


def _field(h, *values: bytes) -> None:
    """Each value with its length first, so that no two lists of names
    and bytes hash alike (`ab`+`c` is not `a`+`bc`)."""
    for value in values:
        h.update(b"%d:" % len(value) + value)


def _content(h, host: str, name: str, size: int) -> None:
    """A file's bytes, read a chunk at a time (a large file is never held
    whole in memory)."""
    read = 0
    try:
        with open(host, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                read += len(chunk)
    except OSError as e:
        raise BuildError(f"{name}: cannot read it ({e.strerror}); make it readable, "
                         f"or exclude it in .containerignore") from None
    if read != size:
        raise BuildError(f"{name}: it changed while the build read it; build again "
                         f"when nothing writes to the context")
