"""Lazy layers as a read-only FUSE filesystem, ready for overlay to stack.

One mount serves an image's lazy layers, one top-level directory each
(``0``, ``1``, ...: overlay's lowerdirs).  Metadata (lookup, stat, readdir,
readlink, xattrs) comes from the layers' tables of contents and costs
nothing; a read fetches and inflates only the span of the layer that holds
the bytes (lazy/index.py, lazy/fetch.py), in a worker thread so that other
requests go on meanwhile; opening a file tells ``on_open`` (read-ahead).

A layer is shown as minirun's unpacker would have left it on disk, so that
overlay reads both alike:

- ``.wh.NAME`` (NAME deleted by this layer) is NAME, a character device 0/0;
- ``.wh..wh..opq`` makes its directory opaque: the ``overlay.opaque``
  xattr, ``trusted.`` as root, ``user.`` for a plain user's overlay
  (mounted with ``userxattr``);
- owners are the host's ids: as they are for root; for a plain user, moved
  into the user's subordinate range as the store's namespace maps them
  (0 is the user), since the kernel checks them against the mounter's
  namespace;
- directories a tar did not list (``a/b/c`` without ``a/b``) appear, 0755.

The kernel checks permissions (``default_permissions``); nothing can be
written.  A plain user mounts through fusermount3 (setuid), as
fuse-overlayfs does.

See: fuse(4), mount.fuse3(8), pyfuse3's documentation, overlayfs.rst
"""
import errno
import os
import stat


_KIND = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK,
         "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}
ROOT = 1


class Node:
    __slots__ = ("inode", "mode", "uid", "gid", "size", "mtime", "rdev", "target", "xattrs",
                 "children", "layer", "name", "nlink")

    def __init__(self, inode: int, mode: int, uid=0, gid=0, size=0, mtime=0, rdev=0,
                 target=b"", layer=None, name=""):
        self.inode, self.mode, self.uid, self.gid, self.size, self.mtime = \
            inode, mode, uid, gid, size, mtime
        self.rdev, self.target, self.layer, self.name = rdev, target, layer, name
        self.xattrs: dict[bytes, bytes] = {}
        self.children: dict[bytes, int] | None = {} if stat.S_ISDIR(mode) else None
        self.nlink = 2 if stat.S_ISDIR(mode) else 1


class Tree:
    """The inodes of every layer, from their tables of contents: ``layers``
    is a list of (toc, reader) where reader has ``read(name, offset, size)``
    (an index.Layer).  ``owners`` maps an image's (uid, gid) to the ids the
    host sees."""

    def __init__(self, layers: list, opaque: str = "trusted.overlay.opaque", owners=None):
        import base64
        owners = owners or (lambda uid, gid: (uid, gid))
        self.nodes: dict[int, Node] = {ROOT: Node(ROOT, stat.S_IFDIR | 0o755)}
        for number, (toc, reader) in enumerate(layers):
            top = self._add(ROOT, str(number).encode(), stat.S_IFDIR | 0o755)
            by_name: dict[str, int] = {"": top}
            for e in toc["entries"]:
                parent_name, _, base = e["name"].rpartition("/")
                if not base:
                    continue
                parent = self._dir(by_name, parent_name, top)
                if base == ".wh..wh..opq":
                    self.nodes[parent].xattrs[opaque.encode()] = b"y"
                    continue
                if base.startswith(".wh."):
                    node = self._add(parent, base[4:].encode(), stat.S_IFCHR, rdev=0)
                    by_name[f"{parent_name}/{base[4:]}".lstrip("/")] = node
                    continue
                if e["type"] == "hardlink":
                    target = by_name.get(e["linkname"])
                    if target is None:
                        continue            # to nothing earlier in the layer: as tar skips
                    self.nodes[parent].children[base.encode()] = target
                    self.nodes[target].nlink += 1
                    by_name[e["name"]] = target
                    continue
                existing = by_name.get(e["name"])
                if e["type"] == "dir" and existing and stat.S_ISDIR(self.nodes[existing].mode):
                    node = existing         # a directory met again (or made up): its metadata
                else:
                    node = self._add(parent, base.encode(), _KIND[e["type"]])
                    by_name[e["name"]] = node
                n = self.nodes[node]
                n.mode = _KIND[e["type"]] | (e["mode"] & 0o7777)
                (n.uid, n.gid), n.mtime = owners(e["uid"], e["gid"]), e["mtime"]
                if e["type"] == "file":
                    n.size, n.layer, n.name = e["size"], reader, e["name"]
                elif e["type"] == "symlink":
                    n.target = e["linkname"].encode()
                    n.size = len(n.target)
                elif e["type"] in ("char", "block"):
                    n.rdev = os.makedev(e["devmajor"], e["devminor"])
                for key, value in (e.get("xattrs") or {}).items():
                    n.xattrs[key.encode()] = base64.b64decode(value)

    def _add(self, parent: int, name: bytes, mode: int, rdev: int = 0) -> int:
        inode = len(self.nodes) + 1
        self.nodes[inode] = Node(inode, mode, rdev=rdev)
        self.nodes[parent].children[name] = inode
        if stat.S_ISDIR(mode):
            self.nodes[parent].nlink += 1
        return inode

    def _dir(self, by_name: dict, path: str, top: int) -> int:
        """The directory ``path`` of a layer, made up (0755) where the tar
        has not listed it (yet)."""
        if path in by_name:
            return by_name[path]
        up, _, base = path.rpartition("/")
        node = self._add(self._dir(by_name, up, top), base.encode(), stat.S_IFDIR | 0o755)
        by_name[path] = node
        return node

    def lookup(self, parent: int, name: bytes) -> Node:
        children = self.nodes[parent].children
        if children is None:
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        if name == b".":
            return self.nodes[parent]
        if name not in children:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        return self.nodes[children[name]]

    last_read = 0.0        # when a container last read (the background fetcher waits)
    on_open = None         # called with a file's inode as it is opened (read-ahead)

    def ready(self, inode: int, offset: int, size: int) -> bool:
        """Whether reading these bytes waits for nothing (their spans are
        inflated)."""
        n = self.nodes[inode]
        return n.layer is None or n.layer.ready(n.name, offset, size)

    def read(self, inode: int, offset: int, size: int) -> bytes:
        import time
        self.last_read = time.monotonic()
        n = self.nodes[inode]
        return n.layer.read(n.name, offset, size) if n.layer else b""


def rootless_owners(uid: int, gid: int):
    """An image's (uid, gid) -> the host's, as the store's user namespace
    maps them: 0 is the user (and the user's group), n the n-th
    subordinate uid (gid); what is not mapped shows as nobody."""
    from minirun.engine.userns import maps_for
    uids, gids = maps_for(uid, gid)

    def through(maps, n: int) -> int:
        for m in maps:
            if m.container_id <= n < m.container_id + m.size:
                return m.host_id + n - m.container_id
        return 65534
    return lambda image_uid, image_gid: (through(uids, image_uid), through(gids, image_gid))


def operations(tree: Tree):
    """pyfuse3's Operations over ``tree`` (read only)."""
    import pyfuse3
    import trio

    def attributes(n: Node) -> "pyfuse3.EntryAttributes":
        a = pyfuse3.EntryAttributes()
        a.st_ino, a.st_mode, a.st_nlink, a.st_uid, a.st_gid = n.inode, n.mode, n.nlink, \
            n.uid, n.gid
        a.st_size, a.st_rdev = n.size, n.rdev
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = n.mtime * 10 ** 9
        a.st_blksize, a.st_blocks = 4096, (n.size + 511) // 512
        a.entry_timeout = a.attr_timeout = 3600       # nothing here ever changes
        return a

    def fuse_error(e: OSError):
        return pyfuse3.FUSEError(e.errno or errno.EIO)

    class LazyFS(pyfuse3.Operations):
        async def getattr(self, inode, ctx=None):
            return attributes(tree.nodes[inode])

        async def lookup(self, parent, name, ctx=None):
            try:
                return attributes(tree.lookup(parent, name))
            except OSError as e:
                raise fuse_error(e) from None

        async def opendir(self, inode, ctx):
            return inode

        async def readdir(self, inode, start, token):
            children = sorted(tree.nodes[inode].children.items())
            for i, (name, child) in enumerate(children[start:], start):
                if not pyfuse3.readdir_reply(token, name, attributes(tree.nodes[child]), i + 1):
                    break

        async def readlink(self, inode, ctx):
            return tree.nodes[inode].target

        async def open(self, inode, flags, ctx):
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise pyfuse3.FUSEError(errno.EROFS)
            if tree.on_open:
                tree.on_open(inode)
            info = pyfuse3.FileInfo(fh=inode)
            info.keep_cache = True
            return info

        async def read(self, fh, offset, size):
            try:
                if tree.ready(fh, offset, size):    # inflated already: no thread to wait in
                    return tree.read(fh, offset, size)
                return await trio.to_thread.run_sync(tree.read, fh, offset, size)
            except OSError as e:
                raise fuse_error(e) from None

        async def getxattr(self, inode, name, ctx):
            try:
                return tree.nodes[inode].xattrs[name]
            except KeyError:
                raise pyfuse3.FUSEError(pyfuse3.ENOATTR) from None

        async def listxattr(self, inode, ctx):
            return list(tree.nodes[inode].xattrs)

        async def statfs(self, ctx):
            s = pyfuse3.StatvfsData()
            s.f_bsize = s.f_frsize = 4096
            s.f_namemax = 255
            return s

    return LazyFS()


def serve(tree: Tree, mountpoint: str, ready=None) -> None:
    """Mount ``tree`` on ``mountpoint`` and serve it until unmounted (or the
    process is signalled); ``ready()`` is called once it is mounted."""
    import pyfuse3
    import trio
    options = set(pyfuse3.default_options) | {"fsname=minirun-lazy", "ro"}
    if os.geteuid() == 0:
        options.add("allow_other")           # containers' other users, through overlay
    pyfuse3.init(operations(tree), mountpoint, options)
    if ready:
        ready()
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
