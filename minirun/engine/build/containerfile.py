"""Reading a Containerfile: from text to a list of instructions, and the
words of one instruction with its variables expanded.

A Containerfile is a list of instructions, one per logical line:

    # escape=\\          a parser directive, only at the very top
    FROM busybox AS base  the keyword, case-insensitive, then its arguments
    RUN make \\           a line ending with the escape character goes on
        install           on the next one (comment lines inside are dropped)
    COPY <<EOF /etc/motd  a heredoc: the lines up to EOF are a file (COPY)
    hello                 or a script (RUN)
    EOF

Flags come first (``COPY --chown=1000 --from=base src dst``).  Variables
(``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME:+alternative}``) are
expanded by the builder in the instructions that take them (not RUN, CMD
or ENTRYPOINT: their shell does it), with quotes and escapes read as a
shell reads them: :func:`words` does both at once, as it must, because
``ENV A="$B c"`` is one word whatever $B holds.

See: the Dockerfile reference (docs.docker.com/reference/dockerfile),
buildah-build(1)
"""
import json
import re
from dataclasses import dataclass, field

from minirun.engine.build import BuildError

KEYWORDS = ("FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "ENTRYPOINT",
            "CMD", "EXPOSE", "LABEL", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
            "ONBUILD", "MAINTAINER")
FLAGS = {"FROM": ("platform",), "RUN": ("mount", "network", "security"),
         "COPY": ("from", "chown", "chmod", "link"), "ADD": ("chown", "chmod", "link", "checksum"),
         "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries")}
HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass(frozen=True)
class Instruction:
    """One instruction: ``line`` (its first, 1-based), ``word`` (upper
    case), ``flags`` (name -> values, in order), ``text`` (the arguments
    after the flags, continuation lines joined), ``heredocs`` ((name,
    body) in order) and ``source`` (as written, for messages and history)."""
    line: int
    word: str
    text: str
    source: str
    flags: dict = field(default_factory=dict)
    heredocs: tuple = ()

    def flag(self, name: str, default: str | None = None) -> str | None:
        values = self.flags.get(name)
        return values[-1] if values else default

    def where(self, path: str) -> str:
        """``Containerfile:4: COPY ../x /y``, to begin an error message."""
        shown = self.source if len(self.source) <= 80 else self.source[:77] + "..."
        return f"{path}:{self.line}: {shown}"

    def is_json(self) -> bool:
        """The exec form: a JSON array of strings."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return False
        return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse(text: str, path: str = "Containerfile") -> list[Instruction]:
    """The instructions of a Containerfile's ``text``; a BuildError naming
    the line for anything malformed."""
    lines = text.splitlines()
    escape = _directives(lines)
    out, i = [], 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start, (logical, i) = i, _logical(lines, i, escape)
        if not logical.strip():
            continue
        word, _, rest = logical.strip().partition(" ")
        if not re.fullmatch(r"[A-Za-z]+", word):
            raise BuildError(f"{path}:{start + 1}: `{word}` is not an instruction; each line "
                             f"starts with one of {', '.join(KEYWORDS)}")
        word = word.upper()
        if word not in KEYWORDS:
            raise BuildError(f"{path}:{start + 1}: unknown instruction {word}; minirun "
                             f"builds with {', '.join(KEYWORDS)}")
        flags, rest = _flags(word, rest.strip(), f"{path}:{start + 1}")
        heredocs = []
        if word in ("RUN", "COPY", "ADD"):
            for strip, _, name in HEREDOC.findall(rest):
                body, i = _heredoc(lines, i, name, bool(strip), f"{path}:{start + 1}")
                heredocs.append((name, body))
        out.append(Instruction(start + 1, word, rest, logical.strip(), flags, tuple(heredocs)))
    if not out:
        raise BuildError(f"{path}: no instructions; a Containerfile starts with FROM IMAGE")
    return out


def _directives(lines: list[str]) -> str:
    """The escape character (``# escape=`` at the top; a backslash else)."""
    escape = "\\"
    for line in lines:
        m = re.fullmatch(r"\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise BuildError(f"escape={m.group(2)}: the escape character is \\ or `")
            escape = m.group(2)
    return escape


def _logical(lines: list[str], i: int, escape: str) -> tuple[str, int]:
    """One logical line from line ``i`` on (comments out, continuations
    joined); and the index after it."""
    parts = []
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.lstrip().startswith("#"):
            continue                    # (within a continuation too)
        stripped = line.rstrip()
        if stripped.endswith(escape) and not stripped.endswith(escape * 2):
            parts.append(stripped[:-1])
            continue
        parts.append(line)
        break
    return "".join(parts), i


def _flags(word: str, rest: str, where: str) -> tuple[dict, str]:
    flags: dict[str, list[str]] = {}
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, sep, value = token[2:].partition("=")
        if name not in FLAGS.get(word, ()):
            allowed = ", ".join(f"--{f}" for f in FLAGS.get(word, ())) or "no flags"
            raise BuildError(f"{where}: {word} does not take --{name} (it takes {allowed})")
        if name != "link" and not sep:
            raise BuildError(f"{where}: --{name} needs a value: --{name}=VALUE")
        flags.setdefault(name, []).append(value)
    return flags, rest


def _heredoc(lines: list[str], i: int, name: str, strip: bool, where: str) -> tuple[str, int]:
    body = []
    while i < len(lines):
        line = lines[i]
        i += 1
        if (line.lstrip("\t") if strip else line) == name:
            return "".join(b + "\n" for b in body), i
        body.append(line.lstrip("\t") if strip else line)
    raise BuildError(f"{where}: the heredoc <<{name} has no closing `{name}` line")


# --- words and variables ----------------------------------------------------------------

def words(text: str, env: dict, where: str, split: bool = True) -> list[str]:
    """``text`` split into words as a shell would (after the variables are
    expanded, so an unquoted value with spaces is several words, as
    Docker has it), quotes removed; an unset variable is empty.  Not
    ``split``: one word, spaces kept (Docker's ProcessWord)."""
    out, word, have, i, quote = [], [], False, 0, ""
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                word.append(c)
        elif c == "\\" and i + 1 < len(text) and (quote != '"' or text[i + 1] in '"\\$'):
            word.append(text[i + 1])
            i += 1
        elif c in "'\"" and quote in ("", c):
            quote, have = ("" if quote else c), True
        elif c == "$":
            value, i = _variable(text, i, env, where)
            pieces = re.split(r"\s+", value) if split and not quote else [value]
            word.append(pieces[0])
            for piece in pieces[1:]:
                if "".join(word) or have:
                    out.append("".join(word))
                word, have = [piece], False
            i -= 1
        elif c.isspace() and not quote and split:
            if "".join(word) or have:
                out.append("".join(word))
            word, have = [], False
        else:
            word.append(c)
        i += 1
    if quote:
        raise BuildError(f"{where}: a {quote} quote is not closed")
    if "".join(word) or have:
        out.append("".join(word))
    return out


def expand(text: str, env: dict, where: str) -> str:
    """``text`` with its variables expanded, as one word (quotes removed)."""
    return "".join(words(text, env, where, split=False))


def _raw_words(text: str) -> list[str]:
    """``text`` split at unquoted spaces, quotes and escapes kept (each
    word is expanded later, whole)."""
    out, word, quote, i = [], "", "", 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "'" and i + 1 < len(text):
            word += text[i:i + 2]
            i += 2
            continue
        if c in "'\"" and quote in ("", c):
            quote = "" if quote else c
        if c.isspace() and not quote:
            if word:
                out.append(word)
            word = ""
        else:
            word += c
        i += 1
    if word:
        out.append(word)
    return out


def _variable(text: str, i: int, env: dict, where: str) -> tuple[str, int]:
    """The value of the variable at ``text[i]`` ("$"), and the index after it."""
    m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[i:])
    if m:
        return env.get(m.group(1), ""), i + m.end()
    if not text.startswith("${", i):
        return "$", i + 1
    end = text.find("}", i)
    if end < 0:
        raise BuildError(f"{where}: ${{ without a closing }}")
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?", text[i + 2:end], re.S)
    if not m:
        raise BuildError(f"{where}: {text[i:end + 1]} is not a variable; write ${{NAME}}, "
                         "${NAME:-default} or ${NAME:+alternative}")
    name, op, word = m.groups()
    value = env.get(name, "")
    if op == "-" and not value:
        value = expand(word, env, where)
    elif op == "+":
        value = expand(word, env, where) if value else ""
    return value, end + 1


def pairs(text: str, env: dict, where: str, legacy: bool = False) -> list[tuple[str, str]]:
    """KEY=VALUE words, expanded (ENV, LABEL, ARG); ``legacy``: ENV's
    ``KEY VALUE`` form too."""
    first = text.split(None, 1)
    if legacy and first and "=" not in first[0]:
        if len(first) < 2:
            raise BuildError(f"{where}: ENV {first[0]} needs a value: ENV {first[0]}=VALUE")
        return [(first[0], expand(first[1], env, where))]
    out = []
    for raw in _raw_words(text):
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise BuildError(f"{where}: {raw!r} is not KEY=VALUE")
        out.append((expand(key, env, where), expand(value, env, where)))
    return out


def arg_words(ins: Instruction, env: dict, where: str) -> list[tuple[str, str | None]]:
    """ARG's NAME[=DEFAULT] words: (name, default or None)."""
    out = []
    for raw in _raw_words(ins.text):
        key, sep, value = raw.partition("=")
        value = expand(value, env, where)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise BuildError(f"{where}: {key!r} is not an argument's name")
        out.append((key, value if sep else None))
    return out


def command(ins: Instruction, shell: list[str]) -> list[str]:
    """RUN, CMD or ENTRYPOINT's argv: the exec form as written, the shell
    form under ``shell`` (SHELL's, ["/bin/sh", "-c"] by default).  Text
    that only looks like JSON (``["a",``) is the shell form, as Docker
    reads it."""
    if ins.is_json():
        return json.loads(ins.text)
    return [*shell, ins.text]
