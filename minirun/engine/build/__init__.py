"""The build room: an image from a Containerfile, as buildah makes one.

    containerfile.py   the text: lines, continuations, heredocs, variables
    context.py         the build context: .containerignore, sources, digests
    builder.py         the stages, one instruction at a time, and the cache

A RUN runs in a container made by the containers room (its changes, the
overlay's upper directory, become a layer through the writer `commit`
uses: engine/images/layerdiff.py); a COPY or ADD writes its layer tar
straight from the files, with the owners it names, so that nothing on the
host is chowned, root or rootless.  Each step that changes files is an
image in the store, found again by its cache key.
"""
from minirun.errors import MiniRunError


class BuildError(MiniRunError):
    """A build stopped: the message names the Containerfile's line (or the
    flag) and says what to change.  Nothing half-made is left: no image,
    no working container."""


class StepFailed(BuildError):
    """A RUN exited non-zero: the build stops with the command's exit code
    (podman build's habit), naming the step."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code
