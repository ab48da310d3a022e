"""The build oracle: a Containerfile built by buildah 1.28 and by
``minirun build``, and the two images compared file by file.

    python -m tests.e2e.build_oracle show ARCHIVE
    python -m tests.e2e.build_oracle diff ARCHIVE_A ARCHIVE_B

(the first prints an oci-archive's merged tree and config, the second
what differs between two).  tests/e2e/test_build_oracle.py builds every
case of the corpus with both tools, as root and as the test user.

In reading order:

- the corpus (``tests/e2e/build_corpus/<case>/``): a ``Containerfile``
  whose base images are written ``{BASE}`` (the tests' busybox in the
  loopback registry is put there), the context's files, and optionally a
  ``case.json``: ``build_args``, ``target``, ``buildah_differs`` (what to
  skip, each with buildah's behaviour written down), ``expect`` (what the
  Containerfile says the image holds, checked against buildah's image to
  prove the case and the harness), and the context git cannot keep:
  ``chmod`` ({path: "0600"}), ``empty_dirs`` and ``tarballs`` ({name.tar.gz:
  a directory of the case, or {"from": directory, "owners": {path in the
  tarball: "uid:gid"}}}: packed, owned 0:0 unless said, then left out).
  :func:`prepare` writes a case's context into a scratch directory.
- :class:`Buildah`: buildah with a private store, as root or as the test
  user; ``build`` returns an oci-archive of the image.
- :func:`image_of_archive`: an oci-archive (buildah's ``push
  oci-archive:``, minirun's ``save --format oci-archive``) as an
  :class:`Image`: the merged root filesystem after every layer, the
  config and the history.
- :func:`differences`: two images, path by path and config field by field.

What buildah 1.28 does that one might not expect (found writing this):

- every RUN layer holds ``run/`` and a whiteout ``run/.wh..containerenv``:
  buildah mounts its own /run/.containerenv while a RUN runs and deletes
  the file afterwards, so a base image's /run/.containerenv is deleted by
  the first RUN.  The tests' busybox rootfs has one when an earlier test
  has left it there, so /run/.containerenv is never compared
  (:data:`ALWAYS_IGNORED`).
- its images carry a label of its own, ``io.buildah.version``; it is
  never compared.
- WORKDIR makes no directory: one that is never used is not in the
  image; the next RUN makes it, owned by the USER of that moment
  (``WORKDIR /made-by-run`` under ``USER daemon``: 1:1), the next COPY
  makes it owned by 0:0 (docker makes it at WORKDIR).
- ENV that sets a variable of the base image again (``ENV
  PATH=/x:$PATH``) moves it after the Containerfile's own variables; one
  that sets a variable of the same Containerfile again keeps its place.
  Env is compared in order.
- VOLUME makes no directory; what a later RUN writes under a volume's
  path is dropped from the layer (what was there before is kept).
- SHELL is ignored in the OCI format (buildah's default), for RUN too: a
  RUN after ``SHELL ["/bin/sh", "-ec"]`` runs under ``/bin/sh -c`` (the
  shell-forms case writes it down).  Shell-form CMD and ENTRYPOINT become
  ``["/bin/sh", "-c", "..."]``.
- COPY --chown gives the parent directories it makes the same owner
  (``COPY --chown=1000:1000 f /owned/f``: /owned is 1000:1000).
- ``COPY . /app`` copies the Containerfile and .containerignore too
  (unless .containerignore names them); ``!pattern`` re-includes a file of
  an excluded directory (``logs/*`` then ``!logs/keep.log``).
- ADD of a local tarball keeps the owners written in it (1234:1234 stays
  1234:1234, as the test user too); COPY of the same file copies it.
- a symlink named as a COPY source is followed (its target's content and
  mode, named after the link: ``COPY --from=IMAGE /bin/vi /d/`` gives the
  busybox binary as /d/vi); symlinks inside a copied directory stay links.
- ``EXPOSE 7000-7001/tcp`` stays one key, ``7000-7001/tcp``, in
  ExposedPorts (docker writes one key per port).
- ARG scoping as docker's: an ARG before FROM is empty in a stage until
  the stage declares it again (``ARG GLOBAL``), which takes its value.
- a RUN's pair of hard links is a file and a link entry to it, whichever
  name came first (``ln /orig /hard``: ``hard`` is the file, ``orig`` the
  link): a hard link is read as its target's content.
- ``buildah push`` to an oci-archive recompresses every layer with gzip,
  the base's too (other digests than the registry's: the trees are the
  same, which the harness self-test checks).
- as the test user, buildah's default isolation ("rootless": runc in a
  user namespace of the user's subordinate ids) runs RUN, forcing
  BUILDAH_ISOLATION=oci instead makes RUN fail setting up a CNI bridge.
  Its default network for RUN is a CNI bridge as root (with firewall rules
  on the host) and slirp4netns as a plain user: the harness builds with
  ``--network none``, which no case needs.
- a plain user's store holds files owned by the container's ids, on the
  host the user's subordinate ids (100000 + id - 1): only root (or
  ``buildah unshare``) can remove it.  buildah leaves no process behind
  (no pause process, unlike podman).
- buildah writes temporary files (pulled blobs, for one) under $TMPDIR,
  /var/tmp by default, and a plain user's blob-info cache under
  $XDG_DATA_HOME: the harness points both into its own directory.  Root's
  blob-info cache is always /var/lib/containers/cache.
"""
import fnmatch
import gzip
import hashlib
import json
import os
import posixpath
import pwd
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field

from tests.conftest import processes

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_corpus")
BUILD_TIMEOUT = 300
TEST_USER = os.environ.get("MINIRUN_TEST_USER", "minirun-test")

# the fields of a path that are compared (mtime is not: both tools stamp
# the time of the build)
PATH_FIELDS = ("type", "mode", "uid", "gid", "size", "linkname", "sha256", "devmajor",
               "devminor", "xattrs")
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels",
                 "Volumes", "StopSignal")
# buildah stamps its version on every image it makes
BUILDAH_LABELS = ("io.buildah.version",)
ALWAYS_IGNORED = {
    "/run/.containerenv": "buildah's RUN mounts its own /run/.containerenv and leaves a "
                          "whiteout for it in the layer, deleting the base image's",
    "/etc/hostname": "where the base image has no /etc/hostname, runc (under buildah's RUN) "
                     "makes an empty 0755 file to mount on and buildah keeps it in the "
                     "layer; minirun's RUN leaves out what it made only to mount on",
}


# --- the corpus --------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One directory of the corpus; see the module's docstring."""
    name: str
    dir: str
    build_args: dict = field(default_factory=dict)
    target: str | None = None
    buildah_differs: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)
    chmod: dict = field(default_factory=dict)
    empty_dirs: tuple = ()
    tarballs: dict = field(default_factory=dict)

    @property
    def ignore(self) -> dict:
        return {**ALWAYS_IGNORED, **self.buildah_differs}


def load_case(name: str) -> Case:
    d = os.path.join(CORPUS, name)
    try:
        with open(os.path.join(d, "case.json")) as f:
            extra = json.load(f)
    except FileNotFoundError:
        extra = {}
    extra["empty_dirs"] = tuple(extra.get("empty_dirs", ()))
    return Case(name=name, dir=d, **extra)


def cases() -> list[Case]:
    return [load_case(n) for n in sorted(os.listdir(CORPUS))
            if os.path.isfile(os.path.join(CORPUS, n, "Containerfile"))]


def prepare(case: Case, base: str, dest: str, user: pwd.struct_passwd | None = None) -> str:
    """Write the case's context into ``dest`` (made here): {BASE} replaced
    by ``base`` in the Containerfile, the modes, empty directories and
    tarballs git cannot keep made; owned by ``user`` when given, so that a
    plain user's build can read a 0600 file.  The Containerfile's path."""
    shutil.copytree(case.dir, dest, symlinks=True)
    _normalise_modes(dest)
    if os.path.exists(os.path.join(dest, "case.json")):     # the harness's, not the build's
        os.remove(os.path.join(dest, "case.json"))
    containerfile = os.path.join(dest, "Containerfile")
    with open(containerfile) as f:
        text = f.read()
    with open(containerfile, "w") as f:
        f.write(text.replace("{BASE}", base))
    for d in case.empty_dirs:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    for path, mode in case.chmod.items():
        os.chmod(os.path.join(dest, path), int(mode, 8))
    for tarball, how in case.tarballs.items():     # after chmod: it may name their files
        how = {"from": how} if isinstance(how, str) else how
        _pack(os.path.join(dest, how["from"]), os.path.join(dest, tarball),
              how.get("owners", {}))
        shutil.rmtree(os.path.join(dest, how["from"]))
    if user is not None:
        subprocess.run(["chown", "-hR", f"{user.pw_uid}:{user.pw_gid}", dest], check=True)
    return containerfile


def _normalise_modes(top: str) -> None:
    """0755 for directories and executables, 0644 for other files: a
    checkout's modes follow the umask of whoever cloned it; git keeps only
    the executable bit."""
    for d, _, files in os.walk(top):
        os.chmod(d, 0o755)
        for name in files:
            p = os.path.join(d, name)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if os.stat(p).st_mode & 0o100 else 0o644)


def _pack(source: str, tarball: str, owners: dict) -> None:
    """A .tar.gz of a directory's contents, its entries owned 0:0 or as
    ``owners`` says ({"etc/app.conf": "1234:1234"}), with a fixed time."""
    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        uid, gid = owners.get(info.name, "0:0").split(":")
        info.uid, info.gid = int(uid), int(gid)
        info.uname = info.gname = ""
        info.mtime = 946684800
        return info

    # the gzip header's time and name fixed too: both tools' contexts hold
    # the same bytes, which a COPY of the tarball shows
    with open(tarball, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as z, \
            tarfile.open(fileobj=z, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(os.listdir(source)):
            tar.add(os.path.join(source, name), arcname=name, filter=owned)


# --- buildah -------------------------------------------------------------------------

class BuildahError(RuntimeError):
    """buildah failed: its command line, exit code and stderr."""


class Buildah:
    """buildah 1.28 with a private store (vfs) under a temporary directory,
    as root or, ``rootless``, as the test user (HOME and XDG_RUNTIME_DIR set
    as the podman side-by-side sets them).  ``close`` removes the store."""

    def __init__(self, rootless: bool, registries_conf: str):
        if os.geteuid() != 0:
            raise RuntimeError("the build oracle runs as root (rootless switches to "
                               f"the test user {TEST_USER})")
        self.user = pwd.getpwnam(TEST_USER) if rootless else None
        self.dir = tempfile.mkdtemp(prefix="minirun-buildah-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        for sub in ("xdg", "data", "tmp", "out", "ctx"):
            os.mkdir(os.path.join(self.dir, sub), 0o700 if sub == "xdg" else 0o755)
        self.env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                    "CONTAINERS_REGISTRIES_CONF": registries_conf,
                    "TMPDIR": os.path.join(self.dir, "tmp")}
        if self.user:
            self.env.update(HOME=self.user.pw_dir, USER=self.user.pw_name,
                            XDG_RUNTIME_DIR=os.path.join(self.dir, "xdg"),
                            XDG_DATA_HOME=os.path.join(self.dir, "data"))
            subprocess.run(["chown", "-R", f"{self.user.pw_uid}:{self.user.pw_gid}", self.dir],
                           check=True)
        else:
            self.env["HOME"] = "/root"
        self.argv = ["buildah", "--root", os.path.join(self.dir, "root"), "--runroot",
                     os.path.join(self.dir, "run"), "--storage-driver", "vfs"]

    def __call__(self, *args: str, timeout: float = BUILD_TIMEOUT) -> str:
        """Run buildah to its end; its stdout.  A timeout kills its whole
        process group (runuser does not pass SIGKILL on)."""
        argv = ["env", "-i", *(f"{k}={v}" for k, v in self.env.items()), *self.argv, *args]
        if self.user:
            argv = ["runuser", "-u", self.user.pw_name, "--"] + argv
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True,
                             errors="replace")
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise BuildahError(f"buildah {' '.join(args)}: timed out after {timeout} s") \
                from None
        if p.returncode != 0:
            raise BuildahError(f"buildah {' '.join(args)} failed ({p.returncode}):\n"
                               f"{err.strip()[-3000:]}")
        return out

    def build(self, context_dir: str, containerfile: str, tag: str,
              build_args: dict | None = None, target: str | None = None) -> str:
        """``buildah build --layers`` then ``push`` to an oci-archive: its path.
        The context must be readable by the user buildah runs as."""
        # isolation: buildah's default, "oci" (runc) as root and "rootless"
        # (runc in a user namespace) as a plain user; forcing "oci" as a plain
        # user makes RUN set up a CNI bridge, which a plain user cannot.
        # --network none: RUN needs no network here, and buildah's default
        # would be a CNI bridge and firewall rules on the host (as root)
        args = ["build", "--layers", "--network", "none", "-f", containerfile, "-t", tag]
        for key, value in (build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        if target:
            args += ["--target", target]
        self(*args, context_dir)
        archive = os.path.join(self.dir, "out", tag.replace("/", "_").replace(":", "_") + ".tar")
        if os.path.exists(archive):
            os.remove(archive)
        self("push", "-q", tag, f"oci-archive:{archive}")
        return archive

    def build_case(self, case: Case, base: str) -> str:
        """A corpus case prepared in this store's directory and built; the archive."""
        dest = os.path.join(self.dir, "ctx", case.name)
        if os.path.exists(dest):
            shutil.rmtree(dest)
        containerfile = prepare(case, base, dest, self.user)
        return self.build(dest, containerfile, f"oracle-{case.name}", case.build_args,
                          case.target)

    def close(self) -> None:
        """Kill what is left of buildah's (nothing, normally), unmount what
        it left mounted, remove the store.  Root removes files owned by
        subordinate ids as it removes any; a plain user would need
        ``buildah unshare rm -rf``."""
        for pid in processes(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with open("/proc/self/mountinfo") as f:
            points = [ln.split()[4] for ln in f if f" {self.dir}/" in ln]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if os.path.exists(self.dir):
            raise RuntimeError(f"could not remove buildah's store `{self.dir}`")


# --- reading an oci-archive ----------------------------------------------------------

@dataclass
class Image:
    """tree: {"/path": {"type", "mode", "uid", "gid", and "size", "sha256"
    (files), "linkname" (symlinks), "devmajor", "devminor" (devices),
    "xattrs" (where the layer has some: {name: value})}}, the merged root
    filesystem; config: the config's ``config`` object;
    history: the config's ``history``."""
    tree: dict
    config: dict
    history: list


def image_of_archive(path: str) -> Image:
    """Read an oci-archive: index.json -> manifest -> config and layers,
    each layer (gzip, zstd or plain tar) applied in order, with whiteouts."""
    with tarfile.open(path) as outer:
        files = {_clean(m.name).lstrip("/"): m for m in outer.getmembers() if m.isfile()}

        def read(name: str):
            if name not in files:
                raise ValueError(f"{path}: no `{name}` in the archive")
            return outer.extractfile(files[name])

        def blob(digest: str):
            algorithm, _, hexdigest = digest.partition(":")
            return read(f"blobs/{algorithm}/{hexdigest}")

        manifest = json.load(read("index.json"))
        while "manifests" in manifest:       # an index, perhaps nested
            if not manifest["manifests"]:
                raise ValueError(f"{path}: an empty index")
            manifest = json.load(blob(manifest["manifests"][0]["digest"]))
        config = json.load(blob(manifest["config"]["digest"]))
        tree: dict = {}
        for layer in manifest["layers"]:
            with blob(layer["digest"]) as raw, _layer_tar(raw) as tar:
                _apply(tree, tar)
    return Image(tree=tree, config=config.get("config") or {},
                 history=config.get("history") or [])


def _layer_tar(raw) -> tarfile.TarFile:
    """A layer's tar stream, whatever its compression (read from its first
    bytes, not its media type)."""
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return tarfile.open(fileobj=gzip.GzipFile(fileobj=raw), mode="r|")
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard
        return tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|")
    return tarfile.open(fileobj=raw, mode="r|")


def _clean(name: str) -> str:
    """A tar member's name as an absolute path: /a/b (the root is /)."""
    return posixpath.normpath("/" + name.strip("/")) if name.strip("./") else "/"


def _apply(tree: dict, tar: tarfile.TarFile) -> None:
    """One layer onto the tree: its whiteouts delete lower layers' paths
    (an opaque marker a directory's lower contents), then its entries land;
    a non-directory over a directory deletes what was below it."""
    entries: dict = {}
    gone, opaque = [], []
    for m in tar:
        p = _clean(m.name)
        parent, base = posixpath.split(p)
        if base == ".wh..wh..opq":
            opaque.append(parent)
        elif base.startswith(".wh."):
            gone.append(posixpath.join(parent, base[4:]))
        elif p != "/":
            entries[p] = _entry(m, tar, entries, tree)
    for d in opaque:
        _delete_below(tree, d)
    for p in gone:
        tree.pop(p, None)
        _delete_below(tree, p)
    for p, e in entries.items():
        if e["type"] != "dir" and tree.get(p, {}).get("type") == "dir":
            _delete_below(tree, p)
        tree[p] = e


def _delete_below(tree: dict, d: str) -> None:
    prefix = d.rstrip("/") + "/"
    for p in [p for p in tree if p.startswith(prefix)]:
        del tree[p]


def _entry(m: tarfile.TarInfo, tar: tarfile.TarFile, layer: dict, tree: dict) -> dict:
    if m.islnk():     # a hard link: the target's content (same layer, or a lower one)
        target = _clean(m.linkname)
        found = layer.get(target) or tree.get(target)
        if found is None:
            raise ValueError(f"hard link `{m.name}` to `{m.linkname}`, which is not there")
        return dict(found)
    e = {"type": _TYPES.get(m.type, f"tar type {m.type!r}"), "mode": m.mode & 0o7777,
         "uid": m.uid, "gid": m.gid}
    if m.isreg():
        h = hashlib.sha256()
        f = tar.extractfile(m)
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
        e.update(size=m.size, sha256=h.hexdigest())
    elif m.issym():
        e["linkname"] = m.linkname
    elif m.ischr() or m.isblk():
        e.update(devmajor=m.devmajor, devminor=m.devminor)
    xattrs = {k[len("SCHILY.xattr."):]: v for k, v in m.pax_headers.items()
              if k.startswith("SCHILY.xattr.")}
    if xattrs:       # security.capability, say: a file's capabilities travel in the layer
        e["xattrs"] = xattrs
    return e


_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
          tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


# --- comparing ------------------------------------------------------------------------

def differences(a: Image, b: Image, ignore: dict | None = None,
                names: tuple[str, str] = ("a", "b")) -> list[str]:
    """Every way ``b`` differs from ``a``: one line per path field (mode
    in octal), per path found on one side only, per config field.  mtime is
    not compared.  ``ignore`` maps what is skipped to why: a path pattern
    (fnmatch, ``*`` crosses ``/``: ``/build/*``), ``PATTERN:field`` for one
    field of those paths (``/app:uid``), or a config field (``User``)."""
    ignore = ignore or {}
    paths, fields, config = [], {}, set()
    for key in ignore:
        if key.startswith("/"):
            pattern, _, one = key.rpartition(":")
            if one in PATH_FIELDS:
                fields.setdefault(pattern, set()).add(one)
            else:
                paths.append(key)
        else:
            config.add(key.removeprefix("config."))
    found = []
    for p in sorted(set(a.tree) | set(b.tree)):
        if any(fnmatch.fnmatchcase(p, pat) for pat in paths):
            continue
        x, y = a.tree.get(p), b.tree.get(p)
        if x is None or y is None:
            side, e = (names[0], x) if y is None else (names[1], y)
            found.append(f"{p}: only in {side}'s ({_describe(e)})")
            continue
        skip = {f for pat, fs in fields.items() if fnmatch.fnmatchcase(p, pat) for f in fs}
        for f in PATH_FIELDS:
            if f not in skip and x.get(f) != y.get(f):
                found.append(f"{p}: {f} {_show(f, x.get(f))} ({names[0]}) vs "
                             f"{_show(f, y.get(f))} ({names[1]})")
    for f in CONFIG_FIELDS:
        if f in config:
            continue
        x, y = config_value(a.config, f), config_value(b.config, f)
        if x != y:
            found.append(f"config {f}: {x!r} ({names[0]}) vs {y!r} ({names[1]})")
    return found


def config_value(config: dict, name: str):
    """A config field as compared: buildah's own labels left out, and an
    empty list, map or string the same as none."""
    value = config.get(name)
    if name == "Labels" and value:
        value = {k: v for k, v in value.items() if k not in BUILDAH_LABELS}
    return value if value else None


def _show(f: str, value) -> str:
    return f"{value:04o}" if f == "mode" and value is not None else repr(value)


def _describe(e: dict) -> str:
    extra = f" -> {e['linkname']}" if "linkname" in e else \
        f" {e['size']} bytes" if "size" in e else ""
    return f"{e['type']} {e['mode']:04o} {e['uid']}:{e['gid']}{extra}"


def unmet(image: Image, expect: dict) -> list[str]:
    """What of a case's ``expect`` an image does not hold.  ``expect``:
    {"/path": {field: value} (mode as an octal string) or null for absent,
    "config": {field: value}}."""
    found = []
    for key, want in expect.items():
        if key == "config":
            for f, v in want.items():
                got = config_value(image.config, f)
                if got != (v if v else None):
                    found.append(f"config {f}: {got!r}, expected {v!r}")
            continue
        got = image.tree.get(key)
        if want is None:
            if got is not None:
                found.append(f"{key}: there ({_describe(got)}), expected absent")
            continue
        if got is None:
            found.append(f"{key}: absent")
            continue
        for f, v in want.items():
            v = int(v, 8) if f == "mode" else v
            if got.get(f) != v:
                found.append(f"{key}: {f} {_show(f, got.get(f))}, expected {_show(f, v)}")
    return found


# --- the command line -----------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "show":
        image = image_of_archive(argv[1])
        for p, e in sorted(image.tree.items()):
            print(f"{p}  {_describe(e)}" + (f" {e['sha256'][:12]}" if "sha256" in e else ""))
        print(json.dumps(image.config, indent=2, sort_keys=True))
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        found = differences(image_of_archive(argv[1]), image_of_archive(argv[2]),
                            names=(argv[1], argv[2]))
        print("\n".join(found) or "no differences")
        return 1 if found else 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
