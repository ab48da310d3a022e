"""The engine: many containers, images, storage and networks (podman's job).

It turns an image and flags into an OCI bundle (a rootfs of overlaid layers
and a config.json) and hands it to the runtime, in-process or to another
OCI runtime (``--runtime``); it never forks a container's processes itself.
One flat room today (issue 15 will give it rooms); the modules by concern:

images      reference.py, registries.py, auth.py, registry.py, manifest.py,
            digest.py, stream.py, pull.py, unpack.py, push.py, archive.py,
            images.py (the verbs)
store       store.py: SQLite records, blobs, layers; userns.py for a plain
            user's writes inside the store's user namespace
containers  containers.py (records, the bundle builder), lifecycle.py,
            monitor.py (one per detached container), attach.py, copy.py,
            volumes.py, limits.py, stats.py, seccomp_profile.py, external.py
networks    network.py (modes, bridges, ports, /etc/hosts), usernet.py
            (pasta, slirp4netns), rootlessnet.py (a plain user's bridges)
host        hostinfo.py (`minirun info`)

Reading order for a student: containers.py, monitor.py, lifecycle.py,
then pull.py and unpack.py, then network.py.
"""
