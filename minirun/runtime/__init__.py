"""The runtime: one OCI bundle -> one container (what runc and crun do).

Reading order: spec.py (config.json), launch.py (the parent's side),
init.py (the children's steps), rootfs.py, process.py, lifecycle.py (the
verbs); resources.py turns linux.resources into cgroup files, one pair of
translations per controller, and usage.py reads back what the groups
counted.  It never imports minirun.engine.
"""
