"""One stage of a build: FROM, then each instruction in turn (builder.py
says how the steps and the cache fit together).

A stage keeps its image so far (``image``: the last one a step made, or
the base), the config so far (``config``: the image config's ``config``,
changed in memory by ENV, LABEL, CMD...), the history entries not yet in
an image, and its build arguments.  Only a step that changes files writes
an image; the config-only steps before it ride along in that image's
config and history, and the stage's end writes one more image if any are
left over.  A WORKDIR's directory is made in the next layer, as buildah
makes it in its working container.
"""
import hashlib
import json
import os
import tempfile

from minirun.engine.build import BuildError
from minirun.engine.build import containerfile as cf
from minirun.engine.store import hex_of

DEFAULT_SHELL = ["/bin/sh", "-c"]
SCRATCH_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def key_of(*parts) -> str:
    """A cache key: the digest of ``parts`` as JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class Stage:
    """One stage of ``build`` (builder.Build); ``stage`` is its FROM and
    instructions; ``final``: the target (``--label`` is its)."""

    def __init__(self, build, stage: dict, final: bool):
        self.build, self.stage, self.final = build, stage, final
        self.store, self.root, self.options = build.store, build.root, build.options
        self.context, self.built, self.path = build.context, build.built, build.path
        self.image: str | None = None
        self.base: str | None = None        # the FROM image
        self.config: dict = {}
        self.pending: list[dict] = []       # history entries since the last image
        self.key = ""
        self.args: dict[str, str] = {}
        self.shell = list(DEFAULT_SHELL)
        self.dirs: list[str] = []           # WORKDIRs to make in the next layer
        self.number = 0
        self.cmd_set = False                # a CMD in this stage (ENTRYPOINT keeps it)

    # --- the stage, start to end ----------------------------------------------------

    def run(self) -> str:
        ins = self.stage["from"]
        triggers = self.start(ins)
        for trigger in triggers:
            self.step(trigger)
        for ins in self.stage["instructions"]:
            self.step(ins)
        return self.finish()

    def say(self, text: str) -> None:
        if not self.options.quiet:
            print(text, file=self.build.out, flush=True)

    def announce(self, ins) -> None:
        self.number += 1
        total = len(self.stage["instructions"]) + 1
        count = self.build.stages
        prefix = f"[{self.stage['index'] + 1}/{count}] " if count > 1 else ""
        self.say(f"{prefix}STEP {self.number}/{total}: {ins.source}")

    def start(self, ins) -> list:
        """FROM: the base image (a stage before, scratch, or one pulled);
        its ONBUILD triggers, to run first."""
        self.announce(ins)
        base = self.stage["base"]
        where = ins.where(self.path)
        if base.lower() in self.built:
            self.image = self.built[base.lower()]
        elif base != "scratch":
            from minirun.engine.containers.create import ensure_image
            ensure_image(self.root, base, self.options.pull, store=self.store)
            self.image = self.store.lookup(base)
        self.base = self.image              # (--squash folds what is above it)
        if self.image:
            self.config = dict(json.loads(self.store.read_blob(self.image)).get("config") or {})
        else:
            self.config = {"Env": [SCRATCH_PATH]}
        self.key = key_of("FROM", self.image or "scratch", self.options.fmt)
        triggers = [cf.parse(text, where)[0] for text in self.config.pop("OnBuild", None) or []]
        return [t.__class__(ins.line, t.word, t.text, f"ONBUILD {t.source}", t.flags,
                            t.heredocs) for t in triggers]

    def finish(self) -> str:
        """The stage's image: the last one made, or one more for what is
        left (config-only steps, a WORKDIR's directory, a stage that is
        only FROM)."""
        if self.pending or self.image is None or self.final and self.options.labels:
            self.config_only_image()     # (a last WORKDIR's directory is not made: buildah's)
        return self.image

    # --- one step ---------------------------------------------------------------------

    def step(self, ins) -> None:
        self.announce(ins)
        where = ins.where(self.path)
        env = self.env()
        if ins.word == "ARG":
            for key, value in cf.arg_words(ins, env, where):
                if key in self.options.build_args:
                    value = self.options.build_args[key]
                elif value is None:
                    value = self.build.global_args.get(key)
                if value is not None:
                    self.args[key] = value
            self.key = key_of(self.key, "ARG", ins.text, sorted(self.args.items()))
        elif ins.word == "RUN":
            self.run_step(ins, where)
        elif ins.word in ("COPY", "ADD"):
            self.copy_step(ins, where)
        elif ins.word == "WORKDIR":
            here = self.config.get("WorkingDir") or "/"
            path = os.path.join(here, cf.expand(ins.text, env, where))
            self.config["WorkingDir"] = os.path.normpath(path)
            self.dirs.append(self.config["WorkingDir"])
            self.note(f"WORKDIR {self.config['WorkingDir']}", ins)
        else:
            from minirun.engine.build import configure
            if ins.word == "ENTRYPOINT" and not self.cmd_set:
                self.config.pop("Cmd", None)        # Docker's rule: a base's CMD goes
            self.cmd_set = self.cmd_set or ins.word == "CMD"
            self.shell = configure.apply(self.config, ins, env, self.shell, where, self.options,
                                         self.say)
            self.note(configure.shown(ins, env, where), ins)

    def env(self) -> dict:
        """The variables an instruction sees: the build arguments, then the
        config's Env over them (ENV wins, as Docker has it)."""
        out = dict(self.args)
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def note(self, text: str, ins) -> None:
        """A config-only step: its history entry waits for the next image."""
        self.pending.append({"created_by": f"/bin/sh -c #(nop) {text}", "empty_layer": True})
        self.key = key_of(self.key, ins.word, text)

    # --- steps that make images -----------------------------------------------------

    def cached(self, key: str) -> bool:
        """Take the image remembered under ``key`` (not with --no-cache)."""
        if self.options.no_cache:
            return False
        image = self.store.build_cache_lookup(key)
        if not image:
            return False
        self.say(f"--> Using cache {hex_of(image)}")
        self.adopt(image, key)
        return True

    def adopt(self, image: str, key: str) -> None:
        self.image, self.key, self.pending, self.dirs = image, key, [], []
        self.config = dict(json.loads(self.store.read_blob(image)).get("config") or {})
        self.say(f"--> {hex_of(image)[:12]}")

    def commit(self, key: str, created_by: str, layer: str | None = None,
               upper: str | None = None) -> None:
        """An image of the stage's image, a layer (a tar, or an upper
        directory's changes) and its config; remembered under ``key``."""
        from minirun.engine.images import service
        history = self.pending + [{"created_by": created_by}]
        image = service.write_image(self.root, self.image, layer, self.config, history,
                                    upper=upper, fmt=self.options.fmt)
        self.store.build_cache_remember(key, image, self.image)
        self.adopt(image, key)

    def config_only_image(self) -> None:
        labels = self.options.labels if self.final else {}
        key = key_of(self.key, "END", sorted(labels.items()))
        if self.cached(key):
            return
        if labels:
            self.config["Labels"] = dict(self.config.get("Labels") or {}, **labels)
        entries = self.pending or [{"created_by": "/bin/sh -c #(nop) FROM "
                                    f"{self.stage['base']}"}]
        from minirun.engine.images import service
        image = service.write_image(self.root, self.image, None, self.config, entries,
                                    fmt=self.options.fmt)
        self.store.build_cache_remember(key, image, self.image)
        self.adopt(image, key)

    def run_step(self, ins, where: str) -> None:
        from minirun.engine.build import running
        argv = running.argv(ins, self.shell, where)
        key = key_of(self.key, "RUN", argv, sorted(self.args.items()), ins.flags, self.dirs)
        if self.cached(key):
            return
        if self.image is None:
            raise BuildError(f"{where}: a stage FROM scratch has no files to run anything "
                             "with: COPY a program in first")
        with running.container(self, ins, argv, where) as upper:
            self.commit(key, _shown(argv), upper=upper)

    def copy_step(self, ins, where: str) -> None:
        from minirun.engine.build import layers
        plan = layers.plan(self, ins, where)
        key = key_of(self.key, ins.word, plan.describe(), self.dirs)
        if self.cached(key):
            return
        with tempfile.TemporaryDirectory(dir=self.store.root, prefix=".build-") as tmp:
            tar = os.path.join(tmp, "layer.tar")
            layers.write(self, tar, plan, self.dirs)
            self.commit(key, f"/bin/sh -c #(nop) {ins.word} {plan.summary()}", tar)


def _shown(argv: list[str]) -> str:
    return " ".join(argv)
