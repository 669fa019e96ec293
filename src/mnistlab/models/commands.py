"""CLI: `mnistlab summary SPEC_OR_ZOO_NAME [--json] [--max-params N]`, `mnistlab models list|show`."""
from __future__ import annotations

from mnistlab.models.costs import add_budget_arguments


def register(sub, common) -> None:
    p = sub.add_parser("summary", parents=[common],
                       help="Keras-style summary of a model: shapes, parameters, MACs, weight bytes")
    p.add_argument("model", metavar="SPEC_OR_ZOO_NAME", help="zoo name (see `mnistlab models list`) or YAML spec path")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_budget_arguments(p)
    p.set_defaults(func=_summary)

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
