"""The lazy mount's server process: ``python -m minirun.engine.lazy.serve STORE
IMAGE MOUNTPOINT READY_FD`` (lazy/mount.py starts it).  It opens each lazy
layer of the image (its index from the store, its bytes from the
registry), mounts them with FUSE and writes "1" to READY_FD.

What a container opens is read ahead (lazy/readahead.py), and the spans a
recorded start read (lazy record) are queued before the mount is ready.

Meanwhile a background thread fetches the rest of each layer, a MiB at a
time (so that a container's reads wait at most for one), and then has the
store check the whole blob's digest and unpack it as `pull` would: the next
start uses it as an ordinary layer.  This mount goes on serving from the
fetched bytes."""
import json
import os
import sys
import threading

STEP = 1 << 20
QUIET = 1.0          # seconds without a read before the background fetcher goes on


def main(argv: list[str]) -> int:
    store_root, image_id, mountpoint, ready = argv
    from minirun.engine.images import pull as pl
    from minirun.engine import reference
    from minirun.engine.images import registries
    from minirun.engine.store import Store
    from minirun.kernel import process
    from minirun.engine.lazy import fs, index
    from minirun.engine.lazy.build import index_dir
    from minirun.engine.lazy.fetch import RemoteBlob
    from minirun.engine.lazy.pull import lazy_layers
    from minirun.engine.lazy.readahead import Readahead
    process.set_name("minirun-lazy")
    store = Store(store_root)
    with open(store.lazy_record(image_id)) as f:
        source = json.load(f)
    ref = reference.parse(source["reference"])
    client = pl.client_for(ref, registries.load(), source["tls_verify"])
    still_lazy = lazy_layers(store, image_id)
    cache = os.path.join(store_root, "lazy", "cache")
    os.makedirs(cache, mode=0o700, exist_ok=True)
    layers, pending = [], []
    for layer in source["layers"]:
        if not layer["lazy"]:
            layers.append(({"entries": []}, None))      # unpacked in the store: not ours
            continue
        # still lazy, or completed since (then the cache holds it all)
        toc, windows = index.load(index_dir(store, layer["digest"]))
        remote = RemoteBlob(client, ref.path, layer["digest"], layer["size"],
                            store.lazy_cache(layer["digest"]))
        if windows is None:             # the registry's index: its windows are read as needed
            w = toc["windows"]
            windows = RemoteBlob(client, ref.path, w["digest"], w["size"],
                                 store.lazy_cache(layer["digest"], ".windows"), 16 << 10)
        layers.append((toc, index.Layer(remote, toc, windows, cache=cache)))
        if layer["diff_id"] in still_lazy:
            pending.append((layer, remote))
    rootless = os.geteuid() != 0
    tree = fs.Tree(layers, opaque="user.overlay.opaque" if rootless else
                   "trusted.overlay.opaque",
                   owners=fs.rootless_owners(os.getuid(), os.getgid()) if rootless else None)
    if os.environ.get("MINIRUN_LAZY_RECORD"):          # lazy record: what a start reads
        profile = open(os.environ["MINIRUN_LAZY_RECORD"], "a")

        def note(number: int, span: int) -> None:
            profile.write(f"{number}\t{span}\n")
            profile.flush()
        for number, (_, layer) in enumerate(layers):
            if layer is not None:
                layer.recorder = lambda span, number=number: note(number, span)
    ahead = Readahead()

    def opened(inode: int) -> None:
        node = tree.nodes[inode]
        if node.layer is not None:
            ahead.opened(node.layer, node.name)
    tree.on_open = opened
    for toc, layer in layers:
        if layer is None:
            continue
        layer.missed = lambda i, layer=layer: ahead.missed(layer, i)
        ahead.spans(layer, [i for i in toc.get("prefetch", [])
                            if isinstance(i, int) and 0 <= i < len(layer.done)])
    fd = int(ready)

    def say_ready():
        os.write(fd, b"1")
        os.close(fd)
        if os.environ.get("MINIRUN_LAZY_BACKGROUND", "1") != "0":   # (0: benchmarks)
            threading.Thread(target=complete, args=(store_root, ref.path, pending, tree),
                             daemon=True, name="fetcher").start()
    fs.serve(tree, mountpoint, ready=say_ready)
    return 0


def complete(store_root: str, repository: str, pending: list, tree) -> None:
    """Fetch each layer's remaining bytes, then unpack it into the store:
    only while containers are not reading (a start must not share the link
    with it), at the lowest CPU priority (this thread; the unpacking child
    too)."""
    import time
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)

    def wait_for_quiet():
        while time.monotonic() - max(tree.last_read, started) < QUIET:
            time.sleep(0.1)
    started = time.monotonic()
    for layer, remote in pending:
        try:
            for start in range(0, remote.size, STEP):
                wait_for_quiet()
                remote.ensure(start, min(start + STEP, remote.size))
            _unpack(store_root, repository, layer, remote)
        except Exception as e:      # noqa: BLE001 (the mount serves on; a later pull redoes it)
            print(f"minirun-lazy: layer {layer['digest'][:19]} not completed: {e}",
                  file=sys.stderr, flush=True)


def _unpack(store_root: str, repository: str, layer: dict, remote) -> None:
    """The whole blob, as a partial download the store then checks and
    unpacks (as root of the user's namespace for a plain user)."""
    from minirun.engine import userns
    from minirun.engine.store import Store
    store = Store(store_root)
    partial = store.partial_path(layer["digest"])
    if not os.path.exists(partial):
        os.link(remote.cache_path, partial)
    userns.in_child(_fetch_layer, store_root, repository, layer)   # its own process


def _fetch_layer(store_root: str, repository: str, layer: dict) -> None:
    import signal
    from minirun.engine.images import manifest as mf
    from minirun.engine.images import pull as pl
    from minirun.engine.store import Store
    from minirun.kernel import process
    from minirun.kernel.idmap import is_rootless
    process.die_with_parent(signal.SIGKILL)    # with the server (the next pull clears up)
    os.nice(19)
    desc = mf.Descriptor(media_type=layer["media_type"], digest=layer["digest"],
                         size=layer["size"])
    pl.fetch_layer(Store(store_root), None, repository, desc, layer["diff_id"],
                   pl.Progress(True), is_rootless())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
