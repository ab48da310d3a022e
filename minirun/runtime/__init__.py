"""The runtime: one OCI bundle -> one container (what runc and crun do).

Reading order: spec.py (config.json), launch.py (the parent's side),
init.py (the children's steps), rootfs.py, process.py, lifecycle.py (the
verbs).  It never imports minirun.engine.
"""
