"""The fast parser of run and exec (cli/hot.py): what it takes, and what it
leaves to click (anything it is unsure of)."""
from minirun.cli import hot


def test_the_forms_podman_users_type():
    kw, rest = hot.parse(["-it", "-e", "A=1", "-eB=2", "--name=x", "--rm", "-v", "/a:/b",
                          "--memory", "64m", "img", "sh", "-c", "echo -e"], hot.RUN_FLAGS)
    assert rest == ["img", "sh", "-c", "echo -e"]           # flags end at the image
    assert kw["tty"] and kw["interactive"] and kw["rm"] and not kw["detach"]
    assert kw["env"] == ["A=1", "B=2"] and kw["name"] == "x" and kw["volume"] == ["/a:/b"]
    assert kw["memory"] == "64m" and kw["pull"] == "missing"
    assert hot.parse(["--", "img"], hot.RUN_FLAGS)[1] == ["img"]


def test_what_goes_to_click():
    for line in (["--help"], ["--no-such-flag", "img"], ["-e"], ["--name"],
                 ["--pull", "sometimes", "img"], ["--rm=true", "img"], ["-Z", "img"]):
        assert hot.parse(line, hot.RUN_FLAGS) is None, line


def test_one_table_for_both_parsers():
    from minirun.cli.containers import run
    names = {n for p in run.params for n in getattr(p, "opts", [])}
    assert {n for f in hot.RUN_FLAGS for n in f.names} <= names
