"""A build: a Containerfile's stages, one instruction at a time.

Reading order:

    build()          the whole build: the file, the stages it needs, the tags
    Stage            one FROM and what follows it: its image so far, its
                     config so far, its build arguments
    Stage.step()     one instruction: the config-only ones change the
                     config in memory; RUN, COPY, ADD (and a WORKDIR that
                     makes a directory) make a layer, and so an image

**The cache.**  Each step has a key: a digest of the key before it (the
first: the base image's id), the instruction as expanded, and what else
decides its result (a RUN's build arguments; a COPY's files, by digest).
An image made by a step is remembered under its key
(store.build_cache); the next build with the same key takes it without
running anything, so a second build of an unchanged context runs no RUN,
and a changed file reruns from its COPY on.  ``--no-cache`` takes nothing
from the cache (and still fills it).

**A RUN** is a container of the stage's image so far, made and run by the
containers room with the stage's environment, working directory and user,
our stdio its stdio; its overlay upper directory becomes the layer
(engine/images/layerdiff.py, as `commit` does), minus the files the
runtime made only as mount points.  A command that fails stops the build
with its exit code; its container goes either way.

See: buildah-build(1), podman-build(1)
"""
import os
import sys
from dataclasses import dataclass, field

from minirun.engine.build import BuildError
from minirun.engine.build import containerfile as cf
from minirun.engine.store import Store


@dataclass(frozen=True)
class Options:
    """What `minirun build` was asked: the flags' words."""
    context: str
    containerfile: str | None = None
    tags: tuple = ()
    build_args: dict = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: str = "missing"
    network: str | None = None
    labels: dict = field(default_factory=dict)
    fmt: str = "oci"
    squash: bool = False
    quiet: bool = False


@dataclass
class Build:
    """One build under way: what its stages share."""
    store: Store
    root: str | None
    options: Options
    path: str                   # the Containerfile's name, for messages
    context: object             # context.Context: what COPY and ADD read
    global_args: dict           # the ARGs before the first FROM
    stages: int                 # how many the file has (a step line's [n/N])
    out: object
    built: dict = field(default_factory=dict)   # a stage's name and number -> its image


def build(root: str | None, options: Options, out=None) -> str:
    """Build ``options``; the final image's id (the tags point at it)."""
    path, text = _containerfile(options)
    name = os.path.basename(path) if path else "(stdin)"
    instructions = cf.parse(text, name)
    from minirun.engine.build.context import Context
    from minirun.engine.build.stage import Stage
    stages, global_args = _stages(instructions, name, options)
    b = Build(Store(root), root, options, name, Context(options.context, path),
              global_args, len(stages), out or sys.stdout)
    needed = _needed(stages, options.target, b.path)
    for stage in needed:
        s = Stage(b, stage, final=stage is needed[-1])
        b.built[str(stage["index"])] = s.run()
        if stage["name"]:
            b.built[stage["name"]] = b.built[str(stage["index"])]
    image_id = b.built[str(stage["index"])]
    if options.squash:
        image_id = _squash(b.store, root, s, image_id, options)
    _tag(root, image_id, options, b.out)
    return image_id


def _containerfile(options: Options) -> tuple[str | None, str]:
    """The Containerfile's path (None for ``-f -``: standard input) and text."""
    if not os.path.isdir(options.context):
        raise BuildError(f"the build context {options.context!r} is not a directory: give "
                         "the directory holding what COPY and ADD read")
    path = options.containerfile
    if path == "-":
        return None, sys.stdin.read()
    if path and not os.path.isfile(path):
        raise BuildError(f"-f {path}: no such file")
    for name in () if path else ("Containerfile", "Dockerfile"):
        if os.path.isfile(os.path.join(options.context, name)):
            path = os.path.join(options.context, name)
            break
    if not path:
        raise BuildError(f"no Containerfile or Dockerfile in {options.context}: write one, or "
                         "name it with -f (- for standard input)")
    try:
        with open(path, encoding="utf-8") as f:
            return path, f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") \
            from None


def _stages(instructions: list, path: str, options: Options) -> tuple[list[dict], dict]:
    """The stages (index, name, base, instructions) and the ARGs before
    the first FROM (their values: a --build-arg's, else the default)."""
    global_args: dict[str, str] = {}
    stages: list[dict] = []
    for ins in instructions:
        where = ins.where(path)
        if ins.word == "FROM":
            words = cf.words(ins.text, global_args, where)
            if len(words) not in (1, 3) or len(words) == 3 and words[1].lower() != "as":
                raise BuildError(f"{where}: write FROM IMAGE [AS NAME]")
            name = words[2].lower() if len(words) == 3 else ""
            stages.append({"index": len(stages), "name": name, "base": words[0],
                           "from": ins, "instructions": []})
        elif not stages:
            if ins.word != "ARG":
                raise BuildError(f"{where}: only ARG may come before the first FROM")
            for key, value in cf.arg_words(ins, global_args, where):
                global_args[key] = options.build_args.get(key, value or "")
        else:
            stages[-1]["instructions"].append(ins)
    if not stages:
        raise BuildError(f"{path}: no FROM; a Containerfile starts with FROM IMAGE (or scratch)")
    return stages, global_args


def _needed(stages: list[dict], target: str | None, path: str) -> list[dict]:
    """The stages the target needs (FROM another stage, COPY --from one),
    in order; the last stage is the target unless --target names one."""
    by_name = {s["name"]: s for s in stages if s["name"]}
    if target is None:
        goal = stages[-1]
    elif target.lower() in by_name:
        goal = by_name[target.lower()]
    else:
        raise BuildError(f"--target {target}: {path} has no stage named so; its stages: "
                         f"{', '.join(by_name) or 'none named (use FROM IMAGE AS NAME)'}")
    want, todo = set(), [goal]
    while todo:
        stage = todo.pop()
        if stage["index"] in want:
            continue
        want.add(stage["index"])
        refs = [stage["base"]] + [i.flag("from") for i in stage["instructions"] if i.flag("from")]
        for ref in refs:
            ref = ref.lower()
            if ref in by_name:
                todo.append(by_name[ref])
            elif ref.isdigit() and int(ref) < len(stages):
                todo.append(stages[int(ref)])
    return [s for s in stages if s["index"] in want]


def _squash(store: Store, root: str | None, stage, image_id: str, options: Options) -> str:
    """The final image with the layers its stage added made one (squash.py)."""
    import json
    import tempfile
    from minirun.engine import userns
    from minirun.engine.build import squash
    from minirun.engine.images import service
    base = stage.base
    layers = [store.layer_dir(d) for d, _ in store.image_layers(image_id)]
    count = len(store.image_layers(base)) if base else 0
    config = json.loads(store.read_blob(image_id)).get("config") or {}
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".build-") as tmp:
        tar = os.path.join(tmp, "layer.tar")
        args = (tar, layers[:count], layers[count:])
        userns.as_root(squash.write_layer, *args) if userns.needed() \
            else squash.write_layer(*args)
        return service.write_image(root, base, tar, config, [
            {"created_by": f"/bin/sh -c #(nop) minirun build --squash of {stage.path}"}],
            fmt=options.fmt)


def _tag(root: str | None, image_id: str, options: Options, out) -> None:
    from minirun.engine.images import service
    from minirun.engine.store import hex_of
    if options.tags:
        service.tag(root, image_id, list(options.tags))
    if not options.quiet:
        for name in options.tags:
            print(f"Successfully tagged {_full_name(name)}", file=out)
    print(hex_of(image_id), file=out, flush=True)


def _full_name(name: str) -> str:
    from minirun.engine import reference
    r = reference.parse(name)
    return str(r.with_domain("localhost") if r.short else r)

