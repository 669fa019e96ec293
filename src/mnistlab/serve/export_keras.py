"""`mnistlab export RUN --format keras` and `Run.to_keras(path)`: the run's model as a Keras 3
`.keras` file (models/keras/write.py; no Keras needed to write it)."""
from __future__ import annotations

from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.runs import open_run


def export_run_keras(run_dir, out=None, *, run=None) -> Path:
    """Write RUN_DIR/model.keras (or `out`); `run` lends its already loaded model."""
    from mnistlab.models import resolve_spec
    from mnistlab.models.keras import write_keras
    run = run if run is not None else open_run(run_dir)
    model = run.config.get("model")
    if isinstance(model, dict) and "torch_module" in model:
        raise MnistlabError(f"this run was trained on your own torch module {model['torch_module']}, which has no "
                            "Keras equivalent; the Keras export takes runs of a model spec or zoo model")
    path = Path(out) if out is not None else Path(run_dir) / "model.keras"
    write_keras(path, resolve_spec(model), run.model)
    return path
