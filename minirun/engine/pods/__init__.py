"""The pods room: containers that share namespaces, as podman's pods, and
Kubernetes YAML made of them and into them.

A pod is a record (its name, options and infra container) and, unless
made with --no-infra, an *infra container*: a container of the pause
image (catatonit -P, doing nothing) that holds the pod's network, IPC
and UTS namespaces (and PID with --share pid), and whose ports are the
pod's.  Each member container joins them by path in its config.json
(containers/joining.py), so members reach each other on localhost,
share a hostname and SysV IPC, and are reached on the pod's ports.  A
plain user's members join the infra's user namespace too, which owns
the others.  The infra is an ordinary container of the containers room:
its monitor sets up and takes down the pod's network, and `ps -a` shows
it, as podman's.

Read it in this order (each module imports only those above it):

records.py     the pods table: find, list, members, the words a member's
               spec is made with (``joining``); the room's errors
pause.py       the pause image, made once from the host's catatonit
lifecycle.py   start, stop, restart, kill, pause, unpause, rm, prune,
               top, logs; a pod's state from its containers'
create.py      pod create: the record, then the infra container (--replace
               removes the pod it replaces first)
listing.py     what pod ps (its --filter and --sort) and pod inspect show
kube.py        kube generate (a v1 Pod), kube play, kube down

It stands on the containers room (which never imports it: a member's
spec gets the pod's words from its caller), the images room (the pause
image) and the network room (checking --network and -p).
"""
