"""The runtime: one OCI bundle -> one container (what runc and crun do).

Reading order: spec.py (config.json), checks.py (what is refused or
clamped before anything is made), launch.py (the parent's side), init.py
(the children's steps), rootfs.py, process.py, lifecycle.py (the verbs);
resources.py turns linux.resources into cgroup files, one pair of
translations per controller, and usage.py reads back what the groups
counted; hooks.py runs OCI hooks, and cdihooks.py does NVIDIA's CDI hooks
itself.  It never imports minirun.engine.
"""
