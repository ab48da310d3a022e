"""The containers room: an image and a container's options become a record
in the store and an OCI bundle, which the runtime runs; then its life.

records.py     the container records in the store: find, update, names
bundle.py      the bundle builder: config.json from the options, the
               image's config and the layer paths, a pure function
create.py      create: the record, the container's directory, volumes,
               ports; everything undone if one step fails
monitor.py     the process that runs one container (its model is in the
               docstring); log.py its log, exitfile.py its exit file
lifecycle.py   the verbs on a container: start, stop, kill, rm, logs, exec,
               wait, update; reconciling a record whose monitor died
attach.py      the attach socket and its client
copy.py        `cp` in and out of a container
volumes.py     named and anonymous volumes
stats.py       `stats`: usage figures from the runtime
limits.py      --memory, --cpus and the other limit flags -> linux.resources
seccomp_profile.py  the default seccomp profile, as podman's
external.py    another OCI runtime (--runtime runc) driven as conmon does
joining.py     another container's namespaces joined by path (a pod's
               members join its infra container's)

It may use the rooms below it (images, lazy, network, cdi) and the base.
The build and pods rooms stand on it; the rooms below never use it (rmi -f
and network rm -f are handed a function that removes a container by
whoever calls them).  Read bundle.py, create.py,
monitor.py, then lifecycle.py.
"""
