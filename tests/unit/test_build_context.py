"""The build context (minirun/engine/build/context.py): the ignore file,
COPY's source words, the walk and the digest, on real files in tmp_path;
a few cases side by side with buildah 1.28, the builds' oracle."""
import inspect
import os
import shutil
import stat
import subprocess
import sys

import pytest

from minirun.engine.build import BuildError
from minirun.engine.build import context as ctxmod
from minirun.engine.build.context import Context

WHERE = "Containerfile:4: COPY x /y"


def tree(root, spec: dict):
    """Make files ("text"), directories (a dict) and links (("link", target))."""
    root.mkdir(parents=True, exist_ok=True)
    for name, what in spec.items():
        path = root / name
        if isinstance(what, dict):
            tree(path, what)
        elif isinstance(what, tuple):
            os.symlink(what[1], path)
        else:
            path.write_text(what)
    return root


def names(ctx, rel="."):
    return [name for name, _, _ in ctx.walk(rel)]


SAMPLE = {"a": {"b": {"f": "f"}, "g": "g"}, "d": {"h": "h", "k.txt": "k"}, "top.txt": "t",
          "x": {"y": {"b": {"c": "c"}}, "f.txt": "f"}}


# --- which ignore file -------------------------------------------------------

def test_no_ignore_file_means_no_patterns(tmp_path):
    ctx = Context(str(tree(tmp_path / "c", {"f": "x"})))
    assert ctx.patterns == [] and ctx.ignorefile is None and not ctx.excluded("f")


def test_containerignore_wins_over_dockerignore_in_the_context(tmp_path):
    c = tree(tmp_path / "c", {".containerignore": "a\n", ".dockerignore": "b\n"})
    assert Context(str(c)).patterns == ["a"]
    os.unlink(c / ".containerignore")
    assert Context(str(c)).patterns == ["b"]


def test_the_containerfiles_own_ignore_file_wins_dockerignore_first(tmp_path):
    # buildah 1.28, tried: Foo.dockerignore > Foo.containerignore > .containerignore
    c = tree(tmp_path / "c", {".containerignore": "a\n"})
    other = tree(tmp_path / "else", {"Foo": "FROM scratch\n", "Foo.containerignore": "d\n"})
    assert Context(str(c), str(other / "Foo")).patterns == ["d"]
    (other / "Foo.dockerignore").write_text("e\n")
    assert Context(str(c), str(other / "Foo")).patterns == ["e"]
    assert Context(str(c), str(c / "Containerfile")).patterns == ["a"]


def test_directory_is_absolute_and_real(tmp_path):
    c = tree(tmp_path / "c", {})
    os.symlink(c, tmp_path / "lnk")
    assert Context(str(tmp_path / "lnk")).directory == str(c.resolve())


def test_a_missing_context_is_a_build_error(tmp_path):
    with pytest.raises(BuildError, match="not a directory"):
        Context(str(tmp_path / "nope"))


# --- the ignore file's lines -------------------------------------------------

def test_patterns_are_cleaned_comments_and_blanks_skipped(tmp_path):
    text = "\ufeff# a comment\n\n  /x/  \n!/y/./z\nq/../top.txt\nd//e/\r\n**/\n"
    c = tree(tmp_path / "c", {".dockerignore": text})
    assert Context(str(c)).patterns == ["x", "!y/z", "top.txt", "d/e", "**"]


@pytest.mark.parametrize("line, what", [("!", "re-includes nothing"), ("x/[", "never closed"),
                                        ("a\\", "escapes nothing"), ("[]a]", "needs a")])
def test_a_bad_line_names_the_file_and_line(tmp_path, line, what):
    c = tree(tmp_path / "c", {".dockerignore": f"ok\n{line}\n"})
    with pytest.raises(BuildError, match=what) as e:
        Context(str(c))
    assert str(e.value).startswith(f"{c}/.dockerignore:2: ")


def ignoring(tmp_path, text, spec=SAMPLE):
    return Context(str(tree(tmp_path / "c", dict(spec, **{".dockerignore": text}))))


@pytest.mark.parametrize("text, out, kept", [
    ("a\n", ["a", "a/b", "a/b/f", "a/g"], ["d", "top.txt"]),        # a directory and all below
    ("*.txt\n", ["top.txt"], ["x/f.txt", "d/k.txt"]),               # anchored at the root
    ("*/*.txt\n", ["x/f.txt", "d/k.txt"], ["top.txt"]),             # `*` never crosses `/`
    ("**/*.txt\n", ["top.txt", "x/f.txt", "d/k.txt"], ["x", "d/h"]),
    ("**/b\n", ["a/b/f", "x/y/b", "x/y/b/c"], ["x/y", "a/g"]),      # no directory, or several
    ("x/**/c\n", ["x/y/b/c"], ["x/y/b"]),
    ("x/**\n", ["x/y", "x/f.txt"], ["x"]),                          # below x, not x itself
    ("/x/\n", ["x", "x/y/b/c"], ["a"]),
    ("#top.txt\n", [], ["top.txt"]),
    ("[^d]*\n", ["a", "top.txt", "x/y"], ["d", "d/h"]),             # Go negates with ^ ...
    ("[!d]*\n", ["d/h"], ["a", "x"]),                                # ... and [!d] is `!` or `d`
    ("?\n", ["a", "d/h"], ["top.txt"]),
    ("a/\\*\n", [], ["a/g"]),                                       # an escaped star is a star
    ("a\n!a/b/f\n", ["a", "a/g", "a/b"], ["a/b/f"]),                # re-included below
    ("a\n!a/b\na/b/f\n", ["a/g", "a/b/f"], ["a/b"]),                # the last line wins
    ("!a/g\na\n", ["a/g"], []),                                     # so order matters
    ("*\n!x\n", ["a", "top.txt"], ["x", "x/y/b/c"]),
])
def test_excluded(tmp_path, text, out, kept):
    ctx = ignoring(tmp_path, text)
    assert [p for p in out if not ctx.excluded(p)] == []
    assert [p for p in kept if ctx.excluded(p)] == []


def test_the_root_is_never_excluded(tmp_path):
    ctx = ignoring(tmp_path, "**\n")
    assert not ctx.excluded(".") and ctx.excluded("a")
    assert names(ctx) == ["."]


# --- walk --------------------------------------------------------------------

def test_walk_is_parents_first_sorted_and_leaves_out_what_is_excluded(tmp_path):
    ctx = ignoring(tmp_path, "x\n*.txt\n")
    assert names(ctx) == [".", ".dockerignore", "a", "a/b", "a/b/f", "a/g", "d", "d/h", "d/k.txt"]
    assert names(ctx, "a") == ["a", "a/b", "a/b/f", "a/g"]
    assert names(ctx, "/a/b/f") == ["a/b/f"]
    rel, host, st = next(ctx.walk("a/g"))
    assert host == os.path.join(ctx.directory, "a/g") and stat.S_ISREG(st.st_mode)


def test_an_excluded_directory_is_read_for_what_is_re_included(tmp_path):
    # docker's rule; buildah makes the excluded parents of what it copies
    ctx = ignoring(tmp_path, "a\nx\n!x/y/b/c\n")
    assert names(ctx) == [".", ".dockerignore", "d", "d/h", "d/k.txt", "top.txt",
                          "x", "x/y", "x/y/b", "x/y/b/c"]
    ctx = ignoring(tmp_path / "2", "*\n!**/c\n")
    assert names(ctx) == [".", "x", "x/y", "x/y/b", "x/y/b/c"]


def test_an_excluded_directory_with_nothing_re_included_below_is_not_read(tmp_path):
    ctx = ignoring(tmp_path, "a\n!d/h\n")
    a = os.path.join(ctx.directory, "a")
    os.chmod(a, 0)                      # root reads it anyway: so also count the listdir calls
    try:
        seen = []
        real = os.listdir
        ctxmod.os.listdir = lambda p: seen.append(p) or real(p)
        assert "a" not in names(ctx)
        assert a not in seen
    finally:
        ctxmod.os.listdir = real
        os.chmod(a, 0o755)


def test_walk_copies_links_below_a_directory_as_links(tmp_path):
    c = tree(tmp_path / "c", {"dir": {"l": ("link", "../nowhere"), "f": "x"}})
    entries = {name: st for name, _, st in Context(str(c)).walk("dir")}
    assert stat.S_ISLNK(entries["dir/l"].st_mode)


def test_walk_follows_a_named_link_inside_the_context(tmp_path):
    c = tree(tmp_path / "c", {"dir": {"sub": {"g": "g"}}, "ld": ("link", "dir"),
                              "labs": ("link", "/dir/sub/g")})
    ctx = Context(str(c))
    assert names(ctx, "ld") == ["ld", "ld/sub", "ld/sub/g"]
    rel, host, st = next(ctx.walk("labs"))
    assert (rel, host) == ("labs", str(c / "dir/sub/g")) and stat.S_ISREG(st.st_mode)


def test_walk_resolves_every_link_on_the_way_inside_the_context(tmp_path):
    tree(tmp_path / "outside", {"sub": {"secret": "s"}})
    c = tree(tmp_path / "c", {"dir": {"sub": {"g": "g"}}, "ld": ("link", "/dir"),
                              "out": ("link", "../outside")})
    ctx = Context(str(c))
    assert [(n, h) for n, h, _ in ctx.walk("ld/sub")] == \
        [("ld/sub", str(c / "dir/sub")), ("ld/sub/g", str(c / "dir/sub/g"))]
    with pytest.raises(BuildError, match="out of the build context"):
        names(ctx, "out/sub")
    with pytest.raises(BuildError, match="climbs out of the build context"):
        names(ctx, "../c")


def test_a_deep_tree_walks_without_recursion(tmp_path):
    # 300 levels under a recursion limit 100 frames above this one: a walk
    # that recursed per directory would fail (and the tree stays shallow
    # enough for pytest's own recursive clean-up of tmp_path)
    c = tmp_path / "c"
    os.makedirs(c / "/".join(["d"] * 300))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)
    try:
        assert len(names(Context(str(c)))) == 301
    finally:
        sys.setrecursionlimit(limit)


# --- sources -----------------------------------------------------------------

def test_sources_match_go_wildcards_per_component(tmp_path):
    ctx = Context(str(tree(tmp_path / "c", SAMPLE)))
    assert ctx.sources(["*.txt"], WHERE) == ["top.txt"]
    assert ctx.sources(["*/*.txt"], WHERE) == ["d/k.txt", "x/f.txt"]
    assert ctx.sources(["/x/?.txt", "x/[e-g]*", "top.txt"], WHERE) == ["top.txt", "x/f.txt"]
    assert ctx.sources(["[^ax]"], WHERE) == ["d"]
    assert ctx.sources([".", "/"], WHERE) == ["."]
    assert ctx.sources(["a/./b/../g"], WHERE) == ["a/g"]
    assert ctx.sources(["**"], WHERE) == ["a", "d", "top.txt", "x"]     # `**` is `*` here


def test_a_word_that_matches_nothing(tmp_path):
    ctx = Context(str(tree(tmp_path / "c", SAMPLE)))
    with pytest.raises(BuildError) as e:
        ctx.sources(["top.txt", "*.c"], WHERE)
    assert str(e.value).startswith(f"{WHERE}: nothing in the build context matches `*.c`; ")
    with pytest.raises(BuildError, match="matches `top.txt/x`"):
        ctx.sources(["top.txt/x"], WHERE)
    with pytest.raises(BuildError, match="never closed"):
        ctx.sources(["[a"], WHERE)


def test_a_word_that_names_only_excluded_paths(tmp_path):
    ctx = ignoring(tmp_path, "a\n*.txt\n!d/k.txt\nx\n!x/y/b/c\n")
    with pytest.raises(BuildError) as e:
        ctx.sources(["a/g"], WHERE)
    assert str(e.value).startswith(f"{WHERE}: `a/g` names only what ")
    assert ctx.sources(["*/*.txt"], WHERE) == ["d/k.txt"]   # x/f.txt is left out
    with pytest.raises(BuildError, match="`[*].txt` names only what"):
        ctx.sources(["*/*.txt", "*.txt"], WHERE)             # each word must copy something
    assert ctx.sources(["x"], WHERE) == ["x"]           # something is re-included below


@pytest.mark.parametrize("word", ["../x", "/../x", "a/../../x", ".."])
def test_a_word_that_climbs_out(tmp_path, word):
    ctx = Context(str(tree(tmp_path / "c", SAMPLE)))
    with pytest.raises(BuildError) as e:
        ctx.sources([word], WHERE)
    assert str(e.value).startswith(f"{WHERE}: `{word}` climbs out of the build context; ")


@pytest.mark.parametrize("target, what", [
    ("../outside/secret", "points out of the build context"),   # buildah stops it at the root
    ("OUTSIDE", "is not in the context"),                       # absolute: read inside, as `/`
    ("dir/../../outside/secret", "points out of the build context"),
    ("nothing", "is not in the context"),                       # dangling
])
def test_a_link_that_points_out(tmp_path, target, what):
    tree(tmp_path / "outside", {"secret": "s"})
    target = target.replace("OUTSIDE", str(tmp_path / "outside/secret"))
    c = tree(tmp_path / "c", {"dir": {}, "l": ("link", target)})
    ctx = Context(str(c))
    for word in ("l", "l*", "/l"):
        with pytest.raises(BuildError, match=what) as e:
            ctx.sources([word], WHERE)
        assert str(e.value).startswith(f"{WHERE}: `{word}` follows the link `l` -> `{target}`")


def test_a_path_through_a_linked_directory_that_points_out(tmp_path):
    tree(tmp_path / "outside", {"secret": "s"})
    c = tree(tmp_path / "c", {"ld": ("link", "../outside"), "loop": ("link", "loop")})
    ctx = Context(str(c))
    with pytest.raises(BuildError, match="`ld/secret` follows the link `ld` -> `../outside`"):
        ctx.sources(["ld/secret"], WHERE)
    with pytest.raises(BuildError, match="more than 40 links"):
        ctx.sources(["loop"], WHERE)


def test_links_inside_the_context_are_followed_by_their_names(tmp_path):
    c = tree(tmp_path / "c", {"dir": {"sub": {"g": "g"}}, "file": "f", "lf": ("link", "file"),
                              "ld": ("link", "dir"), "labs": ("link", "/file"),
                              "up": ("link", "dir/sub/../../file")})
    ctx = Context(str(c))
    assert ctx.sources(["l*", "ld/sub/g", "up"], WHERE) == ["labs", "ld", "ld/sub/g", "lf", "up"]


def test_a_link_is_excluded_by_its_name_or_its_targets(tmp_path):
    spec = {"dir": {"sub": {"g": "g"}, "k": "k"}, "file": "f", "lf": ("link", "file"),
            "ld": ("link", "dir")}
    for n, text in enumerate(["lf\nld\n", "file\ndir\n"]):
        ctx = ignoring(tmp_path / str(n), text, spec)
        for word in ("lf", "ld"):
            with pytest.raises(BuildError, match="names only what"):
                ctx.sources([word], WHERE)
    ctx = ignoring(tmp_path / "3", "dir/sub\n", spec)
    assert names(ctx, "ld") == ["ld", "ld/k"]
    ctx = ignoring(tmp_path / "4", "ld/sub\n", spec)       # below: the real names, as buildah
    assert names(ctx, "ld") == ["ld", "ld/k", "ld/sub", "ld/sub/g"]


# --- digest ------------------------------------------------------------------

def test_digest_is_stable_and_ignores_times_and_owners(tmp_path):
    spec = {"dir": {"f": "hello", "l": ("link", "f"), "e": {}}, "big": "x" * 5000}
    one, two = tree(tmp_path / "one", spec), tree(tmp_path / "two", spec)
    os.utime(two / "dir/f", (1, 1))
    if os.geteuid() == 0:
        os.chown(two / "big", 1234, 4321)
    d1 = Context(str(one)).digest(["dir", "big"])
    assert d1.startswith("sha256:") and len(d1) == 71
    assert Context(str(two)).digest(["dir", "big"]) == d1
    assert Context(str(one)).digest(["dir", "big"]) == d1
    assert Context(str(one)).digest(["big", "dir"]) != d1


@pytest.mark.parametrize("change", ["byte", "mode", "setuid", "name", "link", "new", "type"])
def test_digest_sees_every_change(tmp_path, change):
    c = tree(tmp_path / "c", {"dir": {"f": "hello", "l": ("link", "f"), "e": {}}})
    ctx = Context(str(c))
    before = ctx.digest(["dir"])
    f = c / "dir/f"
    if change == "byte":
        f.write_text("hellO")
    elif change == "mode":
        os.chmod(f, 0o600)
    elif change == "setuid":
        os.chmod(f, f.stat().st_mode | stat.S_ISUID)
    elif change == "name":
        os.rename(f, c / "dir/g")
    elif change == "link":
        os.unlink(c / "dir/l")
        os.symlink("g", c / "dir/l")
    elif change == "new":
        (c / "dir/e/empty").write_text("")
    elif change == "type":
        os.rmdir(c / "dir/e")
        (c / "dir/e").write_text("")
    assert ctx.digest(["dir"]) != before


def test_digest_follows_the_walk(tmp_path):
    ctx = ignoring(tmp_path, "a/g\n")
    before = ctx.digest(["a"])
    (tmp_path / "c/a/g").write_text("changed")          # excluded: not part of the copy
    assert ctx.digest(["a"]) == before
    assert ctx.digest(["a"]) != ctx.digest(["a/b"])


def test_digest_reads_big_files_a_chunk_at_a_time(tmp_path, monkeypatch):
    c = tree(tmp_path / "c", {"big": "0123456789" * 100})
    sizes = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def read(self, n=-1):
            sizes.append(n)
            return self.f.read(n)

    monkeypatch.setattr(ctxmod, "CHUNK", 64)
    monkeypatch.setattr(ctxmod, "open", lambda p, m="r": Spy(real_open(p, m)), raising=False)
    Context(str(c)).digest(["big"])
    assert sizes and all(n == 64 for n in sizes) and len(sizes) == 17


# --- side by side with buildah ----------------------------------------------

def buildah_copy(tmp_path, context, word, ignore):
    """What `COPY word /out/` puts in /out with buildah: {path: kind}."""
    if shutil.which("buildah") is None:
        print("buildah is not installed: the comparison with buildah is skipped")
        pytest.skip("buildah is not installed")
    if os.geteuid() != 0:
        print("not root: buildah would need a user namespace; the comparison is skipped")
        pytest.skip("buildah comparison runs as root only")
    (context / ".dockerignore").write_text(ignore)
    (context / "Containerfile").write_text(f"FROM scratch\nCOPY {word} /out/\n")
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    run = subprocess.run(["buildah", "build", "-q", "--storage-driver", "vfs",
                          "--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"),
                          "--output", f"type=local,dest={out}", str(context)],
                         capture_output=True, text=True, timeout=120)
    if run.returncode:
        return run.stderr
    base = out / "out"
    return {os.path.relpath(os.path.join(d, n), base): kind(os.path.join(d, n))
            for d, dirs, files in os.walk(base) for n in dirs + files}


def kind(path):
    st = os.lstat(path)
    return "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"


def minirun_copy(context, word):
    ctx = Context(str(context))
    try:
        rels = ctx.sources([word], WHERE)
    except BuildError as e:
        return str(e)
    found = {}
    for rel in rels:
        is_dir = stat.S_ISDIR(next(ctx.walk(rel))[2].st_mode)
        for name, _, st in ctx.walk(rel):
            name = os.path.relpath(name, rel) if is_dir else os.path.basename(rel)
            if name != ".":
                found[name] = kind_of(st)
    return found


def kind_of(st):
    return "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"


@pytest.mark.parametrize("ignore, word", [
    ("a\n!a/b/f\n", "."),
    ("**/b\n", "."),
    ("x\n!x/y\nx/y/b\n", "."),
    ("*\n!d\nd/k.txt\n", "."),
    ("[^d]*\n!top.txt\n", "."),
    ("/x/\n*.txt\n!**/k.txt\n", "."),
    ("a\n!a/b/f\n", "a"),
    ("dir/sub\n", "ld"),
    ("ld/sub\n", "ld"),
    ("", "l*"),
    ("lf\n", "l*"),
    ("x\n! x/f.txt\n", "."),        # no blank is stripped after `!`
    ("[!d]*\n", "."),
])
def test_the_same_as_buildah(tmp_path, ignore, word):
    spec = dict(SAMPLE, dir={"sub": {"g": "g"}, "in": ("link", "../top.txt")},
                ld=("link", "dir"), lf=("link", "top.txt"), labs=("link", "/a/g"))
    context = tree(tmp_path / "c", spec)
    theirs = buildah_copy(tmp_path, context, word, ignore)
    ours = minirun_copy(context, word)
    assert isinstance(theirs, dict), theirs
    assert ours == theirs


def test_the_same_ignore_file_as_buildah(tmp_path):
    context = tree(tmp_path / "c", {"a": "a", "b": "b", "c": "c", "d": "d",
                                    ".containerignore": "a\n",
                                    "Containerfile.containerignore": "c\n"})
    theirs = buildah_copy(tmp_path, context, ".", "b\n")   # writes .dockerignore, Containerfile
    ours = set(Context(str(context), str(context / "Containerfile")).sources(["*"], WHERE))
    assert isinstance(theirs, dict), theirs
    assert ours == set(theirs) == {".containerignore", ".dockerignore", "Containerfile",
                                   "Containerfile.containerignore", "a", "b", "d"}
    (context / "Containerfile.dockerignore").write_text("d\n")
    theirs = buildah_copy(tmp_path, context, ".", "b\n")
    ours = set(Context(str(context), str(context / "Containerfile")).sources(["*"], WHERE))
    assert ours == set(theirs) and "c" in ours and "d" not in ours
