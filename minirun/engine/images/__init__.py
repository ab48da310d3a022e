"""The images room: an image's way from a registry (or a tar file) into the
store, and back out.

registries.py  registries.conf: search order, mirrors, insecure registries
auth.py        credentials (auth.json) and the registry's token dance
registry.py    the registry client (distribution spec), by HTTP
manifest.py    manifests, indexes and image configs, parsed and checked
stream.py      a layer hashed and unpacked while it downloads
pull.py        pull: resolve, fetch, verify, unpack, record
unpack.py      a layer tar made into a directory, hostile entries refused
push.py        push, with the blobs the registry lacks
archive.py     save, load and import (docker-archive and oci-archive)
service.py     the verbs the CLI and the Python API call (pull, rmi, tag,
               inspect, prune, load, save, import)

It stands on the engine's base (store/, digest.py, reference.py,
userns.py) and on nothing else of the engine; the lazy and containers
rooms use it.  Read pull.py, then unpack.py.
"""
