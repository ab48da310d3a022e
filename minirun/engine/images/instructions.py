"""The Containerfile instructions that change only an image's config
(``commit --change``, as podman takes them; builds will use the same):
CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
WORKDIR.  ``apply(config, "ENV A=1")`` returns the changed config (the
image config's ``config`` object) or raises one error naming the line.
"""
import json
import re
import shlex

from minirun.errors import MiniRunError

CONFIG_ONLY = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL",
               "USER", "VOLUME", "WORKDIR")


class InstructionError(MiniRunError):
    """An instruction minirun cannot apply (unknown, or malformed): the
    message names it and says what it takes."""


def apply(config: dict, text: str) -> dict:
    """``config`` (not changed) with the instruction ``text`` applied."""
    word, _, rest = text.strip().partition(" ")
    word, rest = word.upper(), rest.strip()
    if word not in CONFIG_ONLY:
        raise InstructionError(f"--change {text!r}: {word or 'nothing'} cannot change a "
                               f"commit; use one of {', '.join(CONFIG_ONLY)}")
    if not rest:
        raise InstructionError(f"--change {text!r}: {word} needs an argument")
    out = dict(config)
    if word in ("CMD", "ENTRYPOINT"):
        out["Cmd" if word == "CMD" else "Entrypoint"] = command(rest, text)
    elif word == "ENV":
        env = [e for e in out.get("Env") or []]
        for key, value in pairs(rest, text, legacy=True):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        out["Env"] = env
    elif word == "LABEL":
        out["Labels"] = dict(out.get("Labels") or {}, **dict(pairs(rest, text)))
    elif word == "EXPOSE":
        out["ExposedPorts"] = dict(out.get("ExposedPorts") or {},
                                   **{_port(p, text): {} for p in rest.split()})
    elif word == "VOLUME":
        paths = json.loads(rest) if rest.startswith("[") else rest.split()
        out["Volumes"] = dict(out.get("Volumes") or {}, **{p: {} for p in paths})
    elif word == "ONBUILD":
        out["OnBuild"] = list(out.get("OnBuild") or []) + [rest]
    else:
        out[{"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[word]] = rest
    return out


def command(rest: str, text: str) -> list[str]:
    """The exec form (a JSON array) as it is; the shell form under /bin/sh -c."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InstructionError(f"--change {text!r}: the exec form is a JSON array of "
                                   'strings, e.g. ["sh", "-c", "echo hi"]')
        return value
    return ["/bin/sh", "-c", rest]


def pairs(rest: str, text: str, legacy: bool = False) -> list[tuple[str, str]]:
    """KEY=VALUE words (quotes as a shell reads them); ``legacy``: ENV's old
    ``KEY VALUE`` form too."""
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InstructionError(f"--change {text!r}: {e}") from None
    if legacy and words and "=" not in words[0]:
        return [(words[0], rest[len(words[0]):].strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InstructionError(f"--change {text!r}: {word!r} is not KEY=VALUE")
        out.append((key, value))
    return out


def _port(text: str, line: str) -> str:
    """PORT[/PROTO], or a range FIRST-LAST[/PROTO] kept as one key (as
    buildah and Docker keep it)."""
    port, _, proto = text.partition("/")
    if not re.fullmatch(r"\d+(-\d+)?", port) or proto not in ("", "tcp", "udp", "sctp"):
        raise InstructionError(f"--change {line!r}: {text!r} is not PORT[/PROTO] or "
                               "FIRST-LAST[/PROTO]")
    return f"{port}/{proto or 'tcp'}"
