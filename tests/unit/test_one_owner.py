"""One name, one thing (issue 28): one class reads a run folder, and the verbs fit / evaluate /
predict have one public owner each. Checked on the source with `ast` (the reader rule) and
on the packages' public names (the verb rule)."""
from __future__ import annotations

import ast
import importlib

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
    """(subpackage, verb) -> the object, for every fit/evaluate/predict a subpackage exports."""
    out = {}
    for pkg in _subpackages():
        module = importlib.import_module(pkg)
        for verb in VERBS:
            if verb in getattr(module, "__all__", ()) or verb in vars(module):
                out[(pkg, verb)] = getattr(module, verb)
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
