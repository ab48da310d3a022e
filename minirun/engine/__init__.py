"""The engine: many containers, images, storage and networks (podman's job).

It turns an image and a container's options into an OCI bundle (a rootfs
of overlaid layers and a config.json) and hands it to the runtime,
in-process or to another OCI runtime (``--runtime``); it never forks a
container's processes itself.  Its rooms, from the bottom up:

base         store/ (SQLite records, blobs, layers, and the paths of
             everything under the store's root), digest.py (content
             addresses), reference.py (image names), userns.py (a plain
             user's writes, inside the store's user namespace),
             hostinfo.py (`minirun info`)
images/      registries, the registry client, manifests, pull, push,
             unpack, archives, and the image verbs
lazy/        layers read from the registry as they are used (FUSE)
network/     network modes, bridges, ports, NAT, /etc/hosts, slirp4netns
             and pasta, a plain user's network namespace
cdi/         devices by the Container Device Interface (CDI specs, names,
             edits; a spec for this host's NVIDIA driver)
containers/  records, the bundle builder, create, the monitor, the verbs,
             attach, copy, volumes, stats, limits, joining another
             container's namespaces, foreign runtimes
build/       Containerfiles: stages, the cache, RUN and COPY, squash
pods/        pods (an infra container holding shared namespaces, members
             joining them) and Kubernetes YAML (kube generate, play, down)

A room uses the base and the rooms below it, never one above:
images <- lazy <- containers; network, cdi <- containers; containers,
images <- build; containers, images, network <- pods; and the base uses
no room.  tests/unit/test_layout.py enforces this (its ROOMS, drawn in
docs/ARCHITECTURE.md), and that no modules anywhere import each other in a
circle.  Each room's ``__init__`` gives its reading order; a student
starts with containers/.
"""
