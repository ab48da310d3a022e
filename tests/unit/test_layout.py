"""The architecture's boundaries, enforced (prose rules drift)."""
import ast
import os

PKG = os.path.join(os.path.dirname(__file__), "..", "..", "minirun")


def imports(path: str) -> set[str]:
    tree = ast.parse(open(path).read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules(sub: str):
    base = os.path.join(PKG, sub)
    for dirpath, _, files in os.walk(base):
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)


def test_runtime_never_imports_engine():
    for path in modules("runtime"):
        bad = {m for m in imports(path) if m.startswith("minirun.engine")}
        assert not bad, f"{path} imports {bad}"


def module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def import_graph() -> dict[str, set[str]]:
    """minirun's modules -> the minirun modules each imports (at the top or
    inside a function: a deferred import is still an edge)."""
    paths = {module_name(p): p for p in modules("")}
    graph = {}
    for name, path in paths.items():
        edges = set()
        for m in imports(path):
            while m and m not in paths:       # `from a.b import name`: the module a.b
                m = m.rpartition(".")[0]
            if m and m != name and not name.startswith(m + "."):   # (its own packages run first)
                edges.add(m)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected parts of more than one module."""
    order, low, stack, found = {}, {}, [], []
    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            part = []
            while not part or part[-1] != v:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(sorted(part))
    for v in sorted(graph):
        if v not in order:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


# The engine's rooms, and which of them each may use (docs/ARCHITECTURE.md,
# "The engine's rooms").  The base is engine.store, engine.userns and
# engine.hostinfo; a room may always use the base, and the base no room.
ROOMS = {
    "images": set(),
    "lazy": {"images"},
    "network": set(),
    "cdi": set(),
    "containers": {"images", "lazy", "network", "cdi"},
    "build": {"images", "containers"},
    "pods": {"containers", "images", "network"},
}


def test_the_architecture_document_draws_rooms_as_they_are():
    """docs/ARCHITECTURE.md's table of rooms says what ROOMS says, and every
    package of minirun/engine is a room there (or the base's store)."""
    import re
    with open(os.path.join(os.path.dirname(PKG), "docs", "ARCHITECTURE.md")) as f:
        text = f.read()
    table = text.split("<!-- rooms")[1].split("<!-- /rooms -->")[0]
    drawn = {}
    for m in re.finditer(r"^  (\w+)/ +(-|\w+(?:, \w+)*) {2,}", table, re.M):
        drawn[m[1]] = set() if m[2] == "-" else set(m[2].split(", "))
    assert drawn == ROOMS
    packages = {d for d in os.listdir(os.path.join(PKG, "engine"))
                if os.path.isfile(os.path.join(PKG, "engine", d, "__init__.py"))}
    assert packages - {"store"} == set(ROOMS)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["minirun", "engine"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in ROOMS else "base"


def test_the_engines_rooms_have_one_direction():
    for module, edges in import_graph().items():
        room = room_of(module)
        if room is None:
            continue
        allowed = ROOMS.get(room, set()) | {room, "base"}
        bad = {m for m in edges if room_of(m) not in allowed | {None}}
        assert not bad, f"{module} ({room}) imports {bad}: {room} may use only {sorted(allowed)}"


# The doors to C: the only modules that may import ctypes, cffi or the
# compiled minirun._native (built from native/build.py), each with what it
# opens onto.  A new door is a decision: add it here, with its reason in
# docs/ARCHITECTURE.md.
NATIVE_DOORS = {
    "minirun.kernel._native": "the kernel's syscalls; errno -> OSError in one place",
    "minirun.engine.lazy.inflate": "zlib's inflatePrime and inflateSetDictionary "
                                   "(mr_inflate_span), for a lazy layer's spans",
}
C_BINDINGS = ("ctypes", "_ctypes", "cffi", "_cffi_backend", "minirun._native")


def reaches_c(path: str) -> set[str]:
    """The C bindings a module imports: by an import statement, or by name
    through importlib.import_module or __import__."""
    found = set(imports(path))
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and getattr(node.func, "attr", getattr(node.func, "id", None)) in \
                ("import_module", "__import__"):
            found.add(node.args[0].value)
    return {m for m in found if isinstance(m, str)
            and any(m == c or m.startswith(c + ".") for c in C_BINDINGS)}


def test_only_the_declared_doors_reach_c():
    for path in modules(""):
        name = module_name(path)
        if name not in NATIVE_DOORS:
            bad = reaches_c(path)
            assert not bad, f"{path} imports {bad}: only the doors in NATIVE_DOORS may"


def test_the_declared_doors_are_doors():
    """Each door exists and does reach C (a stale entry would hide a new one)."""
    paths = {module_name(p): p for p in modules("")}
    for door in NATIVE_DOORS:
        assert door in paths, f"NATIVE_DOORS names {door}, which does not exist"
        assert reaches_c(paths[door]), f"{door} is in NATIVE_DOORS but imports no C binding"


def test_only_kernel_loads_the_native_module():
    """The kernel's door is the kernel's: other rooms reach C through a door
    of their own, declared above."""
    for path in modules(""):
        if os.sep + "kernel" + os.sep in path or module_name(path) in NATIVE_DOORS:
            continue
        bad = {m for m in imports(path) if "_native" in m}
        assert not bad, f"{path} imports {bad}: only minirun/kernel may"


def test_kernel_modules_say_what_they_wrap():
    for path in modules("kernel"):
        name = os.path.basename(path)
        if name.startswith("_") :
            continue
        doc = ast.get_docstring(ast.parse(open(path).read())) or ""
        assert "See:" in doc, f"{path}: its docstring should end with 'See: manpage(N)'"


def test_minirun_oci_start_path_imports_no_click():
    import subprocess
    import sys
    code = ("import sys; from minirun.cli import oci; "
            "oci._parser(); print('click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_start_paths_import_nothing_heavy():
    """minirun-oci create's modules and minirun run's hot path import none of
    the modules that cost milliseconds on every start (records, not typing;
    the fast parser, not argparse; never click)."""
    import subprocess
    import sys
    code = ("import sys; from minirun.cli import oci, hot; "
            "oci._fast_parse(['create', '--bundle', '/b', 'c']); "
            "from minirun.runtime import launch, lifecycle, spec; launch.kernel(); "
            "from minirun.engine.containers import records; from minirun.engine import store; "
            "print(sorted(m for m in ('typing', 'dataclasses', 'argparse', 'click', "
            "'pyroute2', 'pyfuse3', 'urllib3', 'threading') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_launch_step_names_are_unique():
    """An error from a child names its step: each name must point at one place."""
    from collections import Counter
    names = []
    for path in modules("runtime"):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "step" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                names.append(node.args[0].value)
    assert len(names) > 20
    assert [n for n, count in Counter(names).items() if count > 1] == []
