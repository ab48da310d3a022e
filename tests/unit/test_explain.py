"""--explain without privileges: every narrated step has a why in its
module's docstring (the one place that text lives), with a man page; the
lines keep the format bench/breakdown.py reads; headers follow the
narrating process across a fork."""
import ast
import os
import re
import subprocess
import sys
import textwrap

import pytest

from minirun import explain

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(REPO, "minirun")
TRACE = re.compile(r"\[\s*[\d.]+ms [^\]]*\] .+")        # bench/breakdown.py's, anchored
WHY = re.compile(r"      why: \S.* {2}\(see [\w.-]+\(\d\w*\)(, [\w.-]+\(\d\w*\))*\)")
HEADER = re.compile(r"== \S.* \(.*pid \d+\) ==")
# Timing marks, not steps: bench/breakdown.py cuts its phases at them.
MARKS = {"minirun-oci {args.verb}: command line parsed", "runtime modules imported"}


def _says():
    """(module path, its docstring, the call) for every explain.say(...)."""
    for top, _, files in os.walk(PKG):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(top, name)
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "say" and isinstance(node.func.value, ast.Name) \
                        and node.func.value.id == "explain":
                    yield os.path.relpath(path, REPO), ast.get_docstring(tree, clean=False), node


def _constants(expr) -> list[str] | None:
    """The keys a why= expression can take, when they are written out."""
    if isinstance(expr, ast.Constant):
        return [expr.value]
    if isinstance(expr, ast.IfExp):
        a, b = _constants(expr.body), _constants(expr.orelse)
        return None if a is None or b is None else a + b
    return None


def test_every_step_names_a_why_its_module_holds():
    checked = 0
    for path, doc, call in _says():
        message = ast.unparse(call.args[0]) if call.args else ""
        why = next((k.value for k in call.keywords if k.arg == "why"), None)
        if any(m in message for m in MARKS):
            continue
        assert why is not None, f"{path}:{call.lineno}: explain.say without why="
        keys = _constants(why)
        if keys is None:        # computed: checked below (mounts._why, the launch steps)
            continue
        table = explain.why_table(doc or "")
        for key in keys:
            assert key in table, f"{path}:{call.lineno}: why={key!r} is not in its Why list"
            checked += 1
    assert checked > 60


def test_every_why_list_item_parses_with_a_man_page():
    for top, _, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                doc = ast.get_docstring(ast.parse(open(os.path.join(top, name)).read())) or ""
                found = re.search(r"^Why.*``--explain``", doc, re.M)
                if not found:
                    continue
                start = doc[found.start():]
                items = re.findall(r"^- ", start.split("\n\n", 2)[1] if "\n\n" in start
                                   else "", re.M)
                table = explain.why_table(doc)
                assert len(table) == len(items) > 0, f"{top}/{name}: an item lacks KEY: or (page)"
                for line in table.values():
                    assert WHY.fullmatch(f"      why: {line}"), line
                    assert "``" not in line and "\n" not in line


def test_each_kind_of_mount_has_its_why():
    from minirun.kernel import mounts as m
    table = explain.why_table(m.__doc__)
    for fstype, flags in [(None, m.MS_REC | m.MS_SLAVE), (None, m.MS_BIND | m.MS_REC),
                          (None, m.MS_REMOUNT | m.MS_BIND | m.MS_RDONLY), ("overlay", 0),
                          ("proc", 0), ("sysfs", m.MS_RDONLY), ("tmpfs", 0), ("devpts", 0),
                          ("mqueue", 0), ("cgroup2", 0), ("ext4", 0)]:
        assert m._why(fstype, flags) in table, (fstype, flags)


def test_the_launch_steps_whys_name_real_steps():
    """Each item of runtime/init.py's Why list is a step it takes (a key may
    be the first words of steps named with more: `mount /proc`)."""
    from minirun.runtime import init
    source = open(init.__file__).read()
    steps = set(re.findall(r'step\(f?"([^"{]+)', source))
    for key in explain.why_table(init.__doc__):
        assert any(s == key or s.startswith(key + " ") for s in steps), key
    line = explain.why_line(vars(init), "mount /dev/pts")
    assert line == explain.why_table(init.__doc__)["mount"]


SCRIPT = textwrap.dedent('''
    """A module that narrates.

    Why (``--explain`` prints these):

    - first: the first step, said
      on two lines (first(2))
    - second: the second (second(7), other(1))
    """
    import os, sys
    from minirun import explain
    explain.enable(sys.argv[1])
    explain.set_actor("parent", "the test's process")
    explain.say("one()", why="first")
    explain.say("one() again", why="first")
    explain.say("no why here")
    pid = os.fork()
    if pid == 0:
        explain.set_actor("child", "its fork")
        explain.say("two()", why="second")
        explain.say("-- a step", why="nothing")
        explain.say("one()", why="first")
        os._exit(0)
    os.waitpid(pid, 0)
    explain.say("three()", why="second")
    print(sorted(explain.fds()))
''')


def test_lines_headers_and_whys(tmp_path):
    script, out = tmp_path / "narrate.py", tmp_path / "explain.log"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIRUN_EXPLAIN")}
    r = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True,
                       env=dict(env, PYTHONPATH=REPO), check=True)
    assert r.stdout.strip() not in ("", "[]")         # the descriptor a launch keeps open
    lines = out.read_text().splitlines()
    kinds = ["header" if HEADER.fullmatch(ln) else "why" if WHY.fullmatch(ln) else
             "trace" if TRACE.fullmatch(ln) else ln for ln in lines]
    assert kinds == ["header", "trace", "why", "trace", "trace",
                     "header", "trace", "why", "trace", "trace", "why",
                     "header", "trace", "why"], lines
    assert lines[0].startswith("== parent (the test's process; pid ")
    assert lines[2] == "      why: the first step, said on two lines  (see first(2))"
    assert lines[5].startswith("== child (its fork; pid ")
    assert lines[7] == "      why: the second  (see second(7), other(1))"
    assert lines[11].startswith("== parent ")
    assert lines[13].endswith("(see second(7), other(1))")   # once per process and step


def test_off_by_default_and_silent():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIRUN_EXPLAIN")}
    code = ("import sys; from minirun import explain; explain.say('x', why='y'); "
            "print(explain.enabled(), explain.fds(), 'mmap' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(env, PYTHONPATH=REPO), check=True)
    assert r.stdout.split() == ["False", "set()", "False"] and r.stderr == ""


@pytest.mark.parametrize("key", ["unshare", "setns"])
def test_a_why_is_read_from_the_kernel_docstring(key):
    from minirun.kernel import namespaces
    assert explain.why_line(vars(namespaces), key).endswith(f"(see {key}(2))")
