"""The CDI room: devices given to containers by the Container Device
Interface (https://github.com/cncf-tags/container-device-interface).

A vendor's spec (YAML or JSON, under /etc/cdi, /var/run/cdi, or a plain
user's $XDG_CONFIG_HOME/cdi) names devices (``nvidia.com/gpu=0``) and the
edits that give a container each one: device nodes, mounts, environment,
hooks, additional groups.  This room reads and checks those specs, resolves
names to edits, applies the edits to a config.json, and writes a spec for
this host's NVIDIA driver where none exists (`minirun cdi generate`).

Reading order: ``names`` (the name grammar and CDIError), ``spec`` (a file
read into records and checked), ``versions`` (the cdiVersion each field
needs), ``edits`` (applying edits to a config.json), ``registry`` (the
spec directories, their priorities, resolving names to edits); then the
NVIDIA side: ``ldcache`` (glibc's ld.so.cache read in Python),
``discover`` (the driver under a driver root), ``generate`` (a spec for it,
as nvidia-ctk writes one).

NVIDIA's hooks in a spec (create-symlinks, update-ldcache, chmod) are not
run: the runtime does their work itself (runtime/cdihooks.py).

It stands on the engine's base only; the containers room applies it when a
container asks for ``--device vendor/class=name`` or ``--gpus``.
"""
