"""Lazily mounted layers (SOCI's idea): a layer is read where it lies in the
registry, a file at a time, instead of downloaded whole before the start.

Reading order: ``index.py`` (what an index holds, how it is built, how a
file's bytes are found from it).  The FUSE filesystem and the fetcher that
serve a running container from it come next (issue 8, in progress).
"""
