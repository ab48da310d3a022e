"""minirun's exceptions: one small hierarchy, each class saying when it is
raised and what the user should do.  The CLIs map them to exit codes the way
podman does (125 minirun's own error, 126 cannot execute, 127 not found):
``cli/hot.engine_errors`` for minirun, ``cli/oci.main`` for minirun-oci.
Either prints one line, never a traceback; so does any other ``OSError``
(exit 125), which is how a syscall fails (``OSError(errno, strerror, path)``,
raised in ``kernel/``).

The classes everything shares are defined below.  The others live in the
module that raises them, and this map names every one, by layer and room
(``tests/unit/test_errors.py`` checks it against the code).  A class
indented under another is its subclass; "(a StoreError)" names a base kept
in another module.  Exit 125 unless the entry gives another code.

Shared by the runtime and the engine:
    minirun/errors.py
        MiniRunError            anything minirun refuses or fails to do
        ConfigError             config.json is malformed or unsupported: names the JSON path
        ContainerNotFound       no container with that id under --root
        ContainerExists         a container with that id exists already
        StateError              the container is in the wrong state for the verb
        LaunchError             a step of the launch failed: names the step and the errno
          CommandNotFound       args[0] does not exist in the container (exit 127)
          CommandNotExecutable  args[0] exists but cannot be executed (exit 126)

The Python API:
    api.py
        JobTimeout              a job ran past run()'s timeout: it was killed and removed

The engine's base:
    engine/digest.py
        DigestError             a digest is malformed, or content does not match it
    engine/reference.py
        InvalidReference        an image reference breaks the grammar: fix its spelling
    engine/store/space.py
        StoreError              the store cannot do what was asked (says which, and why)
          StoreFull             the filesystem holding the store is full: free space
    engine/store/images.py
        ImageNotFound           (a StoreError) no image by that name, tag or id: pull it

The images room:
    engine/images/registries.py
        RegistryConfigError     registries.conf or auth.json cannot be read: fix the file
    engine/images/registry.py
        RegistryError           the registry refused or failed a request (its answer)
          AuthRequired          the registry wants credentials: minirun login REGISTRY
          NotFound              the registry has no such repository, tag or blob
    engine/images/manifest.py
        ManifestError           a manifest, index or config is malformed or ambiguous
    engine/images/pull.py
        PullError               the image could not be pulled (from where, and why)
    engine/images/unpack.py
        HostileLayer            a layer writes outside itself or is malformed on purpose
    engine/images/archive.py
        ArchiveError            an archive minirun cannot read (says what is wrong)
    engine/images/transports/__init__.py
        TransportError          an image name's transport is unknown, or its place cannot be
                                read or written as asked (says which, and how)
    engine/images/service.py
        ImageInUse              (a StoreError) rmi of an image a container uses (exit 2)
    engine/images/instructions.py
        InstructionError        a --change instruction minirun cannot apply: names it

The lazy room:
    engine/lazy/index.py
        LazyIndexError          a layer cannot be indexed (not gzip or zstd, damaged)
          NotLazy               a sound layer that cannot be read in parts
    engine/lazy/mount.py
        LazyMountError          the lazy mount could not be made

The network room:
    engine/network/modes.py
        NetworkError            a network cannot be made, found, joined or removed (in use:
                                network rm gives podman's 2)
          NoSuchNetwork         no network by that name (network rm gives podman's 1)
    engine/network/usernet.py
        UserNetError            slirp4netns or pasta did not connect the namespace

The CDI room:
    engine/cdi/ldcache.py
        LdCacheError            an ld.so.cache minirun cannot read: run ldconfig to rewrite it
    engine/cdi/generate.py
        NoDriver                no NVIDIA driver (or no GPU) under the driver root: no spec

The CDI room:
    engine/cdi/names.py
        CDIError                a CDI spec is unreadable or wrong, or cannot give the
                                device asked for

The containers room:
    engine/containers/records.py
        ContainerError          a container verb was refused (no such one, name taken)
          NoSuchContainer       no container by that name or id (rm gives podman's 1)
    engine/containers/volumes.py
        VolumeError             a volume is unknown, in use (volume rm: podman's 2), or badly named
          NoSuchVolume          no volume by that name (volume rm gives podman's 1)
    engine/containers/copy.py
        CopyError               a cp source is missing or its destination unwritable
    engine/containers/secrets.py
        SecretError             (a ContainerError) a secret is unknown, taken, too big, or
                                asked for wrongly

The build room:
    engine/build/__init__.py
        BuildError              a build stopped: names the Containerfile's line, and why
          StepFailed            a RUN exited non-zero (the build exits with its code)

The pods room:
    engine/pods/records.py
        PodError                a pod verb was refused (a name taken, a running pod removed
                                without -f, a flag a member may not set)
          NoSuchPod             no pod by that name or id (pod rm and pod exists give 1)
    engine/pods/kube.py
        KubeError               (a PodError) a Kubernetes YAML file minirun cannot play:
                                names the document and the field; or no pod and no
                                container of the name kube generate was given

The output room:
    gotemplate/data.py
        TemplateError           a --format template does not parse, or fails on the data
"""


class MiniRunError(Exception):
    """Anything minirun refuses or fails to do; the message says what to do.
    ``exit_code`` is podman's for the case (125 unless given)."""
    exit_code = 125

    def __init__(self, *args, exit_code: int | None = None):
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(MiniRunError):
    """config.json is malformed or asks for something minirun does not do;
    the message names the JSON path.  Fix the config."""


class ContainerNotFound(MiniRunError):
    """No container with that id under --root.  Check the id with `list`."""


class ContainerExists(MiniRunError):
    """A container with that id exists already.  Pick another id or delete it."""


class StateError(MiniRunError):
    """The container is in the wrong state for the verb (start a running one,
    delete a running one without --force)."""


class LaunchError(MiniRunError):
    """A step of the launch failed; ``step`` names it and ``errno`` says why.
    Nothing the launch made is left behind."""

    def __init__(self, step: str, errno: int, detail: str):
        import os
        self.step, self.errno, self.detail = step, errno, detail
        reason = os.strerror(errno) if errno else ""
        extra = f": {reason}" if reason and reason.lower() not in detail.lower() else ""
        super().__init__(f"{step}: {detail}{extra}")


class CommandNotFound(LaunchError):
    """The process's args[0] does not exist in the container (exit 127)."""
    exit_code = 127


class CommandNotExecutable(LaunchError):
    """The process's args[0] exists but cannot be executed (exit 126)."""
    exit_code = 126
