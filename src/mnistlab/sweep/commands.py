"""CLI commands of this package (registered by mnistlab.cli): sweep, tune.

Each command is one `_add_<name>` function; `register` calls them in order, so a new
command is one more function and one more line there.
"""
from __future__ import annotations


def _add_sweep(sub, common) -> None:
    p = sub.add_parser(
        "sweep", parents=[common],
        help="run a grid of recipe variations, each repeated with its own seed (mean ± std)",
        description="Run a sweep file: every configuration of its grid/list, `repeats` times "
                    "with recorded seeds. Writes results.csv, summary.csv and an error-bar plot. "
                    "Started again, it runs only the trials that are missing (and retries failed "
                    "ones). See docs/sweeps.md.")
    p.add_argument("sweep_file", metavar="SWEEP.yaml")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="trials run in parallel processes; the CPU cores are divided between them")
    p.add_argument("--out", metavar="DIR", help="sweep directory (default: sweeps/<name>)")
    p.add_argument("--no-retry-failed", action="store_true",
                   help="leave trials that failed before as they are")
    p.add_argument("--quiet", action="store_true", help="print no progress or table, only where the results are")
    p.set_defaults(func=_sweep)


def _sweep(args) -> int:
    from mnistlab.sweep.grid import run_sweep

    out = run_sweep(args.sweep_file, out=args.out, workers=args.workers, quiet=args.quiet,
                    retry_failed=not args.no_retry_failed)
    print(f"Sweep saved to {out}")
    return 0


def _add_tune(sub, common) -> None:
    p = sub.add_parser(
        "tune", parents=[common],
        help="tune recipe keys with Optuna (TPE, median pruning); shareable across machines",
        description="Run --trials trials of an Optuna study over the keys of a search space "
                    "file, reporting validation accuracy after each epoch so poor trials are "
                    "pruned. Run the same command in several processes or on several machines "
                    "(with --storage postgresql://...) to share one study. See docs/sweeps.md.")
    p.add_argument("recipe", metavar="RECIPE.yaml")
    p.add_argument("--space", required=True, metavar="SPACE.yaml", help="search space file")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="trials this process runs (0: only write the results of the study)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna RDB storage URL (default: SQLite file study.db in the study directory)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the recipe name)")
    p.add_argument("--out", metavar="DIR", help="study directory (default: studies/<study>)")
    p.add_argument("--metric", default="max_val_accuracy",
                   choices=["max_val_accuracy", "val_accuracy", "min_val_loss", "val_loss"],
                   help="objective, measured on the validation split (default: max_val_accuracy)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    p.add_argument("--pruner", default="median", choices=["median", "none"])
    p.add_argument("--seed", type=int, help="sampler seed (leave unset when several processes share a study)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_tune)


def _tune(args) -> int:
    from mnistlab.sweep.tune import tune

    out = tune(args.recipe, args.space, trials=args.trials, storage=args.storage,
               study=args.study, out=args.out, metric=args.metric, sampler=args.sampler,
               pruner=args.pruner, seed=args.seed, quiet=args.quiet)
    print(f"Study results in {out}")
    return 0


def register(sub, common) -> None:
    """Add this package's subcommands: sub.add_parser(NAME, parents=[common], help=...)."""
    _add_sweep(sub, common)
    _add_tune(sub, common)
