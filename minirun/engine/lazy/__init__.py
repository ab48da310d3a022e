"""Lazily mounted layers (SOCI's idea): a layer is read where it lies in the
registry, a span at a time, instead of downloaded whole before the start.

Reading order:

index.py      what an index holds (table of contents, checkpoints, windows),
              how it is built and checked, how a file's bytes are found
fetch.py      a registry blob read by byte range, cached on disk
readahead.py  which spans a start is about to read
fs.py         the layers as a read-only FUSE filesystem that overlay stacks
serve.py      the server process: one mount per image, background completion
mount.py      starting and stopping that server with the containers
pull.py       `run --lazy`: an image recorded without its lazy layers
build.py      `lazy index`, `lazy record`, `push --lazy-index`
artifact.py   the indexes in the registry, beside the image

What the room keeps in the store (an image's lazy record, the fetched
bytes) has its paths from the store (``Store.lazy_record``,
``Store.lazy_cache``), which removes them with the image.
"""
