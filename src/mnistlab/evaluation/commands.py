"""CLI: `mnistlab eval`, `report`, `runs` and `compare` (registered by mnistlab.cli)."""
from __future__ import annotations

import json

# predictions.SPLITS, spelled out: importing predictions here would load numpy and
# scikit-learn for every CLI command (tests/unit/test_evaluate_run.py keeps the two equal)
CLI_SPLITS = ["test", "val", "train", "train+val"]


def register(sub, common) -> None:
    p = sub.add_parser("eval", parents=[common], help="evaluate a run's saved model on a split",
                       description="Loss, accuracy, per-class accuracy, confusion matrix, classification "
                                   "report and most frequent confusions, in the dataset's original labels.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", choices=CLI_SPLITS, default="test",
                   help="which part of the data, split exactly as the run split it; train+val: "
                        "every image the run trained or validated on (default: test)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", parents=[common], help="write RUN_DIR/report.html (and plots/)",
                       description="One self-contained HTML page: config, model summary, curves, metrics, "
                                   "confusion matrix, classification report, misclassified samples.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", choices=CLI_SPLITS, default="test",
                   help="the split behind the confusion matrix and samples (default: test)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("runs", parents=[common], help="list runs: model, params, epochs, accuracy, time")
    p.add_argument("dir", metavar="DIR", nargs="?", default="runs", help="folder of runs (default: runs)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("compare", parents=[common], help="side-by-side metrics and overlaid curves of runs")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--out", default="compare.png", help="where the overlaid curves go (default: compare.png)")
    p.set_defaults(func=cmd_compare)


def cmd_eval(args) -> int:
    from mnistlab.evaluation.predictions import run_metrics
    from mnistlab.evaluation.metrics import format_metrics

    m = run_metrics(args.run_dir, args.split)
    if args.json:
        print(json.dumps(m, indent=2))
    else:
        print(format_metrics(m, title=f"{args.run_dir} ({args.split} split)"))
    return 0


def cmd_report(args) -> int:
    from mnistlab.evaluation.report import write_report

    print(write_report(args.run_dir, split=args.split))
    return 0


def cmd_runs(args) -> int:
    from mnistlab.evaluation.compare import format_table, runs_table
    from mnistlab.evaluation.runfiles import find_runs

    dirs = find_runs(args.dir)
    if not dirs:
        print(f"no runs in {args.dir}")
        return 0
    rows = runs_table(dirs)
    print(format_table(rows))
    for row in rows:  # an unfinished run: being trained now, or how to resume it
        if row.get("status"):
            print(f"{row['name']}: {row['status']}")
    return 0


def cmd_compare(args) -> int:
    from mnistlab.evaluation.compare import compare

    table, png = compare(args.run_dirs, args.out)
    print(table)
    print(f"curves: {png}")
    return 0
