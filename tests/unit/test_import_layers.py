"""The import direction of docs/design.md, checked on the source (no module is imported).

    data -> models -> runs -> train -> evaluation / serve -> sweeps -> reproduce

A module may import its own package and the packages to its left, never one to its right.
errors, io, settings, hardware, display, version, lazy and recipes/ are leaf
utilities: anyone may import them, they import only each other. cli, __main__, api and
sweepview (the notebook surface), every `commands.py` and the top package's `__init__.py`
compose the packages and may import anything; a subpackage's `__init__.py` belongs to its
package like any of its modules. On top of the direction, no module may sit on an import
cycle, composing modules included.

Every `import` statement counts, the ones inside functions too (a lazy import still ties the
two modules together); only imports under `if TYPE_CHECKING:` are skipped, since they never
run. `from mnistlab.pkg import name` is an edge to the submodule `pkg.name` when such a file
exists, else to `pkg/__init__.py`. A string constant that spells a module ("mnistlab.api")
is an edge too: that is how `importlib.import_module` and the lazy name tables import.

Written with `ast` rather than import-linter: import-linter (through grimp) sees
function-level imports too, but it has no contract for "no cycles among any modules" plus
per-file exemptions for composing modules, and this check needs nothing installed.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS = ["data", "models", "runs", "train", ("evaluation", "serve"), "sweeps", "reproduce"]
LEAVES = {"errors", "io", "locks", "settings", "hardware", "display", "version", "lazy", "recipes"}
# the notebook surface: api.py and the views it returns (sweepview: sweep/tune results;
# reproduction: a notebook's reproduction, its runs as api.Run; runview: Run and Evaluation;
# fitrequest: fit()'s arguments read once)
COMPOSERS = {"cli", "__main__", "api", "runview", "fitrequest", "sweepview", "reproduction"}
_MODULE_NAME = re.compile(r"^mnistlab(\.[A-Za-z_]\w*)+$")


def _rank() -> dict[str, int]:
    rank = {}
    for i, layer in enumerate(LAYERS):
        for name in (layer if isinstance(layer, tuple) else (layer,)):
            rank[name] = i
    return rank


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under src/mnistlab."""
    out = {}
    for path in sorted((src / "mnistlab").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes anywhere in the tree (functions included), minus TYPE_CHECKING blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _named_modules(tree: ast.AST):
    """String constants that spell a mnistlab module ("mnistlab.api"): what
    importlib.import_module(...) and the lazy name tables (lazy.lazy_names) import by name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.match(node.value):
            yield node.value


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """module -> the mnistlab modules it imports (anywhere in its body, by statement or by name)."""
    mods = modules(src)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for name in _named_modules(tree):
            if name in mods and name != mod:
                graph[mod].add(name)
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = []
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            for target in targets:
                # `import mnistlab.a.b` may name a module or a package; keep the longest known
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target.startswith("mnistlab") and target != mod and target in mods:
                    graph[mod].add(target)
    return graph


def _group(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _composes(mod: str, src: Path) -> bool:
    parts = mod.split(".")
    path = modules(src)[mod]
    # A subpackage's __init__.py belongs to its package (its lazy name table included): only
    # the top package's __init__.py composes.
    return (mod == "mnistlab" or parts[-1] == "commands"
            or (len(parts) == 2 and parts[1] in COMPOSERS))


def back_edges(graph: dict[str, set[str]], src: Path = SRC) -> list[tuple[str, str]]:
    """Edges that run against the layer order (or out of a leaf utility into a layer)."""
    rank = _rank()
    bad = []
    for mod, targets in graph.items():
        if _composes(mod, src):
            continue
        g = _group(mod)
        for target in sorted(targets):
            t = _group(target)
            if t == g or t in LEAVES:
                continue
            if t == "__init__" or g in LEAVES:  # a leaf, or anything, importing a layer/top
                bad.append((mod, target))
            elif g in rank and t in rank and rank[t] > rank[g]:
                bad.append((mod, target))
            elif g in rank and t in rank and rank[t] == rank[g]:
                bad.append((mod, target))  # evaluation <-> serve: siblings stay independent
            elif g not in rank or t not in rank:
                bad.append((mod, target))  # a package the layer list does not know yet
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _cycle_edges(graph, comp):
    members = set(comp)
    return [(a, b) for a in comp for b in sorted(graph[a]) if b in members]


def test_every_package_has_a_place_in_the_order():
    known = set(_rank()) | LEAVES | COMPOSERS | {"__init__"}
    unknown = sorted({_group(m) for m in modules()} - known)
    assert not unknown, f"add these to LAYERS or LEAVES in {__file__}: {unknown}"


def test_no_import_runs_against_the_layer_order():
    bad = back_edges(import_graph())
    assert not bad, "imports against data -> models -> runs -> train -> evaluation/serve -> " \
        "sweeps -> reproduce:\n" + "\n".join(f"  {a} -> {b}" for a, b in bad)


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        "  " + ", ".join(f"{a} -> {b}" for a, b in _cycle_edges(graph, comp)) for comp in found)


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path):
    pkg = tmp_path / "mnistlab"
    (pkg / "data").mkdir(parents=True)
    (pkg / "models").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from mnistlab.models import b\n")
    (pkg / "models" / "b.py").write_text("from mnistlab.data.a import f\n")
    graph = import_graph(tmp_path)
    assert graph["mnistlab.data.a"] == {"mnistlab.models.b"}
    assert back_edges(graph, tmp_path) == [("mnistlab.data.a", "mnistlab.models.b")]
    assert cycles(graph) == [["mnistlab.data.a", "mnistlab.models.b"]]


def _tree(tmp_path, files: dict[str, str]) -> Path:
    """A throw-away src/ with mnistlab/{data,models}/ and the given module texts."""
    pkg = tmp_path / "mnistlab"
    for sub in ("", "data", "models"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "models" / "b.py").write_text("")
    (pkg / "errors.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    return tmp_path


VIOLATIONS = {  # each kind of import the checker must see, written against the order
    "statement in a function": ("data/a.py", "def f():\n    from mnistlab.models import b\n"),
    "subpackage __init__.py": ("data/__init__.py", "from mnistlab.models.b import x\n"),
    "import_module by name": ("data/a.py", "import importlib\nm = importlib.import_module('mnistlab.models.b')\n"),
    "lazy name table": ("data/__init__.py", "_API = {'thing': 'mnistlab.models.b'}\n"),
    "a leaf by name": ("errors.py", "import importlib\nimportlib.import_module('mnistlab.models.b')\n"),
}


def test_the_checker_fails_on_each_kind_of_violation(tmp_path):
    for kind, (rel, text) in VIOLATIONS.items():
        src = _tree(tmp_path / kind.replace(" ", "_"), {rel: text})
        bad = back_edges(import_graph(src), src)
        importer = "mnistlab." + rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        assert bad == [(importer, "mnistlab.models.b")], (kind, bad)


def test_the_top_package_and_allowed_directions_pass(tmp_path):
    src = _tree(tmp_path, {"__init__.py": "_API = {'b': 'mnistlab.models.b'}\n",
                           "models/c.py": "import importlib\nimportlib.import_module('mnistlab.data')\n"})
    assert back_edges(import_graph(src), src) == []


if __name__ == "__main__":  # python tests/unit/test_import_layers.py [SRC]: the counts
    import sys
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    g = import_graph(src)
    b, c = back_edges(g, src), cycles(g)
    print(f"{sum(map(len, g.values()))} edges, {len(b)} back-edges, {len(c)} cycles "
          f"({sum(map(len, c))} modules on them)")
    for a, t in b:
        print(f"  back: {a} -> {t}")
    for comp in c:
        print("  cycle: " + ", ".join(f"{x} -> {y}" for x, y in _cycle_edges(g, comp)))
