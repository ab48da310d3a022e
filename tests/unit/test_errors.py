"""The exception hierarchy is found in one place: minirun/errors.py's
docstring maps every MiniRunError subclass in the package, under the module
that defines it, with its base and its exit code; every class says when it
is raised; no class takes a Python built-in's name (issue 15, item 6)."""
import ast
import builtins
import importlib
import os
import pkgutil
import re

import pytest

import minirun
from minirun import errors
from minirun.errors import MiniRunError

PKG = os.path.dirname(minirun.__file__)
OPTIONAL = {"pyfuse3", "trio"}       # the lazy room's FUSE server needs them; nothing else
HEADING = re.compile(r"^    (\S+\.py)$")
ENTRY = re.compile(r"^        ( *)([A-Z]\w*)\s+(.*)$")


def import_everything() -> list[str]:
    """Import every module of minirun; the names of those skipped because an
    optional dependency is missing."""
    skipped = []
    for info in pkgutil.walk_packages(minirun.__path__, "minirun."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            if e.name not in OPTIONAL:
                raise
            skipped.append(info.name)
    return skipped


def error_classes() -> dict[str, type]:
    """Every subclass of MiniRunError the package defines, by name."""
    found, todo = {}, [MiniRunError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("minirun.") and cls.__name__ not in found:
            found[cls.__name__] = cls
            todo.extend(cls.__subclasses__())
    return found


def the_map() -> dict[str, tuple[str, str, str]]:
    """errors.py's docstring read back: name -> (module, base, text)."""
    entries, module, stack = {}, None, []
    for line in errors.__doc__.splitlines():
        if m := HEADING.match(line):
            path = m.group(1)[:-3].replace("/", ".").removesuffix(".__init__")   # a package
            module, stack = path if path.startswith("minirun.") else "minirun." + path, []
        elif (m := ENTRY.match(line)) and module:
            indent, name, text = len(m.group(1)), m.group(2), m.group(3)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            named = re.match(r"\(an? (\w+)\)", text)
            base = stack[-1][1] if stack else named.group(1) if named else "MiniRunError"
            entries[name] = (module, "Exception" if name == "MiniRunError" else base, text)
            stack.append((indent, name))
    return entries


@pytest.fixture(scope="module")
def classes():
    skipped = import_everything()
    if skipped:
        print(f"not imported (no {' or '.join(sorted(OPTIONAL))}): {', '.join(skipped)}")
    found = error_classes()
    assert len(found) > 20, "the walk found too few classes to be checking anything"
    return found


def test_every_error_class_is_mapped_under_its_module(classes):
    mapped = the_map()
    missing = sorted(set(classes) - set(mapped))
    assert not missing, f"minirun/errors.py's docstring does not name {missing}"
    gone = sorted(n for n in set(mapped) - set(classes) if not _skipped_module(mapped[n][0]))
    assert not gone, f"minirun/errors.py's docstring names classes that are gone: {gone}"
    moved = {n: (mapped[n][0], c.__module__) for n, c in classes.items()
             if mapped[n][0] != c.__module__}
    assert not moved, f"mapped under the wrong module (map, code): {moved}"


def _skipped_module(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        return e.name in OPTIONAL
    return False


def test_the_map_gives_each_class_its_base_and_exit_code(classes):
    mapped = the_map()
    for name, cls in classes.items():
        _module, base, text = mapped[name]
        assert cls.__bases__[0].__name__ == base, \
            f"{name}: the map says its base is {base}, the code {cls.__bases__[0].__name__}"
        said = re.search(r"\(exit (\d+)\)", text)
        code = cls.exit_code
        assert (int(said.group(1)) if said else 125) == code, \
            f"{name} exits {code}: its entry in the map must say `(exit {code})`" \
            if code != 125 else f"{name} exits 125: its entry must not say otherwise"


def test_every_error_class_says_when_it_is_raised(classes):
    bare = sorted(n for n, c in classes.items() if not (c.__dict__.get("__doc__") or "").strip())
    assert not bare, f"these exception classes have no docstring: {bare}"


def test_no_class_takes_a_builtin_name():
    """A class named ReferenceError or TimeoutError hides Python's own in
    every module that imports it, and `except TimeoutError` then means
    something else there."""
    shadows = []
    for dirpath, _, files in os.walk(PKG):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ClassDef) and hasattr(builtins, node.name):
                    shadows.append(f"{os.path.relpath(path, PKG)}:{node.lineno} {node.name}")
    assert not shadows, f"classes named like Python's built-ins: {shadows}"
