"""The lazy mount's server process: ``python -m minirun.lazy.serve STORE
IMAGE MOUNTPOINT READY_FD`` (lazy/mount.py starts it).  It opens each lazy
layer of the image (its index from the store, its bytes from the
registry), mounts them with FUSE and writes "1" to READY_FD."""
import json
import os
import sys


def main(argv: list[str]) -> int:
    store_root, image_id, mountpoint, ready = argv
    from minirun.engine import pull as pl
    from minirun.engine import reference, registries
    from minirun.engine.store import Store
    from minirun.kernel import process
    from minirun.lazy import fs
    from minirun.lazy.pull import lazy_layers, source_path
    process.set_name("minirun-lazy")
    store = Store(store_root)
    with open(source_path(store, image_id)) as f:
        source = json.load(f)
    ref = reference.parse(source["reference"])
    client = pl.client_for(ref, registries.load(), source["tls_verify"])
    lazy = lazy_layers(store, image_id)
    cache = os.path.join(store_root, "lazy", "cache")
    os.makedirs(cache, mode=0o700, exist_ok=True)
    layers = []
    for position, layer in enumerate(source["layers"]):
        if layer["diff_id"] in lazy:
            opened = fs.open_layers(store, [(layer["digest"], "", layer["size"])], client,
                                    ref.path, cache)
            layers.append(opened[0])
        else:
            layers.append(({"entries": []}, None))      # unpacked in the store: not ours
    rootless = os.geteuid() != 0
    tree = fs.Tree(layers, opaque="user.overlay.opaque" if rootless else
                   "trusted.overlay.opaque",
                   owner=fs.rootless_owner(os.getuid()) if rootless else None)
    fd = int(ready)

    def say_ready():
        os.write(fd, b"1")
        os.close(fd)
    fs.serve(tree, mountpoint, ready=say_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
