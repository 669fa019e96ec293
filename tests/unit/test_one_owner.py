"""One name, one thing (issue 28): one class reads a run folder, and the verbs fit / evaluate /
predict have one public owner each. Checked on the source with `ast` (the reader rule) and
on the packages' public names (the verb rule)."""
from __future__ import annotations

import ast
import importlib
import inspect
import re

import mnistlab
from test_import_layers import modules

# the functions that read a run folder's files (runs/files.py) and find the folder (runs/layout.py)
RUN_READERS = {"read_config", "read_history", "read_metrics", "load_weights", "require_run"}
# the one public class that calls them
THE_READER = ("mnistlab.runs.run", "Run")
VERBS = ("fit", "evaluate", "predict")
# old names kept for code written against them (the merge of issue 28); each must be the very
# object of the new name, so it is a second spelling, not a second thing
ALIASES = {("mnistlab.train", "fit"): ("mnistlab.train", "train_run")}


def _called_names(node: ast.AST) -> set[str]:
    out = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            out.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return out


def run_reading_classes() -> set[tuple[str, str]]:
    """(module, class) for every public class whose body calls a run-folder reader."""
    found = set()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                if _called_names(node) & RUN_READERS:
                    found.add((name, node.name))
    return found


def test_one_public_class_reads_a_run_folder():
    assert run_reading_classes() == {THE_READER}, (
        "a second public class reads a run folder; read it through mnistlab.runs.open_run (runs.Run) "
        "and add behaviour in a subclass or a function instead")


def test_the_check_sees_a_second_reader(tmp_path, monkeypatch):
    """The rule fails on the case it is for: a class that reads history.csv itself."""
    import test_import_layers as L
    src = tmp_path / "src"
    (src / "mnistlab").mkdir(parents=True)
    (src / "mnistlab" / "views.py").write_text(
        "from mnistlab.runs.files import read_history\n\n"
        "class RunView:\n    def __init__(self, d):\n        self.rows = read_history(d)\n")
    real = L.modules
    monkeypatch.setattr("test_one_owner.modules", lambda: {**real(), **real(src)})
    assert ("mnistlab.views", "RunView") in run_reading_classes()


def _subpackages():
    return [m for m in modules() if m.count(".") == 1 and (modules()[m].name == "__init__.py")]


def verb_owners() -> dict[tuple[str, str], object]:
    """(subpackage, verb) -> the object, for every fit/evaluate/predict function a subpackage
    exports (a submodule of that name, serve/predict.py, is a noun's part, not a verb)."""
    out = {}
    for pkg in _subpackages():
        module = importlib.import_module(pkg)
        for verb in VERBS:
            if verb in getattr(module, "__all__", ()) or verb in vars(module):
                obj = getattr(module, verb)
                if not inspect.ismodule(obj):
                    out[(pkg, verb)] = obj
    return out


def test_fit_evaluate_predict_have_one_public_owner():
    for (pkg, verb), obj in verb_owners().items():
        if (pkg, verb) in ALIASES:
            new_pkg, new = ALIASES[(pkg, verb)]
            assert obj is getattr(importlib.import_module(new_pkg), new), f"{pkg}.{verb} is no alias of {new}"
            continue
        top = getattr(mnistlab, verb, None)
        assert obj is top, (f"{pkg}.{verb} is a second public {verb}: give it a name that says what it "
                            f"is (as train.train_run, evaluation.split_predictions)")


def test_the_verb_check_sees_a_second_fit(monkeypatch):
    import mnistlab.serve as serve
    monkeypatch.setattr(serve, "fit", lambda *a: None, raising=False)
    assert ("mnistlab.serve", "fit") in verb_owners()
    assert verb_owners()[("mnistlab.serve", "fit")] is not mnistlab.fit


# ---------------------------------------------------------------- one wording table

# Modules whose errors only a command-line user meets (argument handlers and CLI-only tools);
# everywhere else a setting is named through errors.option, which says `device='cpu'` to a
# Python caller and `--device cpu` inside a command.
CLI_ONLY = {
    "mnistlab.reproduce": "the `reproduce` command's argument checks",
    "mnistlab.serve.export": "`mnistlab export` (no Python API)",
    "mnistlab.serve.export_c": "`mnistlab export --format c` (no Python API)",
    "mnistlab.serve.web": "`mnistlab serve` (no Python API)",
    "mnistlab.sweeps.search": "`mnistlab search` (no Python API)",
    "mnistlab.train.recipe": "--set KEY=VALUE is the syntax parse_set reads",
    "mnistlab.data.download": "names the --data-dir flag and $MNISTLAB_DATA together",
}
_FLAG = re.compile(r"(?<![\w`-])--[a-z][a-z-]*")
_ERRORS = {"MnistlabError", "DamagedRunFile", "_damaged", "Diverged", "unknown_key_error"}


def _message_text(call: ast.Call) -> str:
    """The literal text of an error's message, leaving out what errors.option words."""
    parts = []

    def visit(node):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "option":
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts.append(node.value)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(call)
    return " ".join(parts)


def literal_flags(mods: dict) -> list[str]:
    """'module:line --flag' for every command-line flag spelled out in an error message of a
    module a Python caller reaches (a whole quoted command, `mnistlab train --resume D`, is fine)."""
    found = []
    for name, path in mods.items():
        if name.endswith(".commands") or name in ("mnistlab.cli", "mnistlab.__main__") or name in CLI_ONLY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                if getattr(node.exc.func, "id", getattr(node.exc.func, "attr", "")) not in _ERRORS:
                    continue
                text = _message_text(node.exc)
                for m in _FLAG.finditer(text):
                    if not re.search(r"`mnistlab [^`]*$", text[:m.start()]):
                        found.append(f"{name}:{node.lineno} {m.group(0)}")
    return found


def test_python_callers_read_keywords_not_flags():
    assert literal_flags(modules()) == [], "name the setting through errors.option (one wording table)"


def test_the_flag_check_sees_a_literal_flag(tmp_path):
    src = tmp_path / "src"
    (src / "mnistlab").mkdir(parents=True)
    (src / "mnistlab" / "thing.py").write_text(
        "from mnistlab.errors import MnistlabError, option\n"
        "def f():\n    raise MnistlabError('use --device cpu')\n"
        "def g():\n    raise MnistlabError(f\"use {option('device', 'cpu')}\")\n")
    assert literal_flags(modules(src)) == ["mnistlab.thing:3 --device"]
