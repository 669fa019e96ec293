"""`mnistlab reproduce NOTEBOOK`: run a notebook's experiments end to end (issue 7).

notebooks.py holds what each notebook did and reported, runner.py runs it through
mnistlab.train / mnistlab.sweep, table.py writes the notebook-vs-ours table, fashion5.py
rebuilds notebook 004's 5-class data file.
"""
from __future__ import annotations


def register(sub, common) -> None:
    p = sub.add_parser(
        "reproduce", parents=[common],
        help="run one notebook's experiments and write a notebook-vs-ours table",
        description="Run every experiment of notebook 000-004 with its exact settings "
                    "(recipes/nb*.yaml) and write reproduce/<nb>/<quick|full>/table.md.")
    p.add_argument("notebook", help="000, 001, 002, 003 or 004")
    p.add_argument("--quick", action="store_true",
                   help="1 epoch on 512 images per experiment (for CI: wiring and exact "
                        "parameter counts, not accuracy)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="seeds per experiment (default: 3, or 1 for the long ones; see docs/reproduce.md)")
    p.add_argument("--only", nargs="+", metavar="EXPERIMENT",
                   help="run only these rows (chain steps pull in the steps they continue)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: reproduce/<nb>)")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    from pathlib import Path

    from mnistlab.errors import MnistlabError
    from mnistlab.reproduce import runner, table

    nb = args.notebook.zfill(3)
    if args.seeds is not None and args.seeds < 1:
        raise MnistlabError(f"--seeds must be at least 1, got {args.seeds}")
    results, seconds = runner.run_notebook(nb, quick=args.quick, out=args.out,
                                           seeds=args.seeds, only=args.only)
    summaries = [table.summary(r) for r in results]
    text = table.markdown(nb, summaries, quick=args.quick, total_seconds=seconds)
    out_dir = Path(args.out or f"reproduce/{nb}") / ("quick" if args.quick else "full")
    path = table.write(out_dir, text, summaries)
    print(text)
    print(f"table written to {path}")
    bad = [s["experiment"] for s in summaries if not s["params_equal"]]
    if bad:
        print(f"parameter counts differ from the notebook for: {', '.join(bad)}")
        return 1
    return 0
