"""The instructions that change only an image's config: ENV, LABEL, USER,
EXPOSE, VOLUME, STOPSIGNAL, ENTRYPOINT, CMD, SHELL, ONBUILD, HEALTHCHECK,
MAINTAINER.  ``apply`` changes the config (the image config's ``config``
object) in place, with the variables expanded where Docker expands them.
`commit --change` reads the same words without variables
(engine/images/instructions.py); the helpers for a command and a port
are that module's.

HEALTHCHECK is kept only in the docker format: the OCI image config has no
field for it, so buildah (and so minirun) says it is dropped.
"""
import json
import re

from minirun.engine.build import BuildError
from minirun.engine.build import containerfile as cf
from minirun.engine.images import instructions

EXPANDED = ("ENV", "LABEL", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def shown(ins, env: dict, where: str) -> str:
    """The instruction as its history entry shows it (variables expanded)."""
    if ins.word == "ENV":
        pairs = cf.pairs(ins.text, env, where, legacy=True)
        return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if ins.word in EXPANDED:
        return f"{ins.word} {cf.expand(ins.text, env, where)}"
    return f"{ins.word} {ins.text}"


def apply(config: dict, ins, env: dict, shell: list[str], where: str, options, say) -> list[str]:
    """Change ``config`` by ``ins``; the shell for later shell forms."""
    word, text = ins.word, ins.text.strip()
    if not text:
        raise BuildError(f"{where}: {word} needs an argument")
    if word == "ENV":
        items = [e for e in config.get("Env") or []]
        for key, value in cf.pairs(text, env, where, legacy=True):
            items = [e for e in items if e.partition("=")[0] != key] + [f"{key}={value}"]
        config["Env"] = items
    elif word == "LABEL":
        config["Labels"] = dict(config.get("Labels") or {}, **dict(cf.pairs(text, env, where)))
    elif word == "USER":
        config["User"] = cf.expand(text, env, where)
    elif word == "STOPSIGNAL":
        config["StopSignal"] = cf.expand(text, env, where)
    elif word == "EXPOSE":
        ports = {}
        for port in cf.words(text, env, where):
            try:
                ports.update(instructions.apply({}, f"EXPOSE {port}")["ExposedPorts"])
            except instructions.InstructionError:
                raise BuildError(f"{where}: {port!r} is not PORT[/PROTO] or "
                                 "FIRST-LAST[/PROTO]") from None
        config["ExposedPorts"] = dict(config.get("ExposedPorts") or {}, **ports)
    elif word == "VOLUME":
        paths = json.loads(text) if ins.is_json() else cf.words(text, env, where)
        config["Volumes"] = dict(config.get("Volumes") or {}, **{p: {} for p in paths})
    elif word in ("CMD", "ENTRYPOINT"):
        argv = cf.command(ins, shell)
        if word == "ENTRYPOINT":
            config["Entrypoint"] = argv     # (a base's CMD goes: the stage's keeps it)
        else:
            config["Cmd"] = argv
    elif word == "SHELL":
        if not ins.is_json() or not json.loads(text):
            raise BuildError(f'{where}: SHELL takes the exec form: SHELL ["/bin/sh", "-c"]')
        return json.loads(text)
    elif word == "ONBUILD":
        trigger = cf.parse(text, where)[0]
        if trigger.word in ("ONBUILD", "FROM", "MAINTAINER"):
            raise BuildError(f"{where}: ONBUILD cannot trigger {trigger.word}")
        config["OnBuild"] = list(config.get("OnBuild") or []) + [text]
    elif word == "HEALTHCHECK":
        _healthcheck(config, ins, shell, where, options, say)
    elif word == "MAINTAINER":
        pass            # deprecated: history only (builder keeps the author)
    return shell


def _healthcheck(config: dict, ins, shell, where: str, options, say) -> None:
    if options.fmt != "docker":
        say("WARN: HEALTHCHECK is not supported for OCI image format and will be ignored. "
            "Must use `docker` format")
        return
    text = ins.text.strip()
    if text.upper() == "NONE":
        config["Healthcheck"] = {"Test": ["NONE"]}
        return
    word, _, rest = text.partition(" ")
    if word.upper() != "CMD" or not rest.strip():
        raise BuildError(f"{where}: write HEALTHCHECK [--interval=D ...] CMD command, "
                         "or HEALTHCHECK NONE")
    rest = rest.strip()
    test = ["CMD", *json.loads(rest)] if rest.startswith("[") else ["CMD-SHELL", rest]
    check = {"Test": test}
    for flag, field in (("interval", "Interval"), ("timeout", "Timeout"),
                        ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if ins.flag(flag):
            check[field] = _nanoseconds(ins.flag(flag), flag, where)
    if ins.flag("retries"):
        if not ins.flag("retries").isdigit():
            raise BuildError(f"{where}: --retries={ins.flag('retries')} is not a number")
        check["Retries"] = int(ins.flag("retries"))
    config["Healthcheck"] = check


def _nanoseconds(text: str, flag: str, where: str) -> int:
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise BuildError(f"{where}: --{flag}={text} is not a duration such as 30s or 1m30s")
    return int(sum(float(n) * UNITS[u] for n, u in parts))
