"""CLI: `mnistlab summary SPEC_OR_ZOO_NAME [--json] [--max-params N]`, `mnistlab models list|show`,
`mnistlab import KERAS_FILE [--out RECIPE.yaml]`."""
from __future__ import annotations

from mnistlab.models.costs import add_budget_arguments


def register(sub, common) -> None:
    p = sub.add_parser("summary", parents=[common],
                       help="Keras-style summary of a model: shapes, parameters, MACs, weight bytes")
    p.add_argument("model", metavar="SPEC_OR_ZOO_NAME", help="zoo name (see `mnistlab models list`) or YAML spec path")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_budget_arguments(p)
    p.set_defaults(func=_summary)

    imp = sub.add_parser("import", parents=[common],
                         help="a Keras model file (.keras, legacy .h5, model.to_json()) as a recipe: its layers "
                              "as the spec, its compile() as optimizer and loss")
    imp.add_argument("keras_file", metavar="KERAS_FILE")
    imp.add_argument("--out", metavar="RECIPE", help="write the recipe YAML here (default: print it)")
    imp.add_argument("--input-shape", metavar="H,W,C", help="for a model saved before it was built (no input shape)")
    imp.set_defaults(func=_import)

    models = sub.add_parser("models", parents=[common], help="the notebooks' model zoo")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = msub.add_parser("list", parents=[common], help="list zoo models with their parameter counts")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    ls.set_defaults(func=_list)
    show = msub.add_parser("show", parents=[common], help="print a model's resolved spec as YAML (to copy and edit)")
    show.add_argument("model", metavar="SPEC_OR_ZOO_NAME")
    show.set_defaults(func=_show)


def _summary(args) -> int:
    from mnistlab.models import check_budget, summary
    from mnistlab.models.keras import is_keras_file, read_keras
    if is_keras_file(args.model):
        args.model = read_keras(args.model).spec
    s = summary(args.model)
    print(s.to_json() if args.json else s)
    check_budget(args.model, args.max_params, max_macs=args.max_macs, max_ram_bytes=args.max_ram_bytes,
                 max_flash_bytes=args.max_flash_bytes)
    return 0


def _list(args) -> int:
    import json

    from mnistlab.models import list_models
    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows) + 2
    print(f"{'name'.ljust(width)}{'params':>10}  note")
    for r in rows:
        print(f"{r['name'].ljust(width)}{r['params']:>10,}  {r['note']}")
    return 0


def _show(args) -> int:
    import yaml

    from mnistlab.models import resolve_spec
    print(yaml.safe_dump(resolve_spec(args.model), sort_keys=False, default_flow_style=None), end="")
    return 0


def _import(args) -> int:
    import sys

    import yaml

    from mnistlab.errors import MnistlabError
    from mnistlab.io import write_atomic
    from mnistlab.models.keras import read_keras
    from mnistlab.train.recipe import load_recipe
    shape = None
    if args.input_shape:
        try:
            shape = [int(d) for d in args.input_shape.split(",")]
        except ValueError:
            raise MnistlabError(f"--input-shape {args.input_shape!r}: give H,W,C, e.g. 28,28,1") from None
    imported = read_keras(args.keras_file, input_shape=shape)
    settings = imported.recipe_settings()
    recipe = {"name": imported.spec["name"], "model": imported.spec}
    if "optimizer" in settings:
        recipe["optimizer"] = settings["optimizer"]
    if "label_smoothing" in settings:
        recipe["loss"] = {"label_smoothing": settings["label_smoothing"]}
    load_recipe(recipe)  # checked like any recipe before it is written
    text = yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None)
    if args.out:
        write_atomic(args.out, text)
        print(f"Recipe: {args.out}  (mnistlab train {args.out})")
    else:
        print(text, end="")
    if imported.has_weights:
        print("note: a recipe holds the architecture and compile settings, so `mnistlab train` starts from a fresh "
              f"initialisation; to start from the file's weights, mnistlab.fit({args.keras_file!r}, x, y, ...)",
              file=sys.stderr)
    return 0
