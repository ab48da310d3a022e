"""The Containerfile parser and its words (engine/build/containerfile.py):
lines, continuations, directives, flags, heredocs, variables, quotes."""
import pytest

from minirun.engine.build import BuildError
from minirun.engine.build import containerfile as cf


def test_lines_continuations_and_comments():
    text = ("# a comment\n\nfrom busybox AS base\nRUN echo one \\\n"
            "# a comment inside is dropped\n    two\nCMD [\"sh\"]\n")
    got = [(i.line, i.word, i.text) for i in cf.parse(text)]
    assert got == [(3, "FROM", "busybox AS base"), (4, "RUN", "echo one     two"),
                   (7, "CMD", '["sh"]')]


def test_the_escape_directive():
    text = "# escape=`\nFROM busybox\nRUN echo a `\n  b\n"
    assert cf.parse(text)[1].text == "echo a   b"
    with pytest.raises(BuildError, match="the escape character is"):
        cf.parse("# escape=x\nFROM busybox\n")


def test_flags_are_read_and_checked():
    ins = cf.parse("FROM a\nCOPY --from=b --chown=1:2 --chmod=0755 x /y\n")[1]
    assert ins.flags == {"from": ["b"], "chown": ["1:2"], "chmod": ["0755"]}
    assert ins.text == "x /y" and ins.flag("from") == "b"
    with pytest.raises(BuildError, match=r"Containerfile:2: COPY does not take --mount"):
        cf.parse("FROM a\nCOPY --mount=type=cache x /y\n")
    with pytest.raises(BuildError, match="--from needs a value"):
        cf.parse("FROM a\nCOPY --from x /y\n")


def test_heredocs():
    text = "FROM a\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-A <<B /d/\n\tx\n\tA\ny\nB\nCMD c\n"
    run, copy, cmd = cf.parse(text)[1:]
    assert run.heredocs == (("EOF", "echo 1\necho 2\n"),)
    assert copy.heredocs == (("A", "x\n"), ("B", "y\n")) and cmd.line == 11
    with pytest.raises(BuildError, match="has no closing `EOF` line"):
        cf.parse("FROM a\nRUN <<EOF\necho\n")


@pytest.mark.parametrize("text,why", [
    ("", "no instructions"),
    ("FETCH x\n", "unknown instruction FETCH"),
    ("FROM a\n-x y\n", "is not an instruction"),
])
def test_malformed_files(text, why):
    with pytest.raises(BuildError, match=why):
        cf.parse(text)


def test_words_quotes_and_variables():
    env = {"A": "1 2", "E": ""}
    assert cf.words('x "$A" \'$A\' ${A} \\$A', env, "w") == ["x", "1 2", "$A", "1", "2", "$A"]
    assert cf.words("${E:-dflt} ${A:+alt} ${E:+alt} ${NOPE}x", env, "w") == ["dflt", "alt", "x"]
    assert cf.words('"" a', env, "w") == ["", "a"]
    with pytest.raises(BuildError, match="quote is not closed"):
        cf.words('"open', env, "w")
    with pytest.raises(BuildError, match="is not a variable"):
        cf.words("${A!}", env, "w")


def test_pairs_and_args():
    env = {"B": "b"}
    assert cf.pairs('A="x y" C=$B', env, "w") == [("A", "x y"), ("C", "b")]
    assert cf.pairs("A the rest $B", env, "w", legacy=True) == [("A", "the rest b")]
    with pytest.raises(BuildError, match="is not KEY=VALUE"):
        cf.pairs("A B", env, "w")
    ins = cf.parse("FROM a\nARG X Y=2\n")[1]
    assert cf.arg_words(ins, {}, "w") == [("X", None), ("Y", "2")]


def test_exec_and_shell_forms():
    run, bad = cf.parse('FROM a\nRUN ["echo", "hi"]\nCMD ["a",\n')[1:]
    assert cf.command(run, ["/bin/sh", "-c"]) == ["echo", "hi"]
    assert cf.command(bad, ["/bin/sh", "-c"]) == ["/bin/sh", "-c", '["a",']
